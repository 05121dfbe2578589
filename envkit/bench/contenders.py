"""The two images `invoke bench` builds side by side: the kit's, from the
variant's lock and docker/pip.Dockerfile, and the baseline, from
benchmarks/baseline.Dockerfile (one RUN of `pip install torch torchvision
torchaudio`), on the same base, with the same versions and indexes. Each
builds from a checkout (a copy, for the edited builds) and can apply the
same one-pin change in its own way: the kit in its lock, the baseline on its
install line."""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from envkit import ROOT
from envkit.catalog.variants import Variant
from envkit.core import capabilities, engine, proc
from envkit.core.errors import KitError
from envkit.core.settings import Settings
from envkit.images import build, plan
from envkit.images.context import copy_context
from envkit.recipes import indexes

BASELINE_DOCKERFILE = ROOT / "benchmarks" / "baseline.Dockerfile"
BENCH_IMAGE = "torch-env-bench"  # every image the bench makes is tagged torch-env-bench:*


@dataclass(frozen=True)
class OnePin:
    """A one-pin change: `name` from the locked version to another released one."""

    name: str
    locked: str
    version: str
    sha256: str

    def applied_to(self, lock_text: str) -> str:
        """The lock with this package's entry (version and hashes) replaced."""
        entry = re.compile(
            rf"^{re.escape(self.name)}=={re.escape(self.locked)}[ \t]*(?:\\\n(?:[ \t]+--hash=\S+[ \t]*\\?\n)*)?",
            re.MULTILINE | re.IGNORECASE,
        )
        changed, count = entry.subn(f"{self.name}=={self.version} \\\\\n    --hash=sha256:{self.sha256}\n", lock_text)
        if count != 1:
            raise KitError(f"the lock has no entry {self.name}=={self.locked} to change")
        return changed


@dataclass(frozen=True)
class Built:
    image_id: str
    seconds: float
    export_seconds: float


def edited_examples(folder: Path) -> None:
    """One example changed, as a team edits its code between builds."""
    with (folder / "examples" / "concepts.py").open("a") as handle:
        handle.write(f"\n# edited by invoke bench at {time.time()}\n")


class Kit:
    name = "kit"

    def __init__(self, variant: Variant, settings: Settings) -> None:
        self.variant = variant
        self.settings = settings  # image_name torch-env-bench, reports in the bench's scratch folder

    def build(self, context: Path = ROOT, one_pin: OnePin | None = None) -> Built:
        if one_pin is not None:
            lock = context / self.variant.lock_file
            lock.write_text(one_pin.applied_to(lock.read_text()))
        record = build.build_image(self.variant, self.settings, context=context)
        return Built(record.image_id, record.seconds, record.export_seconds)


class Baseline:
    name = "baseline"

    def __init__(self, variant: Variant, settings: Settings) -> None:
        self.variant = variant
        self.settings = settings

    def build_args(self, one_pin: OnePin | None) -> dict[str, str]:
        args = {
            "BASE_IMAGE": plan.make(self.variant, self.settings).base_image,
            "TORCH_VERSION": self.variant.torch,
            "TORCHVISION_VERSION": self.variant.torchvision,
            "TORCHAUDIO_VERSION": self.variant.torchaudio,
            "PINS": f"{one_pin.name}=={one_pin.version}" if one_pin else "",
        }
        chosen = indexes.effective(self.variant, self.settings)
        args["INDEX_URL"] = chosen.index_url
        args["EXTRA_INDEX_URL"] = " ".join(chosen.extra_index_urls)
        return args

    def build(self, context: Path = ROOT, one_pin: OnePin | None = None) -> Built:
        builder = capabilities.builder_for(engine.connect(), self.settings.docker_client)
        with tempfile.TemporaryDirectory(prefix="envkit-bench-baseline-") as scratch:
            iidfile = Path(scratch) / "iid"
            argv = [*builder.command(), "--file", str(BASELINE_DOCKERFILE), *builder.id_args(iidfile)]
            argv += ["--tag", f"{BENCH_IMAGE}:{self.variant.name}-baseline", "--progress", "plain"]
            for key, value in self.build_args(one_pin).items():
                argv += ["--build-arg", f"{key}={value}"]
            if ca_cert := self.settings.ca_cert:
                argv += ["--secret", f"id=ca,src={ca_cert}"]
            started = time.monotonic()
            output = proc.stream([*argv, str(context)], env=builder.env)
            seconds = time.monotonic() - started
            return Built(builder.built_id(iidfile), round(seconds, 1), build.export_seconds(output))


def bench_settings(settings: Settings, scratch: Path) -> Settings:
    """The user's settings, but the bench's own image name and reports: its
    builds never retag the user's images or overwrite their build records."""
    return replace(settings, image_name=BENCH_IMAGE, reports_dir=str(scratch / "reports"))


def context_copy(scratch: Path, name: str) -> Path:
    return copy_context(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch)))
