"""What the engine and its builder can do, found out once per command, from
the engine's own answers and a cheap probe where a reported version says
nothing (Debian's engines report `BuildKit version: v0.0.0+unknown`).

Every build and export option the kit passes is decided here, from these
facts, never from a guessed engine version:
- the image store: the containerd image store (Docker 29's default on fresh
  installs, Docker Desktop's since 4.34) or the classic one (overlay2);
- whether the exporter applies rewrite-timestamp=true (identical digests):
  BuildKit 0.13+ takes the option, but only a probe shows whether the times
  come out rewritten (the docker exporter on Docker 28.5's classic store
  takes it and leaves them); loading with it fails on the containerd store
  ("conflicts with unpack", moby/buildkit#4230), so there reproducible builds
  export an OCI archive and load that;
- whether buildx adds attestations (buildx 0.10+ attaches a provenance
  manifest by default, so the image id becomes an index digest that moves
  with every build): the kit turns them off, its own decision;
- what the daemon's API floor leaves a legacy client (Docker 29 refuses
  clients older than API 1.44).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from envkit.core import engine, proc
from envkit.core.errors import UsageError

LOGGER = logging.getLogger(__name__)
CONTAINERD, CLASSIC = "containerd", "classic"
FIRST_ZSTD_PULLING_ENGINE = 23  # Docker 23.0 pulls zstd layers
LEGACY_API = (1, 41)  # Docker 20.10's, the newest a pre-23 client speaks
PROBE_TIMEOUT = 120


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@dataclass(frozen=True)
class EngineFacts:
    """The daemon as it describes itself."""

    version: str  # "28.5.2+dfsg4"
    api: str  # the newest API it speaks, "1.51"
    min_api: str  # the oldest it serves, "1.24" (Docker 29: "1.44")
    store: str  # CONTAINERD or CLASSIC
    driver: str  # "overlayfs" (a containerd snapshotter) or "overlay2"

    @property
    def major(self) -> int:
        return (version_tuple(self.version) or (0,))[0]

    @property
    def pulls_zstd(self) -> bool:
        return self.major >= FIRST_ZSTD_PULLING_ENGINE

    @property
    def serves_legacy_clients(self) -> bool:
        return version_tuple(self.min_api) <= LEGACY_API

    @property
    def legacy(self) -> bool:
        """An engine from before Docker 23 (20.10 is end of life since December 2023)."""
        return self.major < FIRST_ZSTD_PULLING_ENGINE

    def describe(self) -> str:
        floor = f", serves API {self.min_api}+" if not self.serves_legacy_clients else ""
        store = "containerd image store" if self.store == CONTAINERD else f"classic store ({self.driver})"
        return f"Docker {self.version} (API {self.api}{floor}), {store}"


def store_of(info: Mapping[str, Any]) -> str:
    """The image store, from `docker info`: a containerd snapshotter is the containerd image store."""
    status = dict(info.get("DriverStatus") or [])
    return CONTAINERD if str(status.get("driver-type", "")).startswith("io.containerd.snapshotter") else CLASSIC


def engine_facts(client: docker.DockerClient) -> EngineFacts:
    version, info = client.version(), client.info()
    return EngineFacts(
        version=str(version.get("Version", "")),
        api=str(version.get("ApiVersion", "")),
        min_api=str(version.get("MinAPIVersion", "")),
        store=store_of(info),
        driver=str(info.get("Driver", "")),
    )


def _help_has(client: str, flag: str) -> bool:
    """Whether `docker buildx build --help` lists a flag (buildx 0.10+ has --provenance)."""
    try:
        shown = proc.capture([client, "buildx", "build", "--help"])
    except OSError:
        return False
    return shown.returncode == 0 and flag in shown.stdout


# The probe's SOURCE_DATE_EPOCH (2001-09-09): older than the file it copies, so a rewrite shows.
PROBE_EPOCH = 1_000_000_000
PROBE_FILE = "envkit-probe.txt"


def layer_file_time(archive: Path, name: str) -> int | None:
    """The time a file carries in an image archive's layers (an OCI layout or
    `docker image save`'s: every blob that opens as a tar, compressed or not,
    is a layer), or None where no layer holds it."""
    with tarfile.open(archive) as outer:
        for blob in outer:
            handle = outer.extractfile(blob) if blob.isfile() else None
            if handle is None:
                continue
            try:
                with tarfile.open(fileobj=handle, mode="r:*") as layer:
                    member = next((entry for entry in layer if entry.name.lstrip("./") == name), None)
            except tarfile.ReadError:  # a manifest, a config, an index
                continue
            if member is not None:
                return int(member.mtime)
    return None


@functools.lru_cache(maxsize=8)
def _probe_rewrite_timestamp(client: str, engine_key: str) -> bool:
    """Whether layer times come out as SOURCE_DATE_EPOCH: build a one-file
    image with rewrite-timestamp=true, exported as reproducible builds are
    (loaded on the classic store, an OCI archive on the containerd store), and
    read the file's time in its layer. Accepting the option is not enough:
    Docker 28.5's docker exporter on the classic store takes it and leaves the
    times as they were (measured). Removes what it made."""
    tag = f"envkit-probe:{uuid.uuid4().hex[:12]}"
    containerd = engine_key.endswith(f"/{CONTAINERD}")
    with tempfile.TemporaryDirectory(prefix="envkit-probe-") as scratch:
        context, archive = Path(scratch, "context"), Path(scratch, "probe.tar")
        context.mkdir()
        Path(context, "Dockerfile").write_text(f'FROM scratch\nCOPY {PROBE_FILE} /\nLABEL {engine.HELPER_LABEL}="1"\n')
        Path(context, PROBE_FILE).write_text("envkit\n")  # its time is now, after PROBE_EPOCH
        output = (
            f"type=oci,dest={archive},rewrite-timestamp=true" if containerd else "type=docker,rewrite-timestamp=true"
        )
        build = [client, "buildx", "build", "--output", output, "--tag", tag]
        build += ["--build-arg", f"SOURCE_DATE_EPOCH={PROBE_EPOCH}", "--quiet", str(context)]
        steps = [build] if containerd else [build, [client, "image", "save", "--output", str(archive), tag]]
        try:
            done = all(
                subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False).returncode == 0
                for argv in steps
            )
            rewrites = done and layer_file_time(archive, PROBE_FILE) == PROBE_EPOCH
        except (OSError, subprocess.TimeoutExpired, tarfile.TarError):
            rewrites = False
        finally:
            subprocess.run([client, "image", "rm", "--force", tag], capture_output=True, check=False)
    LOGGER.debug("rewrite-timestamp probe on %s: %s", engine_key, rewrites)
    return rewrites


def builder_for(client: docker.DockerClient, configured: str = "") -> engine.Builder:
    """The BuildKit client to build with, and the options this engine takes."""
    return configure(engine.find_builder(configured), client)


def configure(builder: engine.Builder, client: docker.DockerClient) -> engine.Builder:
    """`builder` with what this engine takes decided; a UsageError where it is a
    client this engine refuses."""
    facts = engine_facts(client)
    if not builder.is_buildx:
        if not facts.serves_legacy_clients:
            raise UsageError(
                f"{builder.description} speaks API {'.'.join(map(str, LEGACY_API))}, and this engine "
                f"({facts.describe()}) refuses clients older than API {facts.min_api}. Install the buildx plugin "
                "(docker-buildx-plugin, or Debian's docker-buildx) beside a current docker client, or set "
                "envkit.docker_client to one."
            )
        return dataclasses.replace(builder, store=facts.store)
    client_path = builder.prefix[0]
    reported = builder.buildkit
    if reported is not None and (0, 0) < reported < engine.REPRODUCIBLE_BUILDKIT:
        rewrites = False  # it has no such option
    else:  # it has the option (or does not say its version): whether the times come out rewritten
        rewrites = _probe_rewrite_timestamp(client_path, f"{facts.version}/{facts.store}")
    return dataclasses.replace(
        builder,
        store=facts.store,
        rewrites_timestamps=rewrites,
        attestation_flags=_help_has(client_path, "--provenance"),
    )
