"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import docker
import pytest

from envkit.catalog import data_files
from envkit.core import engine
from envkit.core.errors import UsageError

FAKE_DOCKER = """#!/bin/sh
# A stand-in docker client: logs every call, answers version probes.
echo "$@" >> "{log}"
case "$1" in
  --version) echo "Docker version {version}, build fake"; exit 0 ;;
  buildx) [ "$2" = inspect ] && printf '{inspect}'; exit {buildx_status} ;;
esac
exit 0
"""


def make_fake_docker(folder: Path, version: str, buildx: bool = False, inspect: str = "") -> Path:
    """A `docker` executable in `folder` whose calls are logged to folder/calls.log;
    `docker buildx inspect` prints `inspect`."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "docker"
    script.write_text(
        FAKE_DOCKER.format(
            log=folder / "calls.log",
            version=version,
            buildx_status=0 if buildx else 1,
            inspect=inspect.replace("\n", "\\n"),
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def untag(client: docker.DockerClient, prefix: str) -> None:
    """Remove every tag starting with `prefix`, keeping the layers. The
    containerd store lists a pulled image under its digest reference too
    (`REPOSITORY@sha256:...`), which is no tag and cannot be removed as one."""
    tags = {tag for image in client.images.list() for tag in image.tags if tag.startswith(prefix) and "@" not in tag}
    for tag in sorted(tags):
        with contextlib.suppress(docker.errors.ImageNotFound):  # gone already: listed twice, or removed meanwhile
            client.images.remove(tag, noprune=True)


class LocalRegistry:
    """A real registry (Debian's docker-registry, distribution 2.8) on
    127.0.0.1, with its storage in a folder of the test's, optionally behind
    htpasswd authentication."""

    def __init__(self, folder: Path, storage: Path | None = None, users: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.folder = folder
        self.storage = storage or folder / "storage"
        self.users = users or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalRegistry:
        import bcrypt

        self.folder.mkdir(parents=True, exist_ok=True)
        config = [
            "version: 0.1",
            "log: {level: warn}",
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, delete: {{enabled: true}}}}",
            f"http: {{addr: {self.host}}}",
        ]
        if self.users:
            htpasswd = self.folder / "htpasswd"
            htpasswd.write_text(
                "".join(
                    f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
                    for user, password in self.users.items()
                )
            )
            config.append(f"auth: {{htpasswd: {{realm: envkit-tests, path: {htpasswd}}}}}")
        (self.folder / "config.yml").write_text("\n".join(config) + "\n")
        log = (self.folder / "registry.log").open("ab")
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(self.folder / "config.yml")], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2)
                return self
            except urllib.error.HTTPError:  # 401: up, and asking for a login
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"docker-registry did not start on {self.host}; see {self.folder / 'registry.log'}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def close(self) -> None:
        """Stop it for good, and untag what publishing and pulling left on the
        engine for it: its port is gone after the run, and the tags would pile
        up on the engine run after run. The layers stay (noprune)."""
        self.stop()
        untag(engine.connect(), f"{self.host}/")

    def tags(self, repository_path: str, auth: tuple[str, str] | None = None) -> list[str]:
        request = urllib.request.Request(f"http://{self.host}/v2/{repository_path}/tags/list")
        if auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return sorted(json.load(response).get("tags") or [])
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise


REPO_PARTS = ("tasks.py", "envkit", "env", "docker", "examples", "benchmarks", ".dockerignore", "pyproject.toml")


def copy_repo(destination: Path) -> Path:
    """A working copy of the kit (no tests, no git): commands run there write
    their locks and reports there, never into the checkout under test."""
    import shutil

    from envkit import ROOT

    destination.mkdir(parents=True, exist_ok=True)
    for part in REPO_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / part)
    return destination


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


def invoke_in(
    repo: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real `invoke ARGS` command line in a checkout of the kit (the one
    under test, or a copy_repo), as a user would."""
    import os
    import sys

    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=repo,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


MEASURED_CU121 = {
    "torch": "2.4.1+cu121",
    "torchvision": "0.19.1+cu121",
    "torchaudio": "2.4.1+cu121",
    "python": "3.11.2",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "cuda_compiled": "12.1",
    "cuda_available": False,
    "cuda_unavailable_reason": "no GPU",
    "cudnn": "9.1.0",
    "cudnn_raw": 90100,
    "gpu_count": 0,
    "gpu_names": [],
    "machine": "x86_64",
    "cuda_archs": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
}


def report_data(**changes: Any) -> dict[str, Any]:
    """A passing cu121-pip test report as `invoke test` writes it, with changes."""
    body = {
        "variant": "cu121-pip",
        "image": "torch-env:cu121-pip",
        "image_id": "sha256:" + "a" * 64,
        "image_created": "2026-11-27T10:00:00.123456789Z",
        "gpus": "none",
        "host": {"gpus": [], "docker": "20.10.24+dfsg1"},
        "started_at": "2026-11-27T10:05:00.000001+00:00",
        "image_size": 5_800_000_000,
        "seconds": 31.0,
        "measured": MEASURED_CU121,
        "facts": {"revision": "0a1b2c3d", "recipe": "pip", "recipe_file": "/opt/envkit/requirements.txt"},
        "checks": [{"name": "pins", "passed": True, "detail": "as pinned", "seconds": 0.0}],
        "tags": {"immutable": "2.4.1-cu121-x", "versioned": "2.4.1-cu121-py3.11-pip", "moving": "cu121-pip"},
        "kit_revision": "0a1b2c3d",
        "passed": True,
    }
    return {**body, **changes}


def build_record_data(**changes: Any) -> dict[str, Any]:
    """A build record as `invoke build` writes it, with changes."""
    body = {
        "variant": "cu121-pip",
        "tag": "torch-env:cu121-pip",
        "image_id": "sha256:" + "a" * 64,
        "size_bytes": 5_800_000_000,
        "seconds": 118.0,
        "finished_at": "2026-11-27T10:00:01+00:00",
        "base_image": "torch-env-base:bookworm",
        "revision": "0a1b2c3d",
    }
    return {**body, **changes}


class Watched:
    """A command line run in the background whose output is followed as it
    comes, so a test can act (send a signal, cut a connection) at a chosen
    point of its work."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        import os
        import threading

        self.lines: list[str] = []
        self.process = subprocess.Popen(
            argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, condition: Any, timeout: float = 600) -> None:
        """Until condition() holds (a string: until a line of output contains it)."""
        test = (lambda: any(condition in line for line in self.lines)) if isinstance(condition, str) else condition
        deadline = time.monotonic() + timeout
        while not test():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.lines[-20:])
                raise AssertionError(f"never saw {condition!r}; exit {self.process.poll()}:\n{tail}")
            time.sleep(0.1)

    def finish(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        stdout, stderr = "\n".join(self.lines), "\n".join(self.errors)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def env_layers(module: str) -> Any:
    """A module of docker/env_layers (it runs inside images, so it is no package of the kit's)."""
    import importlib
    import sys

    from envkit import ROOT

    if str(ROOT / "docker") not in sys.path:
        sys.path.append(str(ROOT / "docker"))
    return importlib.import_module(f"env_layers.{module}")


def refusal_of_edit(env_copy: Path, name: str, old: str, new: str) -> str:
    """What the kit says of env/<name> with `old` replaced by `new` (read
    afresh): the refusal's text, which names the file first."""
    path = env_copy / name
    text = path.read_text()
    assert old in text, f"env/{name} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1))
    reader = data_files.compat_file if name == "compat.toml" else data_files.variants_file
    with pytest.raises(UsageError) as refused:
        reader()
    assert str(refused.value).startswith(f"env/{name}: ")
    return str(refused.value)
