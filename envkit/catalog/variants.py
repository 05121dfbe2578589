"""What can be built: the variants in env/variants.toml and the torch
compatibility table in env/compat.toml. Code reads this data; it repeats none
of its versions.

The team's variants are the default pins on each declared platform and
recipe. Any other combination the table allows (another torch, another CUDA
build, another Python) is a variant too: it gets its own recipe files next to
the defaults, named by `stem`, once `invoke lock` has written them.
"""

from __future__ import annotations

import dataclasses
import platform as host_platform
import re
from dataclasses import dataclass
from functools import cache

from envkit.catalog.data_files import (
    Arch,
    DriverNeeds,
    IndexUrls,
    Line,
    LockSettings,
    Pins,
    arch_builds,
    compat_file,
    variants_file,
)
from envkit.catalog.recipes import DEFAULT_RECIPE, RECIPE_FACTS, Recipe

DEV_SUFFIX = "-dev"  # a dev image's name (and, in envkit/checks/tags.py, its tags) ends with it
_CUDA_FLAG = re.compile(r"(\d{2})\.(\d)")


@dataclass(frozen=True)
class Release:
    """One torch release of the compatibility table."""

    torch: str
    torchvision: str
    torchaudio: str | None
    pypi_default: str
    platforms: tuple[str, ...]
    pythons: tuple[str, ...]
    conda_cuda: tuple[str, ...]
    cudnn: tuple[tuple[str, str], ...] = ()
    pypi_arch_builds: tuple[tuple[str, str], ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class LinePins:
    """The torch and Python `--cuda` alone selects for a platform: the seed's
    [pins], or the line of env/variants.toml [lines] that names the platform."""

    line: str  # "seed" for [pins]
    torch: str
    python: str


SEED = "seed"


@dataclass(frozen=True)
class Variant:
    """One buildable image: a platform (cpu, cu118, ...), a recipe kind, the
    versions, and where its recipe files live."""

    platform: str
    recipe: str
    torch: str
    torchvision: str
    torchaudio: str  # "" where no torchaudio release pairs with the torch (none is installed)
    python: str
    dockerfile: str
    base_image: str  # "" when env/variants.toml pins none for this Python
    stem: str  # recipe files: env/<recipe>/<stem>.*
    default: bool  # the default pins
    index_url: str = ""  # pip: where torch comes from
    extra_index_urls: tuple[str, ...] = ()  # pip: PyPI, beside the PyTorch index
    channels: tuple[str, ...] = ()  # conda
    dev: bool = False  # the dev image on top of the runtime image (`--dev`)
    arch: str = "amd64"  # a key of env/variants.toml [arches]

    @property
    def arch_data(self) -> Arch:
        return arches()[self.arch]

    @property
    def docker_platform(self) -> str:
        """`linux/arm64`: what BuildKit builds it for and Docker runs it as."""
        return self.arch_data.docker_platform

    @property
    def name(self) -> str:
        """The local image tag and report name: `cu121-pip`, `cu121-pip-torch2.5.1`, `cu121-pip-dev`."""
        return f"{self.platform}-{self.recipe}{self.stem.removeprefix(self.platform)}" + (
            DEV_SUFFIX if self.dev else ""
        )

    @property
    def runtime(self) -> Variant:
        """The runtime variant a dev variant is built on (itself when it is one)."""
        return make(self.platform, self.recipe, self.torch, self.python, self.arch) if self.dev else self

    def with_dev(self) -> Variant:
        """Its dev image: the same pins, docker/dev.Dockerfile, the dev lock.
        Only pip variants have one (selection.dev_of says so to the user)."""
        return dataclasses.replace(self.runtime, dev=True, dockerfile=variants_file().recipes.dev.dockerfile)

    @property
    def cuda(self) -> str | None:
        return platform_cuda(self.platform)

    @property
    def gpu_archs(self) -> tuple[str, ...] | None:
        """The GPU architectures its torch carries kernels for (None: not measured)."""
        return measured_gpu_archs(self.torch, self.platform, self.recipe, self.arch)

    @property
    def cuda_flag(self) -> str:
        return cuda_flag(self.platform)

    @property
    def recipe_facts(self) -> Recipe:
        return RECIPE_FACTS[self.recipe]

    @property
    def input_file(self) -> str:
        """What a lock is made from: top-level requirements, or an environment file."""
        if self.dev:
            return variants_file().recipes.dev.input
        return self.recipe_facts.input_file.format(stem=self.stem)

    @property
    def lock_file(self) -> str:
        if self.dev:
            return f"env/pip/{self.stem}.dev.txt"
        return self.recipe_facts.lock_file.format(stem=self.stem, conda_platform=lock_settings().conda_platform)

    def disk_gb(self, store: str = "classic") -> float:
        """Free disk under Docker's root its build needs on that image store (env/variants.toml [disk])."""
        needs = variants_file().disk.on(store)
        if self.dev:
            return needs.dev
        return needs.cpu if self.platform == "cpu" else needs.cuda

    def pull_disk_gb(self, store: str = "classic") -> float:
        """Free disk under Docker's root a pull of its image needs on that image store."""
        needs = variants_file().disk.on(store)
        return needs.pull_cpu if self.platform == "cpu" else needs.pull_cuda

    def flags(self) -> str:
        """The command-line flags that select this variant."""
        flags = f"--cuda {self.cuda_flag}"
        if self.recipe != DEFAULT_RECIPE:
            flags += f" --recipe {self.recipe}"
        pins = pins_for(self.platform)
        if self.torch != pins.torch:
            flags += f" --torch {self.torch}"
        if self.python != pins.python:
            flags += f" --python {self.python}"
        if self.arch != default_arch():
            flags += f" --arch {self.arch}"
        return flags + (" --dev" if self.dev else "")


def platform_cuda(platform: str) -> str | None:
    """`cu121` -> `12.1`, `cu118` -> `11.8`, `cpu` -> None."""
    if platform == "cpu":
        return None
    digits = platform.removeprefix("cu")
    return f"{digits[:-1]}.{digits[-1]}"


def measured_gpu_archs(torch: str, platform: str, recipe: str, arch: str) -> tuple[str, ...] | None:
    """What `torch.cuda.get_arch_list()` said inside a pip image of this build
    (env/compat.toml gpu_archs); None where none was measured: a conda build, a
    CPU one, a release the table lacks, a build not made here."""
    row = compat_file().torch.get(torch)
    facts = RECIPE_FACTS.get(recipe)  # None: a recipe no variant has (an image's labels may name anything)
    if row is None or facts is None or not facts.wheels or platform_cuda(platform) is None:
        return None
    return row.gpu_archs.get(f"{platform}-{arch}", row.gpu_archs.get(platform))


def cuda_flag(platform: str) -> str:
    """`cu121` -> `12.1`, `cpu` -> `cpu`: the --cuda value that selects a platform."""
    return platform_cuda(platform) or "cpu"


def cuda_platform(flag: str) -> str | None:
    """`--cuda 12.1` -> `cu121`, `--cuda cpu` -> `cpu`; None when malformed."""
    if flag == "cpu":
        return "cpu"
    match = _CUDA_FLAG.fullmatch(flag)
    return f"cu{match[1]}{match[2]}" if match else None


@cache
def compat() -> dict[str, Release]:
    return {
        torch: Release(
            torch=torch,
            torchvision=row.torchvision,
            torchaudio=row.torchaudio,
            pypi_default=row.pypi_default,
            platforms=row.platforms,
            pythons=row.pythons,
            conda_cuda=row.conda_cuda,
            cudnn=tuple(sorted(row.cudnn.items())),
            pypi_arch_builds=tuple(sorted(row.pypi_arch_builds.items())),
            notes=row.notes,
        )
        for torch, row in compat_file().torch.items()
    }


def default_pins() -> Pins:
    return variants_file().pins


def lines() -> dict[str, Line]:
    return variants_file().lines


def pins_for(platform: str | None) -> LinePins:
    """`--cuda 13.2` without `--torch`: the line that names cu132, else the seed's pins."""
    for name, line in lines().items():
        if platform in line.platforms:
            return LinePins(name, line.torch, line.python)
    pins = default_pins()
    return LinePins(SEED, pins.torch, pins.python)


def builds_on(arch: str, release: Release) -> tuple[str, ...]:
    """The builds of a release an architecture has (aarch64: PyPI's wheel only)."""
    return arch_builds(arch, arches()[arch], compat_file().torch[release.torch], default_arch())


def indexes() -> IndexUrls:
    return variants_file().indexes


def lock_settings() -> LockSettings:
    return variants_file().lock


def arches() -> dict[str, Arch]:
    return variants_file().arches


def default_arch() -> str:
    """Every variant's architecture unless it names another: the first in [arches]."""
    return next(iter(arches()))


def arch_of_machine(machine: str) -> str | None:
    """`aarch64` (Linux) or `arm64` (macOS) -> `arm64`; None for one no image is built for."""
    machine = machine.lower()
    for name, arch in arches().items():
        if machine in (arch.machine, name):
            return name
    return None


def host_arch() -> str | None:
    """The architecture of the machine the kit runs on."""
    return arch_of_machine(host_platform.machine())


def make(platform: str, recipe: str, torch: str, python: str, arch: str | None = None) -> Variant:
    """The variant for a combination the table allows (selection.py checks that)."""
    source = variants_file().recipes.of(recipe)
    wheels = RECIPE_FACTS[recipe].wheels
    release = compat()[torch]
    pins = pins_for(platform)
    arch = arch or default_arch()
    default = (torch, python) == (pins.torch, pins.python)
    stem = platform if default else f"{platform}-torch{torch}" + ("" if python == pins.python else f"-py{python}")
    stem += "" if arch == default_arch() else f"-{arch}"
    urls = indexes()
    on_pypi = platform == release.pypi_default or arches()[arch].torch_from_pypi
    return Variant(
        platform=platform,
        recipe=recipe,
        torch=torch,
        torchvision=release.torchvision,
        torchaudio=release.torchaudio or "",
        python=python,
        dockerfile=source.dockerfile,
        base_image=source.base_image_for(python),
        stem=stem,
        default=default,
        index_url=(urls.pypi if on_pypi else urls.pytorch.format(platform=platform)) if wheels else "",
        extra_index_urls=() if on_pypi or not wheels else (urls.pypi,),
        channels=source.channel_list,
        arch=arch,
    )


@cache
def declared() -> tuple[Variant, ...]:
    """The team's variants: each declared platform and recipe with the pins
    `--cuda` selects for it (the seed's, or its line's)."""
    return tuple(
        make(
            entry.platform,
            entry.recipe,
            pins_for(entry.platform).torch,
            pins_for(entry.platform).python,
            entry.arch or None,
        )
        for entry in variants_file().variants
    )


def has_dev(variant: Variant) -> bool:
    """Pip variants of the first architecture have a dev image."""
    return variant.recipe_facts.wheels and variant.arch == default_arch()


def declared_images() -> tuple[Variant, ...]:
    """Every image the team has: the declared variants and each pip one's dev image."""
    return declared() + tuple(variant.with_dev() for variant in declared() if has_dev(variant))


def siblings(variant: Variant) -> tuple[Variant, ...]:
    """The same variant on every architecture the team declares it for (in
    [[variants]], or a line's pip image in its `arches`), the first
    architecture first: one multi-arch tag when there are several."""
    key = (variant.platform, variant.recipe, variant.torch, variant.python)
    same = [v for v in declared() if (v.platform, v.recipe, v.torch, v.python) == key]
    pins = pins_for(variant.platform)
    line = lines().get(pins.line)
    if (
        not same
        and line
        and line.arches
        and variant.recipe_facts.wheels  # a line's arches are its pip image's
        and (variant.torch, variant.python) == (pins.torch, pins.python)
    ):
        same = [make(variant.platform, variant.recipe, variant.torch, variant.python, arch) for arch in line.arches]
    if variant.dev or variant not in same:
        return (variant,)
    return tuple(sorted(same, key=lambda v: list(arches()).index(v.arch)))


def reference(variant: Variant) -> Variant:
    """The PyPI build of the same torch and Python: the lock whose shared
    dependencies every other platform's lock takes, so all variants agree."""
    return make(compat()[variant.torch].pypi_default, "pip", variant.torch, variant.python)


def driver_needs() -> dict[str, DriverNeeds]:
    """CUDA release -> the oldest NVIDIA driver it runs on (env/compat.toml [drivers])."""
    return compat_file().drivers
