"""What `invoke bench` reads off the machine: bytes received on the network,
the download rate the network gives the locked wheels, bytes a registry
stored, bytes a pull fetched."""

from __future__ import annotations

import concurrent.futures
import html.parser
import ssl
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from envkit.core.errors import KitError
from envkit.images.wheelhouse import platform_tags
from envkit.recipes.files import PipPin
from envkit.recipes.indexes import Indexes

DOWNLOAD_THREADS = 8  # about what uv opens; the rate is the network's, not one connection's


def default_interface() -> str | None:
    """The interface of the default route: where downloads arrive (a build's
    containers reach the network through it too)."""
    try:
        rows = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return None
    return next((row.split()[0] for row in rows if row.split()[1:2] == ["00000000"]), None)


def received_bytes(interface: str | None) -> int:
    if interface is None:
        return 0
    try:
        return int(Path(f"/sys/class/net/{interface}/statistics/rx_bytes").read_text())
    except (OSError, ValueError):
        return 0


class _Links(html.parser.HTMLParser):
    """The file links of a PEP 503 project page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


@dataclass(frozen=True)
class IndexFile:
    url: str
    filename: str
    sha256: str


def ssl_context(ca_cert: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_cert) if ca_cert else None)


def wheel_tags(python: str, platforms: list[str]) -> list[Tag]:
    """The wheel tags a build installs, best first: CPython `python` on the
    lock's platforms (env/variants.toml [arches] python_platform)."""
    version = tuple(int(part) for part in python.split("."))
    return [*cpython_tags(version, platforms=platforms), *compatible_tags(version, platforms=platforms)]


def _open(url: str, context: ssl.SSLContext, timeout: float = 60) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": "envkit-bench"})
    return urllib.request.urlopen(request, timeout=timeout, context=context)


def index_files(name: str, urls: Indexes, context: ssl.SSLContext) -> list[IndexFile]:
    """The files of a project on the first of the indexes that lists it (PEP 503 pages)."""
    for index_url in urls.all:
        page = f"{index_url.rstrip('/')}/{name}/"
        try:
            with _open(page, context) as response:
                links = _Links()
                links.feed(response.read().decode())
        except OSError:
            continue
        files = []
        for href in links.hrefs:
            path, _, fragment = urllib.parse.urljoin(page, href).partition("#")
            if fragment.startswith("sha256="):
                filename = urllib.parse.unquote(path.rsplit("/", 1)[-1])
                files.append(IndexFile(path, filename, fragment.removeprefix("sha256=")))
        if files:
            return files
    raise KitError(f"{name} is on none of the indexes {', '.join(urls.all)}")


def _ranked_wheels(files: list[IndexFile], tags: list[Tag]) -> list[tuple[int, Version, IndexFile]]:
    """The wheels a build on these tags could install: (best tag's rank, version, file)."""
    rank = {tag: index for index, tag in enumerate(tags)}
    ranked = []
    for file in files:
        try:
            _, version, _, file_tags = parse_wheel_filename(file.filename)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        best = min((rank[tag] for tag in file_tags if tag in rank), default=None)
        if best is not None:
            ranked.append((best, version, file))
    return ranked


def wheel_of(pin: PipPin, urls: Indexes, tags: list[Tag], context: ssl.SSLContext) -> IndexFile:
    """The wheel of this pin a build downloads: the best-tagged file whose
    sha256 the lock lists."""
    accepted = {digest.removeprefix("sha256:") for digest in pin.hashes}
    ranked = [row for row in _ranked_wheels(index_files(pin.name, urls, context), tags) if row[2].sha256 in accepted]
    if not ranked:
        raise KitError(f"no wheel of {pin.name}=={pin.version} with a locked hash on {', '.join(urls.all)}")
    return min(ranked, key=lambda row: row[0])[2]


def older_release(pin: PipPin, urls: Indexes, tags: list[Tag], context: ssl.SSLContext) -> tuple[str, str] | None:
    """(version, sha256) of the newest installable wheel released before the pinned version."""
    locked = Version(pin.version)
    older = [row for row in _ranked_wheels(index_files(pin.name, urls, context), tags) if row[1] < locked]
    if not older:
        return None
    _, version, file = max(older, key=lambda row: (row[1], -row[0]))
    return str(version), file.sha256


@dataclass(frozen=True)
class DownloadRate:
    bytes: int
    seconds: float
    wheels: int

    @property
    def bytes_per_second(self) -> float:
        return self.bytes / self.seconds if self.seconds else 0.0


def download_rate(
    pins: list[PipPin], urls: Indexes, python: str, ca_cert: Path | None, threads: int = DOWNLOAD_THREADS
) -> DownloadRate:
    """Fetch every wheel of the lock at once (to nowhere) and time it: the
    rate this network gives exactly the files a cold build needs."""
    context = ssl_context(ca_cert)
    tags = wheel_tags(python, platform_tags())
    wheels = [wheel_of(pin, urls, tags, context) for pin in pins if pin.hashes]

    def fetch(wheel: IndexFile) -> int:
        received = 0
        with _open(wheel.url, context, timeout=300) as response:
            while chunk := response.read(1 << 20):
                received += len(chunk)
        return received

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(fetch, wheels))
    return DownloadRate(total, time.monotonic() - started, len(wheels))


def stored_bytes(storage: Path) -> dict[str, int]:
    """The blobs a registry's filesystem storage holds: digest -> bytes."""
    blobs = storage / "docker" / "registry" / "v2" / "blobs"
    return {data.parent.name: data.stat().st_size for data in blobs.glob("*/*/*/data")}


_PULLED = ("Pull complete", "Download complete")


def pulled_bytes(events: list[dict[str, object]], layers: dict[str, int]) -> int:
    """Bytes a pull fetched: the compressed sizes of the layers its progress
    reports as downloaded (not "Already exists"). Docker names a layer by the
    first 12 hex digits of its digest; `layers` maps full digests to sizes."""
    downloaded = {str(event.get("id")) for event in events if event.get("status") in _PULLED}
    return sum(size for digest, size in layers.items() if digest.removeprefix("sha256:")[:12] in downloaded)
