"""Which wheel of a pin this machine installs: the indexes' pages read, each
file's tags ranked as the interpreter ranks them, a kept wheel judged by
architecture and Python."""

from __future__ import annotations

import html
import os
import platform
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .layers import normalized


def index_urls(options: list[str]) -> list[str]:
    """INDEX_URL / EXTRA_INDEX_URL (mirrors) when set, else the lock's own."""
    if os.environ.get("INDEX_URL"):
        return [os.environ["INDEX_URL"], *os.environ.get("EXTRA_INDEX_URL", "").split()]
    words = " ".join(options).replace("=", " ").split()
    urls = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("--index-url", "-i")]
    extras = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--extra-index-url"]
    return (urls or ["https://pypi.org/simple"]) + extras


def wheel_tags(filename: str) -> list[str]:
    """`name-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl` -> its tags."""
    python, abi, platform = filename[: -len(".whl")].split("-")[-3:]
    return [f"{p}-{a}-{t}" for p in python.split(".") for a in abi.split(".") for t in platform.split(".")]


def best_wheel(name: str, version: str, urls: list[str], rank: dict[str, int], tls: ssl.SSLContext) -> tuple[str, str]:
    """(url, filename) of the wheel uv would install: the pinned version's
    file with the best tag for this interpreter, from any of the indexes
    (unsafe-best-match)."""
    found = []
    for index_url in urls:
        page = f"{index_url.rstrip('/')}/{normalized(name)}/"
        try:
            with urllib.request.urlopen(page, timeout=120, context=tls) as response:
                hrefs = re.findall(r'href="([^"]+)"', response.read().decode())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                continue
            raise
        for href in hrefs:
            url = urllib.parse.urljoin(page, html.unescape(href)).partition("#")[0]
            filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
            if not filename.endswith(".whl") or filename.split("-")[1] != version.replace("-", "_"):
                continue
            best = min((rank[tag] for tag in wheel_tags(filename) if tag in rank), default=None)
            if best is not None:
                found.append((best, url, filename))
    if not found:
        raise SystemExit(f"prefetch: no wheel of {name}=={version} for this Python on {', '.join(urls)}")
    _, url, filename = min(found)
    return url, filename


PYTHON = sys.version_info[:2]  # the interpreter this step runs: the base's (or the installer's, the same)


def fits_this_machine(wheel: Path) -> bool:
    """Whether a kept wheel installs here: built for this architecture (or
    pure) and for this Python. A lock lists the hashes of every platform's and
    every Python's wheel of a pin, and the cache mount is shared by the builds
    of every architecture (an arm64 build under QEMU beside an amd64 one) and
    every Python (a 3.11 line beside a 3.13 one): a kept x86_64 or cp311 wheel
    with an allowed hash is no wheel for aarch64 or for 3.13."""
    python_tags, abi_tags, platform_tags = (part.split(".") for part in wheel.name.removesuffix(".whl").split("-")[-3:])
    machine = any(tag == "any" or tag.endswith(f"_{platform.machine()}") for tag in platform_tags)
    return machine and _fits_this_python(python_tags, abi_tags)


def _fits_this_python(python_tags: list[str], abi_tags: list[str]) -> bool:
    """PEP 425 tags against this CPython: its own ABI (cp313), the stable ABI
    of an older or equal CPython (cp39-abi3), or none (py3, cp313-none)."""
    major, minor = PYTHON
    ours = f"cp{major}{minor}"

    def cpython(tag: str) -> tuple[int, int] | None:
        digits = tag.removeprefix("cp")
        return (int(digits[0]), int(digits[1:])) if tag.startswith("cp") and digits.isdigit() else None

    for abi in abi_tags:
        if abi == ours:
            return True
        if abi == "abi3" and any((found := cpython(tag)) and found <= PYTHON for tag in python_tags):
            return True
        if abi == "none" and any(tag in (ours, f"py{major}", f"py{major}{minor}") for tag in python_tags):
            return True
    return False
