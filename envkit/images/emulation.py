"""Which architecture the Docker engine runs natively, and whether it can run
another one's programs under QEMU user emulation (binfmt_misc), as `invoke
base`, `build` and `test` need for a variant of another architecture and
`invoke doctor` reports."""

from __future__ import annotations

from pathlib import Path

import docker

from envkit.catalog.variants import arch_of_machine, arches, host_arch

BINFMT = Path("/proc/sys/fs/binfmt_misc")

# The CPU model QEMU emulates for each architecture. Its default ("max", every
# feature QEMU knows, SVE at 512-bit vectors in user mode) gives torch.compile
# wrong answers: inductor builds its C++ kernels for the vector width the CPU
# reports, and their output was off by up to 3e20 (torch 2.15.0 aarch64, QEMU
# 11.1.2). The same program matched eager to 3e-7 on max with 128-bit SVE
# vectors, on neoverse-n1 and on neoverse-n2: the nearest model QEMU has to
# Grace's Neoverse V2 (Armv9, SVE2, 128-bit vectors), so a test here sees
# what Grace would run.
EMULATED_CPU = {"arm64": "neoverse-n2"}


def engine_arch(client: docker.DockerClient) -> str | None:
    """The engine's own architecture (`docker info`: x86_64, aarch64) as the kit names it."""
    return arch_of_machine(str(client.info().get("Architecture", "")))


def qemu_registered(arch: str) -> bool:
    """Whether this machine's kernel hands the architecture's programs to QEMU."""
    try:
        return (BINFMT / f"qemu-{arches()[arch].machine}").read_text().splitlines()[0] == "enabled"
    except (OSError, IndexError):
        return False


def environment(arch: str, native: str | None) -> dict[str, str]:
    """What a container of `arch` needs in its environment on an engine of
    `native`: QEMU_CPU (qemu-user reads it at each program's start) when emulated."""
    if arch == native or arch not in EMULATED_CPU:
        return {}
    return {"QEMU_CPU": EMULATED_CPU[arch]}


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
