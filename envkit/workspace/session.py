"""`invoke run` and `invoke shell`: one container of the team's image with the
checkout mounted at /workspace, as the caller, caches kept in volumes,
shared memory for DataLoader workers, GPUs when the host has them.

The SDK creates the container (typed options, and a handle to remove it by
whatever way the task ends); a docker client attaches the terminal to it
(`docker start --attach --interactive`), since only the CLI drives a TTY.
That client stays in our process group: in the foreground, so it may read
the terminal. The command's exit code becomes the task's.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.types import DeviceRequest, Mount

from envkit.catalog import gpu_fit
from envkit.core import engine, gpus, proc
from envkit.core.cli import checked_folder
from envkit.core.errors import Invalid, InvalidValue, KitError, UsageError
from envkit.core.settings import Settings, size
from envkit.images import emulation
from envkit.workspace import caches, identity
from envkit.workspace.image import Chosen

RUN_LABEL = "io.envkit.run"  # on every container `invoke run`/`shell` start
WORKSPACE = "/workspace"
STOP_SECONDS = 10
_ENV_NAME = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


def say(line: str) -> None:
    """The kit's own lines go to stderr: stdout is the command's."""
    print(f"envkit: {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Port:
    host: int
    container: int

    @classmethod
    def parse(cls, value: str) -> Port:
        """`8888` (the same port on both sides) or `HOST:CONTAINER`."""
        parts = value.split(":")
        if len(parts) in (1, 2) and all(part.isdigit() and 0 < int(part) < 65536 for part in parts):
            return cls(int(parts[0]), int(parts[-1]))
        raise InvalidValue("-p/--port", value, "expected PORT or HOST_PORT:CONTAINER_PORT, each 1-65535")


@dataclass(frozen=True)
class RunOptions:
    """Every flag of `invoke run`/`shell`, checked."""

    command: tuple[str, ...]
    workdir: Path
    env: dict[str, str]
    ports: tuple[Port, ...]
    gpus: str
    ipc_host: bool
    shm_bytes: int | None  # None: sized from the engine's memory (default_shm)
    cache_volumes: bool
    tty: bool

    @classmethod
    def parse(
        cls,
        command: list[str],
        workdir: str | None,
        env: list[str],
        ports: list[str],
        gpus_choice: str,
        ipc: str | None,
        shm_size: str | None,
        cache_volumes: bool,
        settings: Settings,
    ) -> RunOptions:
        fix = f"give the folder to mount at {WORKSPACE}"
        folder = checked_folder("--workdir", workdir, fix) if workdir else current_checkout()
        variables = {}
        for item in env:
            name, sep, value = item.partition("=")
            if not sep or not name or name[0].isdigit() or set(name) - set(_ENV_NAME):
                raise InvalidValue("-e/--env", item, "expected NAME=VALUE (NAME: letters, digits, _)")
            variables[name] = value
        if ipc not in (None, "host"):
            raise InvalidValue("--ipc", ipc, "the one choice is `host`", "leave it out for a private /dev/shm")
        if ipc and shm_size:
            raise UsageError("--ipc host and --shm-size both given: the host's /dev/shm has its own size; pick one.")
        try:  # the flag is read here; the setting was, by Settings.from_config
            shm = size(shm_size) if shm_size else settings.shm_size
        except Invalid as error:
            raise InvalidValue("--shm-size", shm_size or "", error.problem, error.fix) from None
        tty = sys.stdin.isatty() and sys.stdout.isatty()
        return cls(
            tuple(command),
            folder,
            variables,
            tuple(Port.parse(port) for port in ports),
            gpus.check_choice(gpus_choice),
            ipc == "host",
            shm.bytes if shm and not ipc else None,
            cache_volumes,
            tty,
        )


def current_checkout() -> Path:
    """The git checkout the caller is in (their repo, not necessarily the
    kit's), else the folder they are in."""
    here = Path.cwd().resolve()
    try:
        run = proc.capture(["git", "rev-parse", "--show-toplevel"], cwd=here, timeout=10)
    except (OSError, subprocess.TimeoutExpired):  # no git: the folder itself
        return here
    top = run.stdout.strip()
    return Path(top).resolve() if run.returncode == 0 and top else here


def default_shm(memory_bytes: int) -> int:
    """Half the engine's memory, whole GiB, at least 1 GiB: tmpfs pages cost
    nothing until written, and DataLoader workers need far more than 64 MB."""
    return max(2**30, memory_bytes // 2 // 2**30 * 2**30)


def _check_ports_free(ports: tuple[Port, ...]) -> None:
    """A port in use fails the container's start; say so before anything starts."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port.host))
            except OSError:
                raise UsageError(f"-p {port.host}: port {port.host} is in use on this host; pick another.") from None


def container_dir(workdir: Path) -> str:
    """Where to start: the caller's folder when it is inside the mount."""
    here = Path.cwd().resolve()
    if here.is_relative_to(workdir):
        return str(Path(WORKSPACE) / here.relative_to(workdir))
    return WORKSPACE


def _gpu_requests(client: docker.DockerClient, choice: str, chosen: Chosen) -> list[DeviceRequest]:
    on_host = gpus.host_gpus()
    if choice == "all":
        gpus.require_gpus(client, on_host)
    if gpus.use_gpus(choice, client, on_host):
        # Before anything starts: torch would start, then fail at its first kernel
        # ("no kernel image is available") or at CUDA's initialisation (driver too old).
        labels = chosen.image.labels or {}
        needs = gpu_fit.ImageGpuNeeds.of_labels(chosen.reference, labels)
        arch = labels.get("io.envkit.arch") or str(chosen.image.attrs.get("Architecture") or "")
        if refusal := gpu_fit.refusal(on_host, needs, arch):
            raise UsageError(refusal)
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    if choice == "auto":
        why = "no NVIDIA GPU" if not on_host else "no NVIDIA container toolkit"
        say(f"{why} on this host: running on the CPU.")
    return []


def run_in_image(
    chosen: Chosen,
    options: RunOptions,
    settings: Settings,
    client: docker.DockerClient,
    started: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> int:
    """Run the command (or bash) in a new container; return its exit code.
    `started` is called with the attached client once the container runs
    (`invoke lab` waits there for its server). The container is removed
    however this ends: exit, error, Ctrl-C, SIGTERM."""
    _check_ports_free(options.ports)
    client_cli = engine.docker_cli(settings.docker_client)
    devices = _gpu_requests(client, options.gpus, chosen)
    uid, gid = identity.caller_ids(chosen.user)
    shm_bytes = None if options.ipc_host else options.shm_bytes or default_shm(int(client.info()["MemTotal"]))
    mounts = caches.NO_CACHES
    if options.cache_volumes:
        host_dir = Path(settings.cache_dir).expanduser().resolve() if settings.cache_dir else None
        mounts = caches.prepare(client, uid, host_dir)
    emulated = emulation.environment(str(chosen.image.attrs.get("Architecture", "")), emulation.engine_arch(client))
    container = engine.create_container(
        client,
        str(chosen.image.id),
        list(options.command) or None,
        labels={RUN_LABEL: "1"},
        user=f"{uid}:{gid}",
        working_dir=container_dir(options.workdir),
        mounts=[Mount(WORKSPACE, str(options.workdir), type="bind"), *mounts.mounts],
        environment={**emulated, **mounts.env, **options.env},  # the user's --env has the last word
        shm_size=shm_bytes,
        ipc_mode="host" if options.ipc_host else None,
        device_requests=devices or None,
        ports={f"{p.container}/tcp": ("127.0.0.1", p.host) for p in options.ports} or None,
        init=True,  # a real PID 1: signals reach the command, zombies are reaped
        tty=options.tty,
        stdin_open=True,
    )
    attach: subprocess.Popen[bytes] | None = None
    try:
        # HOME is then set by the runtime from the new passwd entry at start.
        identity.settle(container, uid, gid, mounts.folders)
        attach = subprocess.Popen([client_cli, "start", "--attach", "--interactive", str(container.id)])
        if started is not None:
            started(attach)
        client_code = attach.wait()
        container.reload()
        if container.status == "created":
            raise KitError("the container did not start; the docker client said why, above.")
        if container.status == "running":  # the client ended first: nothing to hand the output to
            raise KitError(f"the docker client exited ({client_code}) while the command ran; it was stopped.")
        return int(container.attrs["State"]["ExitCode"])
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
        if attach is not None and attach.poll() is None:
            attach.terminate()
            try:
                attach.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                attach.kill()
