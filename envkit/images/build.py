"""`invoke build`: one variant's image from its pinned recipe, with BuildKit."""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import docker
import requests

from envkit import ROOT
from envkit.catalog.variants import Variant
from envkit.core import capabilities, engine, proc, provenance
from envkit.core.errors import CommandFailed, KitError, UsageError
from envkit.core.report_files import build_record_path, check_writable, write_json
from envkit.core.reports import BuildRecord
from envkit.core.settings import Settings
from envkit.images import dev, emulation, plan
from envkit.images.wheelhouse import check_wheelhouse, wheelhouse_context

_PULL_FAILURES = (
    "pull access denied",
    "failed to resolve source metadata",
    "failed to do request",
    "not found",
    "no such host",
)


def image_tag(variant: Variant, settings: Settings) -> str:
    return f"{settings.image_name}:{variant.name}"


def build_command(
    builder: engine.Builder,
    build_plan: plan.Plan,
    settings: Settings,
    origin: provenance.Provenance,
    iidfile: Path,
    no_cache: bool = False,
    context: Path = ROOT,
    emulated: bool = False,
    archive: Path | None = None,
) -> list[str]:
    """`archive`: export an OCI archive there with layer times rewritten (the containerd store's way to
    identical digests) instead of loading the image."""
    # Plain progress: the output is streamed through us, and kept for errors.
    argv = [
        *(builder.archive_command(archive) if archive else builder.command()),
        "--file",
        str(context / build_plan.variant.dockerfile),
        "--tag",
        image_tag(build_plan.variant, settings),
        *builder.id_args(iidfile),
        "--progress",
        "plain",
    ]
    for key, value in plan.build_args(build_plan, origin).items():
        argv += ["--build-arg", f"{key}={value}"]
    if builder.reproducible or archive:  # BuildKit's own argument: image and layer times become the commit's
        argv += ["--build-arg", f"SOURCE_DATE_EPOCH={origin.epoch}"]
    argv += cache_args(builder, build_plan.variant, settings)
    ca_cert = settings.ca_cert
    if ca_cert:
        argv += ["--secret", f"id=ca,src={ca_cert}"]
    if build_plan.wheelhouse:  # the proof that it needs no network
        argv += ["--network", "none"]
    if emulated:  # another architecture than the engine's: BuildKit runs its steps under QEMU
        argv += ["--platform", build_plan.variant.docker_platform]
    if no_cache:
        argv.append("--no-cache")
    argv.append(str(context))
    return argv


def check_base_arch(client: docker.DockerClient, build_plan: plan.Plan) -> None:
    """A base image here of another architecture than the variant's would be
    pulled over or built on wrongly: say which base to use instead."""
    variant = build_plan.variant
    base = engine.local_image(client, build_plan.base_image)
    if base is None or base.attrs.get("Architecture") in (None, "", variant.arch):
        return
    raise UsageError(
        f"--base-image {build_plan.base_image} is linux/{base.attrs['Architecture']}, and {variant.name} is "
        f"{variant.docker_platform}: give a base of its architecture (`invoke base --arch {variant.arch}` makes one)."
    )


def check_build_cache(builder: engine.Builder, settings: Settings) -> None:
    """A cache outside the builder (envkit.build_cache) is one this builder can use."""
    if settings.build_cache and not builder.is_buildx:
        raise UsageError(
            f"--build-cache {settings.build_cache}: a cache outside the builder needs docker buildx, and "
            f"{builder.description} is not; install the buildx plugin or leave envkit.build_cache empty."
        )


def cache_args(builder: engine.Builder, variant: Variant, settings: Settings) -> list[str]:
    """BuildKit's cache kept outside the builder (envkit.build_cache), one
    entry per variant, so that a fresh CI runner starts warm."""
    if not settings.build_cache:
        return []
    check_build_cache(builder, settings)
    if settings.build_cache == "gha":
        where = f"type=gha,scope={variant.name}"
    else:
        where = f"type=registry,ref={settings.build_cache}:{variant.name}"
    return ["--cache-from", where, "--cache-to", f"{where},mode=max"]


# Loading a CUDA image's archive (about 3 GB, unpacked into the store as it comes) takes minutes, not the
# SDK's 30 s.
LOAD_SECONDS = 1800


def _load(archive: Path) -> None:
    """Load the OCI archive a reproducible build wrote; it is tagged as built (the archive names the image)."""
    loader = engine.connect(timeout=LOAD_SECONDS)
    try:
        with archive.open("rb") as tarball:
            loader.images.load(tarball)
    except (docker.errors.APIError, requests.exceptions.RequestException) as error:
        raise KitError(f"loading the built image's archive into the engine failed: {error}") from None
    finally:
        loader.close()


def build_image(
    variant: Variant,
    settings: Settings,
    no_cache: bool = False,
    context: Path = ROOT,
    wheelhouse: Path | None = None,
    reproducible: bool = False,
    origin: provenance.Provenance | None = None,
) -> BuildRecord:
    """Build and tag the variant from the checkout at `context` (or, with a
    wheelhouse, with no network at all). Checks flags, recipe, client and
    daemon before any build starts; on failure the previous image keeps its tag.
    `reproducible`: on the containerd store, through an OCI archive with layer
    times rewritten, then loaded (slower: for verify-repro). `origin`: the
    provenance to build from, where builds must share one (a dirty tree's is
    the time it is read); by default the checkout's now."""
    check_writable(settings)
    runtime = None
    if variant.dev:
        if wheelhouse is not None:
            raise UsageError("--wheelhouse: a dev image installs its layer from PyPI; leave out --dev or --wheelhouse.")
        build_plan = plan.make_dev(variant, settings, image_tag(variant.runtime, settings))
        runtime = dev.tested_runtime(variant, build_plan.base_image, settings, engine.connect())
        build_plan = dataclasses.replace(build_plan, runtime_image_id=str(runtime.id))
    else:
        build_plan = plan.make(variant, settings, wheelhouse)
    if wheelhouse is not None:
        check_wheelhouse(wheelhouse, build_plan)
    builder = engine.find_builder(settings.docker_client)
    check_build_cache(builder, settings)
    client = engine.connect()
    builder = capabilities.configure(builder, client)
    native = emulation.engine_arch(client)
    if problem := emulation.emulator_problem(variant.arch, native):
        raise UsageError(f"{variant.name}: {problem}")
    check_base_arch(client, build_plan)
    engine.check_free_disk(client, variant.disk_gb(builder.store), f"building {variant.name}")
    origin = origin or provenance.current(settings.source_url)
    if build_plan.note():
        print(build_plan.note())
    with tempfile.TemporaryDirectory(prefix="envkit-build-") as scratch:
        if wheelhouse is not None:
            context = wheelhouse_context(context, wheelhouse, Path(scratch) / "context")
        iidfile = Path(scratch) / "iid"
        emulated = variant.arch != native
        archive = Path(scratch) / "image.tar" if reproducible and builder.archive_reproducible else None
        argv = build_command(builder, build_plan, settings, origin, iidfile, no_cache, context, emulated, archive)
        started = time.monotonic()
        try:
            output = proc.stream(argv, env=builder.env)
            if archive is not None:
                _load(archive)
        except CommandFailed as failure:
            raise _explained(failure, build_plan, settings) from None
        seconds = time.monotonic() - started
        image_id = builder.built_id(iidfile)
    image = client.images.get(image_id)
    if runtime is not None:
        dev.check_layered(image, runtime)
    result = BuildRecord(
        variant=variant.name,
        tag=image_tag(variant, settings),
        image_id=image_id,
        size_bytes=engine.unpacked_size(client, image),
        seconds=round(seconds, 1),
        finished_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        base_image=build_plan.base_image,
        revision=origin.revision,
        recipe=build_plan.recipe_file,
        recipe_inputs=build_plan.recipe_inputs,
        offline=wheelhouse is not None,
        export_seconds=export_seconds(output),
    )
    write_json(settings, build_record_path(settings, variant.name), result)
    return result


def _explained(failure: CommandFailed, build_plan: plan.Plan, settings: Settings) -> CommandFailed:
    """The failing step and its last lines (the streamed output may be long),
    then the likely fix where the kit knows one."""
    output = failure.tail.lower()
    base_image = build_plan.base_image
    hint = ""
    if base_image.split("@")[0].split(":")[0] in output and any(s in output for s in _PULL_FAILURES):
        hint = (
            f"The base image {base_image} is neither local nor pullable. Where no registry is in reach, "
            f"build one with `invoke base` and pass --base-image {settings.base_image_tag()}."
        )
    elif "hash mismatch" in output or "do not match the hashes" in output:
        hint = (
            f"A package does not match its hash in {build_plan.recipe_file}: the recipe was edited by hand, "
            "or the index serves other files than it did when it was locked. Lock it again with "
            f"`invoke lock {build_plan.variant.flags()}` (its hashes are read from the index) "
            "and review the change."
        )
    elif "certificate_verify_failed" in output or "invalid peer certificate" in output:
        hint = (
            "A TLS certificate was not trusted inside the build: behind a TLS-inspecting proxy, pass the bundle "
            "that holds its CA with --ca-cert (e.g. /etc/ssl/certs/ca-certificates.crt)."
        )
    elif any(sign in output for sign in _DAEMON_GONE) or not engine.answers():
        hint = (
            "The Docker daemon stopped answering during the build. The previous image keeps its tag "
            f"{image_tag(build_plan.variant, settings)}; start the daemon again and rerun the build."
        )
    return CommandFailed(
        failure.argv, failure.returncode, failure.tail, hint=hint, detail=failed_step(failure.tail), streamed=True
    )


_EXPORT = re.compile(r"^#\d+ exporting layers (\d+(?:\.\d+)?)s done$", re.MULTILINE)
_EXPORT_STEP = re.compile(r"^#(\d+) exporting to (?:image|docker image format|oci image format)$", re.MULTILINE)


def export_seconds(output: str) -> float:
    """From BuildKit's plain progress: how long the export step took, writing
    the layers and, on the containerd store, unpacking them (0 when every
    layer came from the cache and nothing was written). Where the step's end
    is not shown, the time its layers took."""
    steps = set(_EXPORT_STEP.findall(output))
    done = [float(m[2]) for m in re.finditer(r"^#(\d+) DONE (\d+(?:\.\d+)?)s$", output, re.MULTILINE) if m[1] in steps]
    layers = sum(float(seconds) for seconds in _EXPORT.findall(output))
    return sum(done) if done and layers else layers


_STEP = re.compile(r"^#(\d+) (\[.+)$")
_STEP_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ (.*)$")
_STEP_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_DAEMON_GONE = (
    "cannot connect to the docker daemon",
    "error during connect",
    "connection reset by peer",
    "error reading from server",
    "code = unavailable",
    "server did not provide an image id",
)


def failed_step(output: str, lines: int = 8) -> str:
    """From BuildKit's plain progress: the step that failed and its last lines."""
    rows = output.splitlines()
    errors = [match for row in rows if (match := _STEP_ERROR.match(row))]
    if not errors:
        return ""
    step, reason = errors[-1][1], errors[-1][2]
    header = next((m[2] for row in rows if (m := _STEP.match(row)) and m[1] == step), f"#{step}")
    said = [m[2] for row in rows if (m := _STEP_OUTPUT.match(row)) and m[1] == step][-lines:]
    return "\n".join([f"failed step: {header[:200]}", *(f"  {line[:200]}" for line in said), f"  {reason[:300]}"])
