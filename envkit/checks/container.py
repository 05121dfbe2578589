"""A test container: started once per `invoke test`, every exec under a time
limit, always removed afterwards."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import cast

import docker
from docker.models.containers import Container

from envkit.core import engine
from envkit.core.errors import UsageError

TEST_LABEL = "io.envkit.test"


@dataclass(frozen=True)
class Exec:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.code == 0

    def tail(self, lines: int = 6) -> str:
        text = (self.stderr or self.stdout).strip().splitlines()
        return " | ".join(text[-lines:])


class ProbeContainer:
    """`with ProbeContainer(client, image_id, gpus=False) as box: box.exec([...])`;
    `environment`: what every program in it gets (QEMU_CPU when emulated);
    `platform`: that platform of the index `image_id` names."""

    def __init__(
        self,
        client: docker.DockerClient,
        image_id: str,
        gpus: bool,
        environment: Mapping[str, str] | None = None,
        platform: str = "",
    ) -> None:
        self.client = client
        self.image_id = image_id
        self.platform = platform  # one platform of the index image_id names; "" for an image
        self.gpus = gpus
        self.environment = dict(environment or {})
        self.container: Container | None = None

    def __enter__(self) -> ProbeContainer:
        device_requests = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if self.gpus else None
        # No network: the checks must not need one. A larger /dev/shm than
        # Docker's 64 MB, as DataLoader workers need.
        container = engine.create_container(
            self.client,
            self.image_id,
            ["sleep", "infinity"],
            network_mode="none",
            shm_size="1g",
            labels={TEST_LABEL: "1"},
            device_requests=device_requests,
            environment=self.environment,
            **({"platform": self.platform} if self.platform else {}),
        )
        try:
            # Created apart from started: a start that fails (no GPU runtime)
            # must not leave the container behind.
            container.start()
            self.container = container
        except docker.errors.APIError as error:
            container.remove(force=True)
            if self.gpus and "capabilities: [[gpu]]" in str(error):
                raise UsageError(
                    "--gpus all: this Docker engine cannot give containers GPUs (no NVIDIA container "
                    "toolkit). Install it, or run the tests with --gpus none."
                ) from None
            raise
        except BaseException:  # interrupted while it started
            container.remove(force=True)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.container is not None:
            self.container.remove(force=True)

    def put_file(self, folder: str, name: str, data: bytes) -> str:
        """Write one file into the container (the folder is made); its path."""
        assert self.container is not None, "use ProbeContainer as a context manager"
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            entry = tarfile.TarInfo(f"{folder.strip('/')}/{name}")
            entry.size, entry.mode = len(data), 0o644
            tar.addfile(entry, io.BytesIO(data))
        self.container.put_archive("/", archive.getvalue())
        return f"/{folder.strip('/')}/{name}"

    def exec(self, argv: list[str], timeout: int = 600) -> Exec:
        """Run argv in the container; coreutils' timeout ends it after `timeout` s (exit 124)."""
        assert self.container is not None, "use ProbeContainer as a context manager"
        started = time.monotonic()
        result = self.container.exec_run(["timeout", "--kill-after=10", str(timeout), *argv], demux=True)
        # demux=True: output is a (stdout, stderr) pair, each bytes or None.
        stdout, stderr = cast(tuple[bytes | None, bytes | None], result.output)
        return Exec(
            result.exit_code if result.exit_code is not None else -1,
            (stdout or b"").decode(errors="replace"),
            (stderr or b"").decode(errors="replace"),
            round(time.monotonic() - started, 2),
        )
