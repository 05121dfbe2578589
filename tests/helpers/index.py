"""A PEP 503 index on the loopback serving wheels built for the test."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any


def build_wheel(
    folder: Path, name: str, version: str, requires: tuple[str, ...] = (), files: dict[str, str] | None = None
) -> Path:
    """A small, valid pure-Python wheel with the given dependencies (and
    `files`, which may replace its __init__.py)."""
    import hashlib
    import zipfile

    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    extra = files or {}
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n",
        **extra,
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: envkit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(text.encode())}\n"
        for path, text in files.items()
    )
    files[f"{dist_info}/RECORD"] = record + f"{dist_info}/RECORD,,\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return wheel


class LocalIndex:
    """PEP 503 indexes served over HTTP on 127.0.0.1 from a folder: one or
    more index paths, each with its wheels (and their sha256 in the links)."""

    def __init__(self, folder: Path, host: str = "127.0.0.1") -> None:
        self.folder = folder
        self.host = host  # where it listens, and the host of its URLs
        self.server: Any = None

    def add(self, index: str, name: str, version: str, *requires: str, files: dict[str, str] | None = None) -> Path:
        wheel = build_wheel(self.folder / "files" / index, name, version, tuple(requires), files)
        return self.add_file(index, name, wheel)

    def add_file(self, index: str, name: str, wheel: Path) -> Path:
        """Serve this wheel file (built here, or a real one fetched for the test)."""
        import hashlib
        import re
        import shutil

        if wheel.parent != self.folder / "files" / index:
            (self.folder / "files" / index).mkdir(parents=True, exist_ok=True)
            wheel = Path(shutil.copy2(wheel, self.folder / "files" / index / wheel.name))
        project = self.folder / index / re.sub(r"[-_.]+", "-", name).lower()
        project.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        depth = "../" * (index.count("/") + 2)
        link = f'<a href="{depth}files/{index}/{wheel.name}#sha256={digest}">{wheel.name}</a><br>\n'
        page = project / "index.html"
        page.write_text((page.read_text() if page.exists() else "<!DOCTYPE html><html><body>\n") + link)
        return wheel

    def start(self) -> LocalIndex:
        import functools
        import http.server
        import threading

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(
            (self.host, 0), functools.partial(Quiet, directory=str(self.folder))
        )
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def url(self, index: str) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}/{index}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
