"""The Docker daemon (through the Docker SDK) and a BuildKit-capable client.

The SDK has no BuildKit builds, so builds go through a docker CLI: `docker
buildx build --load` where the buildx plugin exists, else a client from before
Docker 23, whose `docker build` has BuildKit built in (DOCKER_BUILDKIT=1).
Docker 23+ clients without buildx cannot build with BuildKit at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container
from docker.models.images import Image

from envkit.core import proc
from envkit.core.errors import UsageError

LOGGER = logging.getLogger(__name__)
FIRST_CLIENT_WITHOUT_BUILTIN_BUILDKIT = 23
RUN_TIMEOUT = 3600  # seconds a run_container command may take
HELPER_LABEL = "io.envkit.helper"  # on every short-lived container the kit starts
# Searched after PATH: Debian's docker.io client often sits behind a newer one.
FALLBACK_DIRS = ("/usr/bin",)
_CLIENT_VERSION = re.compile(r"Docker version (\d+)\.")
# `docker buildx inspect`: "BuildKit version: v0.13.2" (buildx 0.12+), "Buildkit: v0.11.6" before.
_BUILDKIT_VERSION = re.compile(r"^Build[kK]it(?: version)?:\s+v?(\d+)\.(\d+)", re.MULTILINE)
# The first BuildKit whose exporters take rewrite-timestamp=true (layer file times set to SOURCE_DATE_EPOCH).
REPRODUCIBLE_BUILDKIT = (0, 13)
CONTAINERD_STORE = "containerd"
# buildx 0.10+ attaches a provenance attestation by default: the image id becomes the digest of an index
# that changes with every build. Attestations are the kit's decision, never the builder's default.
ATTESTATIONS_OFF = ("--provenance=false", "--sbom=false")
# The containerd store keeps every layer compressed as well as unpacked: the exporter compresses each layer
# before it unpacks it. See docs/design/performance.md for the measured choice.
LOCAL_ZSTD_LEVEL = 1
CONTAINERD_LAYERS = f"compression=zstd,compression-level={LOCAL_ZSTD_LEVEL},force-compression=true"
CONTAINERD_EXPORT = f"type=docker,{CONTAINERD_LAYERS}"


# The longest one answer of the daemon may take. On the containerd store a
# container's create waited over 30 s while another build unpacked its layers.
ANSWER_SECONDS = 120


def connect(timeout: int = ANSWER_SECONDS) -> docker.DockerClient:
    """A client for a daemon that answers, or a UsageError saying how to start one.
    `timeout`: the longest any one answer may take to come."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as error:  # the SDK raises several types for "no daemon"
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise UsageError(
            f"the Docker daemon is not reachable at {where} ({reason}).\n"
            "Start it (`sudo systemctl start docker`, or `sudo dockerd &` where there is no "
            "systemd) or point DOCKER_HOST at a running one."
        ) from None
    return client


def create_container(client: docker.DockerClient, image: str, argv: list[str] | None, **options: Any) -> Container:
    """`containers.create` under a name of the kit's (`envkit-` and a random
    part, unless `name` is given), so that a create whose answer never came
    (a timeout, Ctrl-C) leaves no container: the daemon may have made it all
    the same, and the name is how to find it."""
    name = options.pop("name", None) or f"envkit-{secrets.token_hex(6)}"
    try:
        return client.containers.create(image, argv, name=name, **options)
    except BaseException:
        with contextlib.suppress(Exception):  # best effort, bounded by the client's timeout
            client.api.remove_container(name, force=True)
        raise


def run_container(client: docker.DockerClient, image: str, argv: list[str], **options: Any) -> tuple[int, str, str]:
    """Run a command in a new container; return its exit code, stdout and stderr.
    The container is removed whatever happens: a failed start, an error, or an
    interrupt while it runs (`containers.run(remove=True)` leaves it behind
    in the last two cases)."""
    container = create_container(client, image, argv, labels={HELPER_LABEL: "1"}, **options)
    try:
        container.start()
        code = int(container.wait(timeout=RUN_TIMEOUT)["StatusCode"])
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        return code, stdout, container.logs(stdout=False, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)


def check_free_disk(client: docker.DockerClient, need_gb: float, doing: str) -> None:
    """Refuse before a long job when Docker's root has less room than it needs.
    Only where the daemon is on this machine (its root is then ours to measure)."""
    root = str(client.info().get("DockerRootDir") or "")
    remote = os.environ.get("DOCKER_HOST", "").startswith(("tcp://", "ssh://"))
    if remote or not os.path.isdir(root):
        return
    free_gb = shutil.disk_usage(root).free / 1e9
    if free_gb < need_gb:
        raise UsageError(
            f"only {free_gb:.1f} GB free under {root}; {doing} needs about {need_gb:g} GB. Make room with "
            "`docker builder prune` (BuildKit's cache) and `docker image prune` (untagged images), then retry."
        )


def answers() -> bool:
    """Whether the daemon answers now (after a failure: did it go away?)."""
    try:
        connect()
    except UsageError:
        return False
    return True


@dataclass(frozen=True)
class Builder:
    """How to run a BuildKit build: the argv prefix and its environment."""

    prefix: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""
    buildkit: tuple[int, int] | None = None  # the builder's BuildKit, where buildx tells it
    # Filled in from the engine by envkit.core.capabilities.builder_for:
    store: str = ""  # "containerd" or "classic"; "" where no engine was asked
    rewrites_timestamps: bool | None = None  # probed; None: judged from the reported BuildKit
    attestation_flags: bool = False  # buildx takes --provenance/--sbom (and adds provenance unless told not to)

    @property
    def is_buildx(self) -> bool:
        return self.prefix[1:2] == ("buildx",)

    @property
    def reproducible(self) -> bool:
        """Whether builds can be made bit-identical as they load: buildx driving BuildKit 0.13+ on the
        classic store, with SOURCE_DATE_EPOCH and rewrite-timestamp=true (the containerd store refuses
        it on load; verify-repro exports an OCI archive there instead)."""
        if not self.is_buildx or self.store == CONTAINERD_STORE:
            return False
        if self.rewrites_timestamps is not None:
            return self.rewrites_timestamps
        return self.buildkit is not None and self.buildkit >= REPRODUCIBLE_BUILDKIT

    @property
    def archive_reproducible(self) -> bool:
        """Whether an OCI archive export takes rewrite-timestamp=true here: the containerd store's way to
        identical digests (the archive is then loaded; its manifest digest is the image id)."""
        return self.is_buildx and self.store == CONTAINERD_STORE and bool(self.rewrites_timestamps)

    def archive_command(self, archive: Path) -> list[str]:
        """command(), exporting an OCI archive with layer times rewritten instead of loading the image."""
        argv = [*self.prefix, *ATTESTATIONS_OFF] if self.attestation_flags else list(self.prefix)
        return [*argv, "--output", f"type=oci,dest={archive},rewrite-timestamp=true,{CONTAINERD_LAYERS}"]

    def id_args(self, iidfile: Path) -> list[str]:
        """Where the build records what it made: the iidfile, and buildx's metadata file beside it."""
        argv = ["--iidfile", str(iidfile)]
        return [*argv, "--metadata-file", str(iidfile.with_suffix(".json"))] if self.is_buildx else argv

    def built_id(self, iidfile: Path) -> str:
        """The engine's id of the image just built. The iidfile holds the config digest, which is the id on
        the classic store; the containerd store's id is the manifest's digest, which buildx's metadata
        file records (containerimage.digest)."""
        metadata = iidfile.with_suffix(".json")
        if self.store == CONTAINERD_STORE and metadata.is_file():
            digest = json.loads(metadata.read_text()).get("containerimage.digest", "")
            if isinstance(digest, str) and digest.startswith("sha256:"):
                return digest
        return iidfile.read_text().strip()

    def command(self) -> list[str]:
        """The build command up to its options: the image lands in the engine's
        store, its layer times rewritten to SOURCE_DATE_EPOCH where BuildKit can,
        with no attestation the kit did not decide on."""
        if not self.is_buildx:
            return list(self.prefix)
        argv = [*self.prefix, *ATTESTATIONS_OFF] if self.attestation_flags else list(self.prefix)
        if self.store == CONTAINERD_STORE:
            return [*argv, "--output", CONTAINERD_EXPORT]
        if self.reproducible:
            return [*argv, "--output", "type=docker,rewrite-timestamp=true"]
        return [*argv, "--load"]


def buildkit_version(inspect_output: str) -> tuple[int, int] | None:
    """The builder's BuildKit version from `docker buildx inspect`, or None."""
    match = _BUILDKIT_VERSION.search(inspect_output)
    return (int(match[1]), int(match[2])) if match else None


def _docker_clients() -> list[str]:
    """Every `docker` on PATH, in PATH order, then in FALLBACK_DIRS."""
    seen: dict[str, str] = {}
    directories = [*os.environ.get("PATH", "").split(os.pathsep), *FALLBACK_DIRS]
    for directory in directories:
        candidate = Path(directory or ".") / "docker"
        try:  # a PATH entry we may not read (another user's ~/bin) is no client
            if candidate.is_file() and os.access(candidate, os.X_OK):
                seen.setdefault(str(candidate.resolve()), str(candidate))
        except OSError:
            continue
    return list(seen.values())


def _as_builder(client: str) -> Builder | None:
    try:
        if proc.capture([client, "buildx", "version"]).returncode == 0:
            inspected = proc.capture([client, "buildx", "inspect"])
            buildkit = buildkit_version(inspected.stdout) if inspected.returncode == 0 else None
            # The metadata file names what was built; buildx would add the provenance it took off the image.
            quiet = {"BUILDX_METADATA_PROVENANCE": "disabled"}
            return Builder((client, "buildx", "build"), quiet, f"{client} buildx", buildkit)
        version = proc.capture([client, "--version"]).stdout
    except OSError:
        return None
    match = _CLIENT_VERSION.search(version)
    if match and int(match[1]) < FIRST_CLIENT_WITHOUT_BUILTIN_BUILDKIT:
        return Builder((client, "build"), {"DOCKER_BUILDKIT": "1"}, f"{client} (built-in BuildKit)")
    return None


def docker_cli(configured: str = "") -> str:
    """A docker client for what the SDK cannot do well: an interactive TTY
    (`docker start --attach --interactive`) and pulls with live progress."""
    found = shutil.which(configured) if configured else next(iter(_docker_clients()), None)
    if not found:
        raise UsageError(
            f"no docker client ({configured or 'none on PATH'}): install one (Debian's docker.io, or Docker's "
            "docker-ce-cli), or set envkit.docker_client to one."
        )
    return found


def local_image(client: docker.DockerClient, reference: str) -> Image | None:
    """The image a tag or digest names on this engine, or None."""
    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None


def platform_image(client: docker.DockerClient, reference: str, platform: str) -> Image | None:
    """One platform's image of the index a tag names on the containerd store (`docker image inspect
    --platform`, API 1.49+: the SDK has no such option), or None where the tag or that platform is not here.
    Its id is the platform's manifest digest."""
    api = client.api
    os_name, _, arch = platform.partition("/")
    answer = api.get(
        f"{api.base_url}/v{api.api_version}/images/{reference}/json",
        params={"platform": json.dumps({"os": os_name, "architecture": arch})},
    )
    if answer.status_code == 404:
        return None
    if not answer.ok:
        raise UsageError(f"the engine did not show {platform} of {reference}: {answer.text.strip()[:200]}")
    return Image(answer.json(), client=client, collection=client.images)


def unpacked_size(client: docker.DockerClient, image: Image) -> int:
    """The bytes the image's layers take unpacked, on either store. The classic store's `Size` is that; the
    containerd store's is its compressed layers' (up to Docker 28.5: moby/moby#53398), and its image list
    (API 1.47+) gives each platform manifest's unpacked size, which is read for the image's platform. That is
    0 for another architecture's image until a container first runs it (the store unpacks it then)."""
    # The SDK's images() takes no `manifests` flag, so this asks the daemon itself (older ones ignore it).
    api = client.api
    response = api.get(f"{api.base_url}/v{api.api_version}/images/json", params={"manifests": 1})
    listing = response.json() if response.ok else []
    for entry in listing:
        if entry.get("Id") != image.id or not entry.get("Manifests"):
            continue
        for manifest in entry["Manifests"]:
            data = manifest.get("ImageData") or {}
            platform = data.get("Platform") or {}
            if manifest.get("Kind") == "image" and platform.get("architecture") == image.attrs.get("Architecture"):
                return int(data["Size"]["Unpacked"])
    return int(image.attrs["Size"])


def pull(client: docker.DockerClient, reference: str, configured_client: str = "") -> Image:
    """`docker pull` with its progress on the terminal (the SDK's is silent for
    minutes); the daemon stops the pull when the client is stopped."""
    proc.stream(
        [docker_cli(configured_client), "pull", reference],
        hint="Check the reference, that the registry is reachable, and your `docker login` for it.",
    )
    image = local_image(client, reference)
    if image is None:
        raise UsageError(f"{reference} was pulled, yet the engine does not find it under that name.")
    return image


def find_builder(configured: str = "") -> Builder:
    """The first BuildKit-capable client: the configured one, else the first on PATH."""
    candidates = [configured] if configured else _docker_clients()
    for client in candidates:
        builder = _as_builder(shutil.which(client) or client)
        if builder:
            LOGGER.debug("building with %s", builder.description)
            return builder
    tried = ", ".join(candidates) or "none found on PATH"
    raise UsageError(
        f"no BuildKit-capable docker client (tried: {tried}). Install the buildx plugin "
        "(docker-buildx-plugin, or Debian's docker-buildx), or Debian's docker.io whose 20.10 "
        "client has BuildKit built in; or set envkit.docker_client to such a client."
    )
