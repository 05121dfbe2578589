"""The reports the kit writes under reports/ (git-ignored) as typed values:
build records and test reports. Where they live and how they are written and
read back is envkit.core.report_files."""

from __future__ import annotations

from dataclasses import dataclass, field

from envkit.core.validation import STRICT


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

    def versions(self) -> dict[str, str]:
        """The versions a release states (its labels, its provenance): "none" for what is not installed."""
        return {
            "torch": self.torch,
            "torchvision": self.torchvision,
            "torchaudio": self.torchaudio or "none",
            "cuda": self.cuda_compiled or "none",
            "cudnn": self.cudnn or "none",
            "python": self.python,
            "os": self.os,
        }


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
