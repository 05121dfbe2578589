"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import json
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

FAKE_DOCKER = """#!/bin/sh
# A stand-in docker client: logs every call, answers version probes.
echo "$@" >> "{log}"
case "$1" in
  --version) echo "Docker version {version}, build fake"; exit 0 ;;
  buildx) exit {buildx_status} ;;
esac
exit 0
"""


def make_fake_docker(folder: Path, version: str, buildx: bool = False) -> Path:
    """A `docker` executable in `folder` whose calls are logged to folder/calls.log."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "docker"
    script.write_text(FAKE_DOCKER.format(log=folder / "calls.log", version=version, buildx_status=0 if buildx else 1))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
