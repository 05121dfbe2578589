"""A real registry on the loopback, and the port and tag clean-up its tests need."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import docker

from envkit.core import engine


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def untag(client: docker.DockerClient, prefix: str) -> None:
    """Remove every reference starting with `prefix`: tags, and the digest
    references (`REPOSITORY@sha256:...`) a pull by digest makes, which the
    containerd store lists among the tags and the classic store among the
    digests. An image left with no reference goes with its last one."""
    references = {
        reference
        for image in client.images.list()
        for reference in [*image.tags, *(image.attrs.get("RepoDigests") or ())]
        if reference.startswith(prefix)
    }
    for tag in sorted(references):
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
        engine for it: its port is gone after the run, and the references would
        pile up on the engine run after run (a release pulled by digest holds
        its compressed layers, gigabytes on the containerd store). What other
        tags name stays."""
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
