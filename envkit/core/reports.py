"""The files under reports/ (git-ignored): build records, test reports,
manifests, verify-repro results and publish records. This module owns their
paths, writes each atomically (a temporary file in the same folder, then a
rename: a crash or Ctrl-C never leaves half a file, and two tasks at once
never interleave), and reads each back through a validating loader."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from envkit import ROOT
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.core.validation import STRICT, read_json


def display(path: Path) -> str:
    """A path as the user would type it: relative to the checkout when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def build_record_path(settings: Settings, variant: str) -> Path:
    return settings.reports_path / "builds" / f"{variant}.json"


def test_report_path(settings: Settings, variant: str) -> Path:
    """The latest test report of a variant: what `invoke publish` gates on."""
    return settings.reports_path / "tests" / f"{variant}.json"


def manifest_path(settings: Settings, variant: str, image_id: str) -> Path:
    return settings.reports_path / "manifests" / f"{variant}-{image_id.split(':')[-1][:12]}.md"


def sbom_path(settings: Settings, variant: str, image_id: str) -> Path:
    """Beside the manifest, named like it."""
    return manifest_path(settings, variant, image_id).with_suffix(".cdx.json")


def repro_path(settings: Settings, variant: str) -> Path:
    return settings.reports_path / "repro" / f"{variant}.json"


def publish_path(settings: Settings, variant: str) -> Path:
    return settings.reports_path / "publish" / f"{variant}.json"


def check_writable(settings: Settings) -> None:
    """Fail before any build or test starts if reports cannot be written."""
    folder = settings.reports_path
    existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"reports_dir {display(folder)}: {display(existing)} is not a writable folder. "
            "Set envkit.reports_dir (or INVOKE_ENVKIT_REPORTS_DIR) to one that is."
        )


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def write_atomically(path: Path, text: str) -> Path:
    """Write the whole file or nothing: a temporary file beside it, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600: give it the mode the file had, else what the umask allows,
        # so that a pins file or a lock stays readable by the rest of the team.
        os.chmod(temporary, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask())
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


def write_json(path: Path, record: Any) -> Path:
    return write_atomically(path, json.dumps(asdict(record), indent=2) + "\n")


@dataclass(frozen=True)
class BuildRecord:
    """What `invoke build` measured; the publish gate and the manifest read it."""

    __pydantic_config__ = STRICT
    variant: str
    tag: str
    image_id: str
    size_bytes: int  # 0: not known yet (see engine.unpacked_size)
    seconds: float
    finished_at: str
    base_image: str
    revision: str
    recipe: str = ""
    recipe_inputs: str = ""  # the lock's record of its inputs
    offline: bool = False  # built from a wheelhouse, with no network
    export_seconds: float = 0.0  # of `seconds`, BuildKit writing the layers into the engine

    def summary(self) -> str:
        size = f"{self.size_bytes / 1e9:.2f} GB" if self.size_bytes else "size known at its first run"
        return f"built {self.tag}  {self.image_id[:19]}  {size}  in {self.seconds:.1f} s"


def build_record_of(settings: Settings, variant: str, image_id: str) -> BuildRecord | None:
    """The build record of this very image, if this machine built it."""
    path = build_record_path(settings, variant)
    if not path.is_file():
        return None
    record = read_json(path, BuildRecord, display(path), _rerun("build"))
    return record if record.image_id == image_id else None


@dataclass(frozen=True)
class CheckRow:
    """One check's result in a test report."""

    __pydantic_config__ = STRICT
    name: str
    passed: bool
    detail: str
    seconds: float = 0.0
    # The check does not apply to this variant (the detail says why, from env/): it
    # neither passes nor fails, and it is shown as n/a, never left out.
    not_applicable: bool = False

    @property
    def verdict(self) -> str:
        return "n/a" if self.not_applicable else "pass" if self.passed else "FAIL"


@dataclass(frozen=True)
class Measured:
    """What examples/verify_install.py measured inside the image."""

    __pydantic_config__ = STRICT
    torch: str
    torchvision: str
    torchaudio: str | None  # None: not installed (a line with no torchaudio release)
    python: str
    os: str
    cuda_compiled: str | None
    cuda_available: bool
    cuda_unavailable_reason: str | None
    cudnn: str | None
    cudnn_raw: int | None
    gpu_count: int
    gpu_names: tuple[str, ...]
    machine: str = ""  # platform.machine(): x86_64, aarch64 ("" in reports from before it was measured)
    # torch.cuda.get_arch_list(): sm_90, compute_90; () for a CPU build, None from
    # an image whose examples/verify_install.py predates the measurement
    cuda_archs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Facts:
    """What the environment check measured, plus the image's revision label."""

    __pydantic_config__ = STRICT
    revision: str = ""
    recipe: str = ""
    recipe_file: str = ""
    recipe_sha256: str = ""
    packages: tuple[str, ...] = ()
    debian_packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostGpu:
    __pydantic_config__ = STRICT
    name: str
    driver: str
    compute_cap: str = ""  # "9.0"; "" where the driver is too old to report it (before R510)


@dataclass(frozen=True)
class Host:
    __pydantic_config__ = STRICT
    gpus: tuple[HostGpu, ...]
    docker: str


@dataclass(frozen=True)
class TestReport:
    """What `invoke test` ran and measured: the only source of tags, labels and
    the publish gate's decision."""

    __test__ = False  # a report, not a test class for pytest to collect
    __pydantic_config__ = STRICT
    variant: str
    image: str
    image_id: str
    image_created: str
    gpus: str
    host: Host
    started_at: str
    image_size: int = 0
    seconds: float = 0.0
    measured: Measured | None = None  # None when verify_install failed
    facts: Facts = field(default_factory=Facts)
    checks: tuple[CheckRow, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)  # only when every check passed
    kit_revision: str = ""
    passed: bool = False  # every check passed (testrun sets it from the checks)

    @property
    def failed_checks(self) -> list[str]:
        return [check.name for check in self.checks if not check.passed]


def read_test_report(settings: Settings, variant: str) -> TestReport | None:
    path = test_report_path(settings, variant)
    if not path.is_file():
        return None
    return read_json(path, TestReport, display(path), _rerun("test"))


def _rerun(task: str) -> str:
    return f"It is not a report this kit wrote (or a crash cut it short): delete it and run `invoke {task}` again."
