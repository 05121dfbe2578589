"""Which architecture the Docker engine runs natively, and whether it can run
another one's programs under QEMU user emulation (binfmt_misc), as `invoke
base`, `build` and `test` need for a variant of another architecture and
`invoke doctor` reports."""

from __future__ import annotations

from pathlib import Path

import docker

from envkit.catalog.variants import arch_of_machine, arches, host_arch

BINFMT = Path("/proc/sys/fs/binfmt_misc")


def engine_arch(client: docker.DockerClient) -> str | None:
    """The engine's own architecture (`docker info`: x86_64, aarch64) as the kit names it."""
    return arch_of_machine(str(client.info().get("Architecture", "")))


def qemu_registered(arch: str) -> bool:
    """Whether this machine's kernel hands the architecture's programs to QEMU."""
    try:
        return (BINFMT / f"qemu-{arches()[arch].machine}").read_text().splitlines()[0] == "enabled"
    except (OSError, IndexError):
        return False


def emulator_problem(arch: str, native: str | None = None) -> str:
    """Why this machine cannot run the architecture's programs, or "" (its
    own, or QEMU registered). `native`: the engine's, when known; else this machine's."""
    if arch == (native or host_arch()) or qemu_registered(arch):
        return ""
    return (
        f"this machine cannot run {arches()[arch].docker_platform} programs: no qemu-{arches()[arch].machine} "
        "in binfmt_misc. Install qemu-user-static and binfmt-support; QEMU 7.2 (Debian 12's) crashes "
        "importing torch 2.11 and later, `bash .ci/setup` registers 11.1."
    )
