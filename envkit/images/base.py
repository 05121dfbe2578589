"""`invoke base`: a Debian base image with Python from Debian's packages,
made with debootstrap, for machines that reach no container registry
(air-gapped sites, registries with pull limits, our own CI).

`--arch arm64` on an x86_64 machine runs debootstrap's second stage under
QEMU user emulation (Debian's qemu-user-static, registered with binfmt_misc).
The image is loaded from an image archive the kit writes, not imported:
Docker 20.10's `docker import --platform` is ignored and its config would
say amd64 whatever the files are.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import docker

from envkit.catalog.selection import known_arch
from envkit.catalog.variants import default_arch
from envkit.core import engine, proc
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.images.emulation import emulator_problem

# What the pip Dockerfile needs from a base: python3 with venv, and CA roots.
PACKAGES = ("python3", "python3-venv", "ca-certificates")
LABEL_PREFIX = "io.envkit.base"
# A loaded image has no environment of its own (an imported one had PATH from the daemon).
IMAGE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")


def debootstrap_command(settings: Settings, root: Path, arch: str | None = None) -> list[str]:
    return [
        "debootstrap",
        f"--arch={arch or default_arch()}",  # Debian's architecture names are Docker's
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        settings.base_suite,
        str(root),
        settings.base_mirror,
    ]


def labels(settings: Settings, arch: str | None = None) -> dict[str, str]:
    """What the base was made from; an existing base with other labels is rebuilt."""
    return {
        f"{LABEL_PREFIX}.suite": settings.base_suite,
        f"{LABEL_PREFIX}.mirror": settings.base_mirror,
        f"{LABEL_PREFIX}.packages": ",".join(PACKAGES),
        f"{LABEL_PREFIX}.arch": arch or default_arch(),
    }


def image_config(settings: Settings, arch: str, layer_digest: str, created: str) -> dict[str, object]:
    """The image's config (OCI image spec): its architecture is the files' own."""
    return {
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {"Env": list(IMAGE_ENV), "Cmd": ["bash"], "Labels": labels(settings, arch)},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created": created, "created_by": " ".join(debootstrap_command(settings, Path("/"), arch))}],
    }


def _existing(client: docker.DockerClient, tag: str, settings: Settings, arch: str) -> str | None:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    found = image.attrs.get("Config", {}).get("Labels") or {}
    same = all(found.get(k) == v for k, v in labels(settings, arch).items())
    return image.id if same and image.attrs.get("Architecture") == arch else None


def _check_host(arch: str) -> None:
    if os.geteuid() != 0:
        raise UsageError("invoke base runs debootstrap, which needs root: run it as root (or with sudo).")
    if shutil.which("debootstrap") is None:
        raise UsageError("debootstrap is not installed: `apt-get install debootstrap` (Debian/Ubuntu).")
    if problem := emulator_problem(arch):
        raise UsageError(f"--arch {arch}: {problem}")


def base_tag(settings: Settings, arch: str) -> str:
    """`torch-env-base:bookworm`; another architecture than the first ends in its name: `...:bookworm-arm64`."""
    return settings.base_image_tag() + ("" if arch == default_arch() else f"-{arch}")


def build_base(settings: Settings, rebuild: bool = False, arch: str | None = None) -> tuple[str, str, float]:
    """Return (tag, image id, seconds); reuse a base made from the same inputs."""
    arch = default_arch() if arch is None else known_arch(arch)
    tag = base_tag(settings, arch)
    _check_host(arch)
    client = engine.connect()
    existing = None if rebuild else _existing(client, tag, settings, arch)
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
            proc.stream(debootstrap_command(settings, root, arch))
        finally:
            _unmount_below(root)
        # The package cache and lists only grow the image; builds run apt-get update.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (root / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        image_id = _load(client, root, Path(scratch), tag, settings, arch)
    return tag, image_id, time.monotonic() - started


def _unmount_below(root: Path) -> None:
    """debootstrap mounts /proc and /sys inside the root it makes and unmounts
    them when it finishes; an interrupted run leaves them mounted, and removing
    the folder must never reach into them."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if len(line.split()) > 1]
    for mount in sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True):
        proc.capture(["umount", "--lazy", mount])


def _load(client: docker.DockerClient, root: Path, scratch: Path, tag: str, settings: Settings, arch: str) -> str:
    """The root file system as one layer, with a config for its architecture,
    loaded as `tag` from an image archive (`docker save`'s format)."""
    layer = scratch / "layer.tar"
    proc.run_or_fail(
        ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(layer), "."],
        f"cannot pack {root} into a layer",
    )
    layer_digest = "sha256:" + _sha256(layer)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    config = json.dumps(image_config(settings, arch, layer_digest, created), sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": ["layer.tar"]}]
    archive = scratch / "image.tar"
    with tarfile.open(archive, "w") as out:
        out.add(layer, arcname="layer.tar")
        for name, content in ((config_name, config), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            out.addfile(info, io.BytesIO(content))
    layer.unlink()  # the archive holds it; half the scratch space
    with archive.open("rb") as stream:
        loaded = client.images.load(stream)
    return str(loaded[0].id)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
