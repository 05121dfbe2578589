"""Caches that outlive the container: pip and uv downloads, Hugging Face
models and datasets, torch hub weights, the inductor and Triton kernels.
Each is a named Docker volume per uid (`envkit-cache-huggingface-1000`), or
a folder under envkit.cache_dir on the host; the variables that point the
tools at them are set in the container."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import docker
from docker.types import Mount

from envkit.core.errors import UsageError

CACHE_LABEL = "io.envkit.cache"  # on every volume the kit creates; it uses no other
MOUNT_ROOT = "/cache"


@dataclass(frozen=True)
class Cache:
    kind: str
    env: dict[str, str]  # relative to the cache's mount point

    @property
    def target(self) -> str:
        return f"{MOUNT_ROOT}/{self.kind}"


CACHES = (
    Cache("pip", {"PIP_CACHE_DIR": "pip", "UV_CACHE_DIR": "uv"}),
    Cache("huggingface", {"HF_HOME": "."}),
    Cache("torch", {"TORCH_HOME": "."}),
    Cache("inductor", {"TORCHINDUCTOR_CACHE_DIR": "inductor", "TRITON_CACHE_DIR": "triton"}),
)


@dataclass(frozen=True)
class CacheMounts:
    mounts: tuple[Mount, ...]
    env: dict[str, str]
    folders: tuple[str, ...]  # mount points to hand to the container's user


NO_CACHES = CacheMounts((), {}, ())


def volume_name(kind: str, uid: int) -> str:
    return f"envkit-cache-{kind}-{uid}"


def environment(root: str = MOUNT_ROOT) -> dict[str, str]:
    """The variables that point each tool at its cache, under `root`."""
    return {
        name: f"{root}/{cache.kind}" + ("" if relative == "." else f"/{relative}")
        for cache in CACHES
        for name, relative in cache.env.items()
    }


def _volume(client: docker.DockerClient, kind: str, uid: int) -> str:
    """The kit's volume for this cache and uid, created when missing. One of
    the same name that the kit did not create is not ours to write into."""
    name = volume_name(kind, uid)
    try:
        volume = client.volumes.get(name)
    except docker.errors.NotFound:
        client.volumes.create(name, labels={CACHE_LABEL: kind, "io.envkit.uid": str(uid)})
        return name
    if (volume.attrs.get("Labels") or {}).get(CACHE_LABEL) != kind:
        raise UsageError(
            f"a Docker volume named {name} exists that the kit did not create; rename or remove it "
            "(`docker volume rm`), set envkit.cache_dir to keep caches in host folders, or use --no-cache-volumes."
        )
    return name


def prepare(client: docker.DockerClient, uid: int, host_dir: Path | None) -> CacheMounts:
    """Mounts for every cache: named volumes, or folders under host_dir (made if missing)."""
    mounts = []
    for cache in CACHES:
        if host_dir is None:
            mounts.append(Mount(cache.target, _volume(client, cache.kind, uid), type="volume"))
            continue
        folder = host_dir / cache.kind
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(
                f"envkit.cache_dir {host_dir}: cannot make {folder} ({error.strerror}); "
                "set it to a folder you can write."
            ) from None
        mounts.append(Mount(cache.target, str(folder), type="bind"))
    return CacheMounts(tuple(mounts), environment(), tuple(cache.target for cache in CACHES))
