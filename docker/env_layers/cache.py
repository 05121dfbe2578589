"""The hash-checked download cache on the build's cache mount: every wheel of
the lock fetched at once (prefetch), kept under its digest, linked into each
install step, fetched again when BuildKit emptied the mount."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import platform
import ssl
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from . import places
from .layers import entries, normalized, pin_of
from .wheels import best_wheel, fits_this_machine, index_urls

DOWNLOAD_THREADS = 8
PACKAGE = Path(__file__).resolve().parent  # run as `python FOLDER`


def download(url: str, filename: str, pin: str, hashes: set[str], tls: ssl.SSLContext) -> int:
    """Download to a temporary name; keep the file (under its digest, or its
    pin when the lock has no hashes) only if the lock lists its sha256."""
    places.WHEELS.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=places.WHEELS)
    os.close(handle)
    partial = Path(name)
    hasher = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=600, context=tls) as response, partial.open("wb") as out:
        while chunk := response.read(1 << 20):
            hasher.update(chunk)
            out.write(chunk)
    digest = hasher.hexdigest()
    if hashes and digest not in hashes:
        partial.unlink()
        raise SystemExit(
            f"prefetch: hash mismatch for `{pin}`: {filename} has sha256 {digest}, which the lock does not list"
        )
    folder = places.WHEELS / digest if hashes else places.WHEELS / "unhashed" / pin / platform.machine()
    folder.mkdir(parents=True, exist_ok=True)
    partial.rename(folder / filename)
    return (folder / filename).stat().st_size


def kept_folder(name: str, version: str, hashes: set[str]) -> Path | None:
    """Where the wheel of a pin for this machine is kept, if it is:
    places.WHEELS/<sha256>/ for a hash-locked pin (a mirror or a stand-in index may
    serve another file under the same name: only the digest tells them
    apart), else places.WHEELS/unhashed/<name>==<version>/<machine>/."""
    if not hashes:
        folder = places.WHEELS / "unhashed" / f"{normalized(name)}=={version}" / platform.machine()
        return folder if any(folder.glob("*.whl")) else None
    kept = (places.WHEELS / digest for digest in sorted(hashes))
    return next((folder for folder in kept if any(map(fits_this_machine, folder.glob("*.whl")))), None)


def prefetch(lock: Path) -> None:
    """Every wheel of the lock not yet kept, downloaded at once into places.WHEELS
    (on the build's cache mount, kept between builds: a one-pin change
    downloads one wheel), hash-checked. Runs with the installer's python,
    whose pip knows the interpreter's wheel tags. BuildKit runs it beside
    the system step; the install steps then need no network (see fetch_missing)."""
    if os.environ.get("INSTALL_FROM") == "wheelhouse":
        return
    from pip._vendor.packaging.tags import sys_tags  # the installer venv's pip

    options, listed = entries(lock.read_text())
    urls = index_urls(options)
    ca = Path("/run/secrets/ca")
    tls = ssl.create_default_context(cafile=str(ca) if ca.is_file() and ca.stat().st_size else None)
    rank = {str(tag): index for index, tag in enumerate(sys_tags())}

    def fetch(entry: tuple[str, str]) -> int:
        name, text = entry
        version, hashes = pin_of(text)
        if kept_folder(name, version, hashes) is not None:
            return 0
        url, filename = best_wheel(name, version, urls, rank, tls)
        return download(url, filename, f"{normalized(name)}=={version}", hashes, tls)

    with concurrent.futures.ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        fetched = sum(pool.map(fetch, listed))
    print(f"prefetch: {len(listed)} wheels ready, {fetched / 1e6:.1f} MB downloaded")


def linked_wheels(requirements: Path, links: Path) -> Path:
    """A folder of hard links to exactly the kept wheels this part of the
    lock pins: uv's --find-links for this step."""
    for name, text in entries(requirements.read_text())[1]:
        version, hashes = pin_of(text)
        folder = kept_folder(name, version, hashes)
        if folder is None:
            raise SystemExit(f"env_layers: no prefetched wheel for {name}=={version}")
        for wheel in folder.glob("*.whl"):
            os.link(wheel, links / wheel.name)
    return links


def fetch_missing(requirements: Path, label: str) -> None:
    """BuildKit empties a cache mount on its own (its garbage collection, or
    `docker builder prune`) and may keep the cached layers step that
    downloaded into it: this step then finds no wheel where the prefetch
    left it, and fetches again what is gone, from the lock's indexes (a
    mirror set by INDEX_URL is an ARG of the layers step only, so that a
    mirror moved reruns no install step)."""
    missing = [
        f"{name}=={version}"
        for name, text in entries(requirements.read_text())[1]
        for version, hashes in [pin_of(text)]
        if kept_folder(name, version, hashes) is None
    ]
    if not missing:
        return
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    print(f"{label}: {shown} no longer in BuildKit's cache (emptied since the download step ran): fetching again")
    again = [str(places.INSTALLER.parent / "python"), str(PACKAGE), "prefetch", str(requirements)]
    fetched = subprocess.run(again, check=False)
    if fetched.returncode != 0:
        raise SystemExit(
            f"{label}: fetching the lost wheels again from the lock's indexes failed (above); where only a mirror "
            "is reachable, `invoke build --no-cache` downloads everything again through it"
        )
