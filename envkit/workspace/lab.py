"""`invoke lab`: JupyterLab in a dev image, in the container `invoke shell`
would start (the checkout at /workspace, as the caller, the same caches,
shared memory and GPU rules), published on 127.0.0.1 only. The URL with its
token is printed once the server answers with that token; Ctrl-C stops and
removes the container."""

from __future__ import annotations

import dataclasses
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request

import docker

from envkit.core.errors import KitError, UsageError
from envkit.core.settings import Settings
from envkit.workspace.image import Chosen
from envkit.workspace.session import WORKSPACE, Port, RunOptions, run_in_image, say

CONTAINER_PORT = 8888
READY_SECONDS = 180  # a cold start on a loaded laptop: the server imports ~90 packages
DEV_LABEL = "io.envkit.runtime-image"  # docker/dev.Dockerfile sets it; runtime images lack it


def host_port(choice: str) -> int:
    """`auto`: a port the kernel says is free now; else the number given."""
    if choice == "auto":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    if choice.isdigit() and 0 < int(choice) < 65536:
        return int(choice)
    raise UsageError(f"--port {choice[:40]!r}: give `auto` (a free port) or a port number, 1-65535.")


def server_command(port: int) -> list[str]:
    """JupyterLab on all of the container's interfaces (Docker publishes the
    port on the host's loopback only), rooted at the checkout, and printing
    the URL the host sees."""
    return [
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=0.0.0.0",
        f"--port={CONTAINER_PORT}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={WORKSPACE}",
        f"--ServerApp.custom_display_url=http://127.0.0.1:{port}/lab",
    ]


def status(url: str, token: str | None, timeout: float = 5) -> int:
    """The HTTP status of GET {url}/api/status, with the token or without."""
    request = urllib.request.Request(f"{url}/api/status")
    if token is not None:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wait_until_serving(url: str, token: str, client: subprocess.Popen[bytes], seconds: float = READY_SECONDS) -> None:
    """Until the server answers 200 to the token; fails as soon as the
    container has stopped (its output, above, says why)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.poll() is not None:
            raise KitError("JupyterLab stopped before it answered; its output above says why.")
        try:
            if status(url, token, timeout=2) == 200:
                return
        except (OSError, urllib.error.URLError):
            pass  # not listening yet
        time.sleep(0.25)
    raise KitError(f"JupyterLab did not answer on {url} within {seconds:.0f} s; it was stopped.")


def start_lab(chosen: Chosen, options: RunOptions, settings: Settings, client: docker.DockerClient, port: int) -> int:
    """Serve until Ctrl-C (or the server stops); `port` on the host's loopback (from host_port)."""
    if DEV_LABEL not in chosen.image.labels:
        raise UsageError(
            f"{chosen.reference} is not a dev image (no {DEV_LABEL} label): it has no JupyterLab. "
            "Build the variant's with `invoke build --dev` (after `invoke build` and `invoke test`)."
        )
    token = secrets.token_hex(24)
    url = f"http://127.0.0.1:{port}"
    lab = dataclasses.replace(
        options,
        command=tuple(server_command(port)),
        env={**options.env, "JUPYTER_TOKEN": token},
        ports=(*options.ports, Port(port, CONTAINER_PORT)),
        tty=False,  # Jupyter asks "shut down? (y/[n])" on Ctrl-C at a terminal; the kit stops it instead
    )
    started = time.monotonic()

    def announce(attached: subprocess.Popen[bytes]) -> None:
        wait_until_serving(url, token, attached)
        print(f"JupyterLab: {url}/lab?token={token}", flush=True)
        say(f"serving {options.workdir} at {WORKSPACE} ({time.monotonic() - started:.1f} s); Ctrl-C stops it")

    return run_in_image(chosen, lab, settings, client, started=announce)
