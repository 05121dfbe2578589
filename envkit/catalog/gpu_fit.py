"""Whether an image's torch runs on this host's GPUs, and what to pick instead:
the driver against the image's CUDA (env/compat.toml [drivers]), each GPU's
compute capability against the architectures its torch has kernels for
(`torch.cuda.get_arch_list()`, measured: env/compat.toml gpu_archs, or the
io.envkit.cuda.archs label `invoke publish` sets). `invoke doctor` says it for
every line; `invoke run`, `shell` and `lab` refuse to start GPU work that would
end in "no kernel image is available for execution on the device"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from envkit.catalog.data_files import GPU_ARCH
from envkit.catalog.variants import (
    Variant,
    builds_on,
    compat,
    declared,
    default_arch,
    driver_needs,
    lines,
    make,
    measured_gpu_archs,
    pins_for,
    platform_cuda,
)
from envkit.core.reports import HostGpu

ARCHS_LABEL = "io.envkit.cuda.archs"  # set by `invoke publish` from what `invoke test` measured


def version_of(text: str) -> tuple[int, ...]:
    """ "580.65.06" -> (580, 65, 6): driver versions and compute capabilities, compared."""
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def runs_on(archs: Iterable[str], compute_cap: str) -> bool:
    """A build runs on a GPU of `compute_cap` ("8.9") when one of its kernels does:
    a cubin (sm_86) on its own major at the same or a higher minor (8.6, 8.9),
    a family cubin (sm_100f) likewise, an arch-specific one (sm_90a) on that
    capability alone; PTX (compute_90) is compiled by the driver for that
    capability or any newer one (CUDA C Programming Guide, "Binary
    Compatibility" and "PTX Compatibility")."""
    gpu = version_of(compute_cap)
    for arch in archs:
        match = GPU_ARCH.fullmatch(arch)
        if match is None or len(gpu) != 2:
            continue
        kind, built, suffix = match[1], (int(match[2]), int(match[3])), match[4]
        if kind == "compute" and gpu >= built:
            return True
        if kind == "sm" and (gpu == built if suffix == "a" else gpu[0] == built[0] and gpu[1] >= built[1]):
            return True
    return False


def _span(archs: tuple[str, ...]) -> str:
    return f"{archs[0]} to {archs[-1]}" if len(archs) > 2 else " and ".join(archs)


def problem(gpu: HostGpu, cuda: str, archs: tuple[str, ...] | None) -> str:
    """Why this GPU and its driver cannot run a CUDA build with kernels for
    `archs` (None: not measured, judged by [drivers] oldest_gpu), or ""."""
    need = driver_needs().get(cuda)
    if need is None:
        return "no driver data in env/compat.toml"
    if version_of(gpu.driver) < version_of(need.minimum):
        return f"needs driver {need.minimum} or newer"
    if not gpu.compute_cap:  # a driver before R510 does not say
        return ""
    if archs is not None:
        if runs_on(archs, gpu.compute_cap):
            return ""
        return f"has no kernels for compute capability {gpu.compute_cap} (it has {_span(archs) or 'none'})"
    if need.oldest_gpu and version_of(gpu.compute_cap) < version_of(need.oldest_gpu):
        return f"needs a GPU of compute capability {need.oldest_gpu} or newer (this one is {gpu.compute_cap})"
    return ""


@dataclass(frozen=True)
class ImageGpuNeeds:
    """What an image's torch needs of a GPU: its CUDA and its kernels' architectures."""

    what: str  # how the user knows it: "cu121-pip", or the image reference
    cuda: str | None  # None: a CPU build, which needs no GPU
    archs: tuple[str, ...] | None  # None: not measured

    @classmethod
    def of_variant(cls, variant: Variant) -> ImageGpuNeeds:
        return cls(variant.name, variant.cuda, variant.gpu_archs)

    @classmethod
    def of_labels(cls, what: str, labels: Mapping[str, str]) -> ImageGpuNeeds:
        """From a kit image's labels: what `invoke publish` measured where it
        set them, else the build's platform and torch looked up in the table."""
        platform = labels.get("io.envkit.platform", "")
        cuda = labels.get("io.envkit.cuda") or platform_cuda(platform or "cpu")
        said = tuple(arch for arch in labels.get(ARCHS_LABEL, "").split() if GPU_ARCH.fullmatch(arch))
        if said:
            archs: tuple[str, ...] | None = said
        else:
            torch = labels.get("org.opencontainers.image.version", "")
            recipe = labels.get("io.envkit.recipe", "")
            archs = measured_gpu_archs(torch, platform, recipe, labels.get("io.envkit.arch") or default_arch())
        return cls(what, None if cuda in (None, "", "none") else cuda, archs)


def candidates(arch: str) -> tuple[Variant, ...]:
    """The CUDA pip images a team can pick on this architecture: the seed's
    declared ones, then each line's (env/variants.toml [lines])."""
    seed = [v for v in declared() if v.recipe_facts.wheels and v.arch == arch and v.cuda and not v.dev]
    on_lines = [
        make(platform, "pip", line.torch, line.python, arch)
        for line in lines().values()
        for platform in line.platforms
        if platform_cuda(platform) and platform in builds_on(arch, compat()[line.torch])
    ]
    return tuple(seed + on_lines)


def alternatives(gpu: HostGpu, arch: str) -> list[str]:
    """Those of the candidates known to run on the GPU (their kernels measured),
    as the flags that select them: `--cuda 13.2` (current line, torch 2.15.0)."""
    return [
        f"`{variant.flags()}` ({pins_for(variant.platform).line} line, torch {variant.torch})"
        for variant in candidates(arch)
        if variant.gpu_archs is not None and not problem(gpu, variant.cuda or "", variant.gpu_archs)
    ]


def refusal(gpus: list[HostGpu], needs: ImageGpuNeeds, arch: str) -> str:
    """One message when the image cannot use a GPU of this host, saying what
    runs instead; "" when every GPU can run it (or it needs none)."""
    if needs.cuda is None or needs.cuda not in driver_needs():
        return ""  # a CPU build; or a CUDA the table cannot judge, which doctor names rather than run refusing it
    for gpu in gpus:
        if why := problem(gpu, needs.cuda, needs.archs):
            instead = alternatives(gpu, arch)
            pick = (
                f"pick {' or '.join(instead)} instead, or"
                if instead
                else "no image of the team is known to run on it (only measured kernels count);"
            )
            return (
                f"{needs.what} (CUDA {needs.cuda}) cannot run on {gpu.name} "
                f"(driver {gpu.driver}, compute capability {gpu.compute_cap or 'unreported'}): it {why}.\n"
                f"{pick} run with --gpus none to use the CPU."
            )
    return ""
