"""The registry `invoke bench` pushes to and pulls from: Debian's
docker-registry (distribution) on 127.0.0.1 with its storage in a scratch
folder, so that what a push uploaded is what its storage gained, and every
contender's first push finds it empty."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from envkit.bench.measure import stored_bytes
from envkit.core.errors import KitError, UsageError

START_SECONDS = 30


def registry_binary() -> str:
    found = shutil.which("docker-registry")
    if not found:
        raise UsageError(
            "invoke bench pushes to a registry of its own and needs Debian's docker-registry: "
            "`apt-get install docker-registry` (.ci/setup installs it)."
        )
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ScratchRegistry:
    """`with ScratchRegistry(folder) as registry:` a running, empty registry;
    stopped on leaving (error and interrupt included). The folder is the
    caller's scratch space and goes with it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.storage = folder / "storage"
        self.host = f"127.0.0.1:{_free_port()}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ScratchRegistry:
        binary = registry_binary()
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.yml"
        config.write_text(
            "version: 0.1\nlog: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}}}\n"
            f"http: {{addr: {self.host}}}\n"
        )
        with (self.folder / "registry.log").open("ab") as log:
            self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise KitError(f"docker-registry did not start on {self.host}; see {self.folder / 'registry.log'}")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def reference(self, repository: str, tag: str) -> str:
        return f"{self.host}/{repository}:{tag}"

    def blobs(self) -> dict[str, int]:
        return stored_bytes(self.storage)
