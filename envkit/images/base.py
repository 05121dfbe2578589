"""`invoke base`: a Debian base image with Python from Debian's packages,
made with debootstrap, for machines that reach no container registry
(air-gapped sites, registries with pull limits, our own CI)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import docker

from envkit.core import engine, proc
from envkit.core.errors import UsageError
from envkit.core.settings import Settings

# What the pip Dockerfile needs from a base: python3 with venv, and CA roots.
PACKAGES = ("python3", "python3-venv", "ca-certificates")
LABEL_PREFIX = "io.envkit.base"


def debootstrap_command(settings: Settings, root: Path) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        settings.base_suite,
        str(root),
        settings.base_mirror,
    ]


def labels(settings: Settings) -> dict[str, str]:
    """What the base was made from; an existing base with other labels is rebuilt."""
    return {
        f"{LABEL_PREFIX}.suite": settings.base_suite,
        f"{LABEL_PREFIX}.mirror": settings.base_mirror,
        f"{LABEL_PREFIX}.packages": ",".join(PACKAGES),
    }


def import_changes(settings: Settings) -> list[str]:
    changes = ["ENV LANG=C.UTF-8", 'CMD ["bash"]']
    changes += [f'LABEL {key}="{value}"' for key, value in labels(settings).items()]
    return changes


def _existing(client: docker.DockerClient, tag: str, settings: Settings) -> str | None:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    found = image.attrs.get("Config", {}).get("Labels") or {}
    return image.id if all(found.get(k) == v for k, v in labels(settings).items()) else None


def _check_host() -> None:
    if os.geteuid() != 0:
        raise UsageError("invoke base runs debootstrap, which needs root: run it as root (or with sudo).")
    if shutil.which("debootstrap") is None:
        raise UsageError("debootstrap is not installed: `apt-get install debootstrap` (Debian/Ubuntu).")


def build_base(settings: Settings, rebuild: bool = False) -> tuple[str, str, float]:
    """Return (tag, image id, seconds); reuse a base made from the same inputs."""
    tag = settings.base_image_tag()
    _check_host()
    client = engine.connect()
    existing = None if rebuild else _existing(client, tag, settings)
    if existing:
        print(
            f"{tag} already exists from {settings.base_suite} at {settings.base_mirror}; "
            "pass --rebuild to make it again"
        )
        return tag, existing, 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="envkit-base-") as scratch:
        root = Path(scratch) / "rootfs"
        try:
            proc.stream(debootstrap_command(settings, root))
        finally:
            _unmount_below(root)
        # The package cache and lists only grow the image; builds run apt-get update.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        image_id = _import(root, tag, settings)
    return tag, image_id, time.monotonic() - started


def _unmount_below(root: Path) -> None:
    """debootstrap mounts /proc and /sys inside the root it makes and unmounts
    them when it finishes; an interrupted run leaves them mounted, and removing
    the folder must never reach into them."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if len(line.split()) > 1]
    for mount in sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True):
        proc.capture(["umount", "--lazy", mount])


def _import(root: Path, tag: str, settings: Settings) -> str:
    """`tar -C root -c . | docker import - tag`, through the docker CLI."""
    docker_cli = shutil.which("docker") or "docker"
    importer = [docker_cli, "import"]
    for change in import_changes(settings):
        importer += ["--change", change]
    importer += ["-", tag]
    return proc.pipe(["tar", "--numeric-owner", "-C", str(root), "-c", "."], importer).strip()
