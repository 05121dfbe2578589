"""The host's NVIDIA GPUs and whether Docker can hand them to a container:
the meaning of `--gpus auto|none|all` for `invoke test`, `run` and `shell`.

Measured on this machine, so it speaks for a local daemon; a remote one
(DOCKER_HOST=tcp://...) has its own GPUs and the answer may differ.
"""

from __future__ import annotations

import shutil
import subprocess

import docker

from envkit.core import proc
from envkit.core.errors import UsageError
from envkit.core.reports import HostGpu

GPU_CHOICES = ("auto", "none", "all")
TOOLKIT_TOOLS = ("nvidia-container-runtime-hook", "nvidia-ctk", "nvidia-container-cli")


def check_choice(choice: str) -> str:
    if choice not in GPU_CHOICES:
        raise UsageError(f"--gpus {choice!r}: choose one of {', '.join(GPU_CHOICES)}.")
    return choice


def host_gpus() -> list[HostGpu]:
    """The host's NVIDIA GPUs and driver, as nvidia-smi reports them; [] without one."""
    if shutil.which("nvidia-smi") is None:
        return []
    # compute_cap is a field from driver R510 on; an older nvidia-smi refuses the whole query.
    for fields in ("name,driver_version,compute_cap", "name,driver_version"):
        try:
            run = proc.capture(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"])
        except (OSError, subprocess.TimeoutExpired):  # a hung driver is no GPU to hand out
            return []
        if run.returncode == 0:
            break
    rows = [line.split(", ") for line in run.stdout.strip().splitlines() if run.returncode == 0 and line]
    return [HostGpu(name=row[0], driver=row[1], compute_cap=row[2] if len(row) > 2 else "") for row in rows]


def has_gpu_runtime(client: docker.DockerClient) -> bool:
    """The NVIDIA container toolkit: a registered `nvidia` runtime, or the hook
    that Docker's `--gpus` calls."""
    runtimes = client.info().get("Runtimes") or {}
    return "nvidia" in runtimes or any(shutil.which(tool) for tool in TOOLKIT_TOOLS)


def use_gpus(choice: str, client: docker.DockerClient, gpus_on_host: list[HostGpu]) -> bool:
    """`auto` gives the container GPUs when the host has both GPUs and a GPU runtime."""
    if choice == "auto":
        return bool(gpus_on_host) and has_gpu_runtime(client)
    return choice == "all"


def require_gpus(client: docker.DockerClient, gpus_on_host: list[HostGpu]) -> None:
    """`--gpus all` on a host that cannot give them: say which part is missing, start nothing."""
    if not gpus_on_host:
        raise UsageError(
            "--gpus all: this host has no NVIDIA GPU (nvidia-smi finds none). "
            "Use --gpus auto or none to run on the CPU."
        )
    if not has_gpu_runtime(client):
        raise UsageError(
            "--gpus all: this Docker engine cannot give containers GPUs (no NVIDIA container toolkit). "
            "Install it (nvidia-container-toolkit), or use --gpus none."
        )
