"""`invoke build`: one variant's image from its pinned recipe, with BuildKit."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from envkit import ROOT, engine, proc, provenance
from envkit.errors import CommandFailed
from envkit.settings import Settings
from envkit.variants import Variant

_PULL_FAILURES = (
    "pull access denied",
    "failed to resolve source metadata",
    "failed to do request",
    "not found",
    "no such host",
)


# What a build reads from the checkout (.dockerignore admits no more).
CONTEXT_PARTS = ("env", "docker", "examples", ".dockerignore")


def copy_context(destination: Path) -> Path:
    """A copy of the build context, to build an edited checkout beside the real one."""
    for part in CONTEXT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part)
        else:
            shutil.copy2(source, destination / part)
    return destination


def image_tag(variant: Variant, settings: Settings) -> str:
    return f"{settings.image_name}:{variant.name}"


def base_image_of(variant: Variant, settings: Settings) -> str:
    """--base-image (or envkit.base_image) if set, else the recipe's digest-pinned base."""
    return settings.base_image or variant.base_image


def build_args(variant: Variant, base_image: str, origin: provenance.Provenance) -> dict[str, str]:
    """Every ARG of docker/<recipe>.Dockerfile, from the variant's data."""
    args = {
        "BASE_IMAGE": base_image,
        "TORCH_VERSION": variant.torch,
        "TORCHVISION_VERSION": variant.torchvision,
        "TORCHAUDIO_VERSION": variant.torchaudio,
        "PYTHON_VERSION": variant.python,
        "CUDA_VERSION": variant.cuda or "",
        "VARIANT": variant.name,
        "RECIPE": variant.recipe,
        "PLATFORM": variant.platform,
        "SOURCE": origin.source,
        "REVISION": origin.revision,
        "CREATED": origin.created,
    }
    if variant.recipe == "pip":
        args["REQUIREMENTS"] = variant.file
        args["REQUIRE_HASHES"] = "true" if variant.hash_locked else "false"
    else:
        args["ENVIRONMENT"] = variant.file
        args["CONDA_OVERRIDE_CUDA"] = variant.cuda or ""
    return args


def build_command(
    builder: engine.Builder,
    variant: Variant,
    settings: Settings,
    origin: provenance.Provenance,
    iidfile: Path,
    no_cache: bool = False,
    context: Path = ROOT,
) -> list[str]:
    # Plain progress: the output is streamed through us, and kept for errors.
    argv = [
        *builder.prefix,
        "--file",
        str(context / variant.dockerfile),
        "--tag",
        image_tag(variant, settings),
        "--iidfile",
        str(iidfile),
        "--progress",
        "plain",
    ]
    for key, value in build_args(variant, base_image_of(variant, settings), origin).items():
        argv += ["--build-arg", f"{key}={value}"]
    ca_cert = settings.ca_cert_path()
    if ca_cert:
        argv += ["--secret", f"id=ca,src={ca_cert}"]
    if no_cache:
        argv.append("--no-cache")
    argv.append(str(context))
    return argv


def lock_note(variant: Variant) -> str:
    """The one line a build of a recipe without hashes prints."""
    if variant.hash_locked:
        return ""
    if variant.recipe == "pip":
        how = (
            f"uv pip compile <inputs> --generate-hashes --python-version {variant.python} "
            f"--index-url {variant.index_url} where that index is reachable"
        )
    else:
        how = f"conda-lock -f {variant.file} -p linux-64 where the conda channels are reachable"
    return f"note: {variant.file} pins every package exactly but is not hash-locked; lock it with: {how}"


@dataclass(frozen=True)
class BuildResult:
    variant: str
    tag: str
    image_id: str
    size_bytes: int
    seconds: float
    finished_at: str
    base_image: str
    revision: str

    def summary(self) -> str:
        return f"built {self.tag}  {self.image_id[:19]}  {self.size_bytes / 1e9:.2f} GB  in {self.seconds:.1f} s"


def build(variant: Variant, settings: Settings, no_cache: bool = False, context: Path = ROOT) -> BuildResult:
    """Build and tag the variant from the checkout at `context`. Checks flags,
    client and daemon before any build starts; on failure the previous image
    keeps its tag."""
    settings.ca_cert_path()
    builder = engine.find_builder(settings.docker_client)
    client = engine.connect()
    origin = provenance.current(settings.source_url)
    base_image = base_image_of(variant, settings)
    note = lock_note(variant)
    if note:
        print(note)
    with tempfile.TemporaryDirectory(prefix="envkit-build-") as scratch:
        iidfile = Path(scratch) / "iid"
        argv = build_command(builder, variant, settings, origin, iidfile, no_cache, context)
        started = time.monotonic()
        try:
            proc.stream(argv, env=builder.env)
        except CommandFailed as failure:
            raise _explained(failure, base_image, settings) from None
        seconds = time.monotonic() - started
        image_id = iidfile.read_text().strip()
    image = client.images.get(image_id)
    result = BuildResult(
        variant=variant.name,
        tag=image_tag(variant, settings),
        image_id=image_id,
        size_bytes=int(image.attrs["Size"]),
        seconds=round(seconds, 1),
        finished_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        base_image=base_image,
        revision=origin.revision,
    )
    _record(result, settings)
    return result


def _explained(failure: CommandFailed, base_image: str, settings: Settings) -> CommandFailed:
    """Add the likely fix when the base image could be neither found nor pulled."""
    output = failure.tail.lower()
    if base_image.split("@")[0].split(":")[0] in output and any(s in output for s in _PULL_FAILURES):
        return CommandFailed(
            failure.argv,
            failure.returncode,
            failure.tail,
            streamed=True,
            hint=(
                f"The base image {base_image} is neither local nor pullable. Where no registry is in "
                "reach, build one with `invoke base` and pass --base-image "
                f"{settings.base_image_tag()}."
            ),
        )
    return failure


def _record(result: BuildResult, settings: Settings) -> None:
    """Keep what the build measured; `invoke test` and later publishing read it."""
    folder = settings.reports_path / "builds"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{result.variant}.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
