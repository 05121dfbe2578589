"""The owner of env/variants.toml and env/compat.toml: each read once, checked
against its shape and against the other, into typed values. A broken file is
one message naming the file, the key and the fix, before anything starts."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any

from envkit import ROOT
from envkit.catalog.recipes import RECIPE_FACTS
from envkit.core import files
from envkit.core.errors import UsageError
from envkit.core.validation import STRICT, PinnedReference, Positive, Unique, UniqueNames, Words, validate

ENV_DIR = ROOT / "env"
RECIPES = tuple(RECIPE_FACTS)
PLATFORM = re.compile(r"cpu|cu\d{3}")
_VERSION = re.compile(r"\d+(\.\d+)+")
_ARCH = re.compile(r"[a-z0-9]+")  # amd64, arm64: Docker's and Debian's names
_MACHINE = re.compile(r"[a-z0-9_]+")  # x86_64, aarch64
_DEBIAN_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")  # Debian policy 5.6.1
_PYTHON = re.compile(r"\d+\.\d+t?")  # 3.13t: the free-threaded build
_CUDA = re.compile(r"\d+\.\d")
_DRIVER = re.compile(r"\d+\.\d+(\.\d+)?")
# sm_90 (a cubin), sm_90a (for that GPU alone), sm_100f (its family), compute_90 (PTX)
GPU_ARCH = re.compile(r"(sm|compute)_(\d+)(\d)([af]?)")
_BUILD_KEY = re.compile(r"(cpu|cu\d{3})(-[a-z0-9]+)?")  # cu132, or cu132-arm64 for one architecture's
# The facts of a compat row that research gives; the others `invoke compat` reads from the wheels.
_RESEARCHED = ("platforms", "torchvision", "torchaudio", "conda_cuda")
_FIX = "Fix it (`git diff {name}` shows what changed since the last commit)."


@dataclass(frozen=True)
class Pins:
    """The seed's pins: what `--cuda` selects where no line names the platform."""

    __pydantic_config__ = STRICT
    torch: str  # a release of env/compat.toml
    torchvision: str  # the one that release pairs (env/compat.toml)
    torchaudio: str  # likewise
    python: str  # one of the release's Pythons


@dataclass(frozen=True)
class Line:
    """A newer torch for the CUDA builds the seed's pins cannot serve ([lines.<name>]):
    `--cuda` of one of its platforms selects its pins without `--torch`."""

    __pydantic_config__ = STRICT
    torch: str  # a release of env/compat.toml
    torchvision: str  # the one that release pairs
    python: str  # one of the release's Pythons
    platforms: UniqueNames  # the CUDA builds it serves: `--cuda` of one selects the line
    about: Words  # what the line is for, in the words `invoke info` and the README's table use
    torchaudio: str | None = None  # None: no torchaudio release pairs with this torch
    # The architectures its pip images are built for, published as one
    # multi-arch release (`invoke publish --cuda 13.2`); (): the first one's only.
    arches: UniqueNames = ()


@dataclass(frozen=True)
class IndexUrls:
    """Where pip recipes come from: PyPI for a release's PyPI build, the PyTorch index for the others."""

    __pydantic_config__ = STRICT
    pypi: str  # the package index for everything PyPI serves
    pytorch: str  # the PyTorch index of a platform, with {platform} (cu118, cpu)


@dataclass(frozen=True)
class LockSettings:
    """How `invoke lock` resolves."""

    __pydantic_config__ = STRICT
    exclude_newer: str  # the cut-off date: nothing published later is chosen, so a lock regenerates alike
    conda_platform: str  # conda-lock's platform (linux-64)


@dataclass(frozen=True)
class Arch:
    """One CPU architecture images are built for ([arches.<name>])."""

    __pydantic_config__ = STRICT
    docker_platform: str  # linux/arm64
    machine: str  # aarch64: platform.machine() inside, QEMU's binfmt name
    python_platform: str  # uv's --python-platform for its locks
    platforms: UniqueNames = ()  # the builds it has; () for every one the table has
    recipes: UniqueNames = ()  # () for every recipe
    # PyPI's wheel for it is its only build: the CPU one up to torch 2.10, a CUDA 13
    # one from 2.11 (env/compat.toml, pypi_arch_builds).
    torch_from_pypi: bool = False


@dataclass(frozen=True)
class PipRecipeKind:
    """The pip recipes: a hash-locked requirements file per platform, installed into a venv."""

    __pydantic_config__ = STRICT
    dockerfile: str  # under docker/
    base_images: dict[str, PinnedReference] = field(default_factory=dict)  # one per Python, by digest

    def base_image_for(self, python: str) -> str:
        return self.base_images.get(python, "")  # "": none pinned for this Python

    @property
    def channel_list(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class CondaRecipeKind:
    """The conda recipes: an environment file (or an explicit lock) per platform, made by micromamba."""

    __pydantic_config__ = STRICT
    dockerfile: str  # under docker/
    base_image: PinnedReference  # by digest: the environment brings its own Python
    channels: UniqueNames  # in priority order, strict

    def base_image_for(self, python: str) -> str:
        return self.base_image  # the environment brings its own Python

    @property
    def channel_list(self) -> tuple[str, ...]:
        return tuple(self.channels)


@dataclass(frozen=True)
class DevKind:
    """The dev image every pip variant has on top of its runtime image."""

    __pydantic_config__ = STRICT
    dockerfile: str  # under docker/
    input: str  # the dev layer's top-level requirements, locked against each runtime lock
    debian_packages: UniqueNames  # the tools a person needs inside


@dataclass(frozen=True)
class RecipeKinds:
    """Each recipe kind's Dockerfile and base images, and the dev image's."""

    __pydantic_config__ = STRICT
    pip: PipRecipeKind
    conda: CondaRecipeKind
    dev: DevKind

    def of(self, recipe: str) -> PipRecipeKind | CondaRecipeKind:
        """The section of a recipe (a key of RECIPE_FACTS)."""
        sections: dict[str, PipRecipeKind | CondaRecipeKind] = {"pip": self.pip, "conda": self.conda}
        return sections[recipe]


@dataclass(frozen=True)
class DeclaredVariant:
    """One variant the team builds ([[variants]])."""

    __pydantic_config__ = STRICT
    platform: str  # cpu or cuXYZ: a build its torch release has
    recipe: str  # pip or conda
    arch: str = ""  # "" for the first of [arches]


@dataclass(frozen=True)
class DiskFigures:
    """Free GB under Docker's root a build, or a pull, needs by kind of platform, on one image store;
    `dev`: a dev image's build, its one layer on the runtime image."""

    __pydantic_config__ = STRICT
    cpu: Positive  # a CPU build
    cuda: Positive  # a CUDA build
    dev: Positive  # a dev image's build
    pull_cpu: Positive  # a pull of a CPU image
    pull_cuda: Positive  # a pull of a CUDA image


@dataclass(frozen=True)
class DiskNeeds(DiskFigures):
    """The classic store's figures, and the containerd store's ([disk.containerd]), which keeps
    every layer compressed as well as unpacked."""

    containerd: DiskFigures = DiskFigures(0, 0, 0, 0, 0)

    def on(self, store: str) -> DiskFigures:
        return self.containerd if store == "containerd" else self


@dataclass(frozen=True)
class VariantsFile:
    """env/variants.toml: the variants the team builds, their pins, indexes, architectures and recipes."""

    __pydantic_config__ = STRICT
    pins: Pins
    indexes: IndexUrls
    lock: LockSettings
    arches: dict[str, Arch]  # the first is the default (--arch left out)
    disk: DiskNeeds
    recipes: RecipeKinds
    variants: Annotated[tuple[DeclaredVariant, ...], Unique]
    lines: dict[str, Line] = field(default_factory=dict)


@dataclass(frozen=True)
class CompatRow:
    """One torch release in env/compat.toml."""

    __pydantic_config__ = STRICT
    torchvision: str  # the release paired with it
    pypi_default: str  # the platform of PyPI's own wheel (cu121 for 2.4.1)
    platforms: UniqueNames  # its builds: cpu, cuXYZ
    pythons: UniqueNames  # the CPython versions it has wheels for (3.13t: free-threaded)
    conda_cuda: UniqueNames  # the CUDA releases of its pytorch-channel conda builds
    torchaudio: str | None = None  # None: no torchaudio release pairs with it
    cudnn: dict[str, str] = field(default_factory=dict)  # the cuDNN of each CUDA platform's build
    cuda_runtime: dict[str, str] = field(default_factory=dict)  # nvidia-cuda-runtime of a platform's build
    unverified: tuple[str, ...] = ()  # the row's facts no primary source confirmed
    # The build of PyPI's wheel on an architecture other than the first, where it
    # is not the CPU one: `{ arm64 = "cu130" }` from torch 2.11.
    pypi_arch_builds: dict[str, str] = field(default_factory=dict)
    # What `torch.cuda.get_arch_list()` says inside a built pip image, per build
    # (`cu132`, or `cu132-arm64` where that architecture's wheel differs); only
    # measured lists: `invoke test` fails an image whose list differs.
    gpu_archs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: str = ""  # what a reader of the row should know, with its sources


@dataclass(frozen=True)
class DriverNeeds:
    """The oldest NVIDIA driver a CUDA release runs on (env/compat.toml [drivers])."""

    __pydantic_config__ = STRICT
    minimum: str  # with CUDA minor-version compatibility
    release: str = ""  # the driver the toolkit release shipped with ("": not recorded)
    oldest_gpu: str = ""  # the lowest compute capability its builds run on ("": not recorded)


@dataclass(frozen=True)
class CompatFile:
    """env/compat.toml: every torch release the kit knows, and the oldest driver each CUDA release runs on."""

    __pydantic_config__ = STRICT
    torch: dict[str, CompatRow]  # by release number
    drivers: dict[str, DriverNeeds] = field(default_factory=dict)  # by CUDA release ("12.1")


def read_data_file(name: str) -> dict[str, Any]:
    path = ENV_DIR / name
    fix = _FIX.format(name=f"env/{name}")
    text = files.read_text(path, f"env/{name}", missing="the kit's data file: restore it with `git checkout`")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"env/{name}: not valid TOML ({error}).\n{fix}") from None


def refuse(name: str, problem: str) -> UsageError:
    return UsageError(f"env/{name}: {problem}.\n{_FIX.format(name=f'env/{name}')}")


@cache
def compat_file() -> CompatFile:
    name = "compat.toml"
    table = validate(CompatFile, read_data_file(name), f"env/{name}", _FIX.format(name=f"env/{name}"))
    for torch, row in table.torch.items():
        where = f'torch."{torch}"'
        if not _VERSION.fullmatch(torch):
            raise refuse(name, f"{where}: {torch!r} is not a release number")
        if bad := [p for p in row.platforms if not PLATFORM.fullmatch(p)]:
            raise refuse(name, f"{where}.platforms: {bad[0]!r} is not cpu or cuXYZ")
        if bad := [fact for fact in row.unverified if fact not in _RESEARCHED]:
            raise refuse(name, f"{where}.unverified: {bad[0]!r} is not one of {', '.join(_RESEARCHED)}")
        if row.pypi_default not in row.platforms:
            raise refuse(name, f"{where}.pypi_default: {row.pypi_default!r} is not one of its platforms")
        if bad := [p for p in row.pythons if not _PYTHON.fullmatch(p)]:
            raise refuse(name, f"{where}.pythons: {bad[0]!r} is not a Python version")
        if bad := [p for p in row.pypi_arch_builds.values() if p not in row.platforms]:
            raise refuse(name, f"{where}.pypi_arch_builds: {bad[0]!r} is not one of its platforms")
        for build, listed in row.gpu_archs.items():
            key = _BUILD_KEY.fullmatch(build)
            if key is None or key[1] not in row.platforms:
                raise refuse(name, f"{where}.gpu_archs: {build!r} is not one of its platforms (cu132, cu132-arm64)")
            if bad := [arch for arch in listed if not GPU_ARCH.fullmatch(arch)]:
                raise refuse(name, f"{where}.gpu_archs.{build}: {bad[0]!r} is not an architecture (sm_90, compute_90)")
    for cuda, needs in table.drivers.items():
        if not _CUDA.fullmatch(cuda):
            raise refuse(name, f'drivers."{cuda}": not a CUDA release (e.g. "12.1")')
        if bad := [v for v in (needs.minimum, needs.release or needs.minimum) if not _DRIVER.fullmatch(v)]:
            raise refuse(name, f'drivers."{cuda}": {bad[0]!r} is not a driver version (e.g. "525.60.13")')
        if needs.oldest_gpu and not _CUDA.fullmatch(needs.oldest_gpu):
            raise refuse(
                name, f'drivers."{cuda}".oldest_gpu: {needs.oldest_gpu!r} is not a compute capability (e.g. "7.5")'
            )
    return table


@cache
def variants_file() -> VariantsFile:
    name = "variants.toml"
    data = validate(VariantsFile, read_data_file(name), f"env/{name}", _FIX.format(name=f"env/{name}"))
    releases = compat_file().torch
    release = releases.get(data.pins.torch)
    if release is None:
        raise refuse(name, f"pins.torch = {data.pins.torch!r} is not a release in env/compat.toml")
    for key in ("torchvision", "torchaudio"):
        if getattr(data.pins, key) != getattr(release, key):
            wanted = getattr(release, key)
            raise refuse(name, f"pins.{key} = {getattr(data.pins, key)!r}, but torch {data.pins.torch} pairs {wanted}")
    if data.pins.python not in release.pythons:
        raise refuse(name, f"pins.python = {data.pins.python!r}: torch {data.pins.torch} has no wheels for it")
    if bad := [p for p in data.recipes.dev.debian_packages if not _DEBIAN_PACKAGE.fullmatch(p)]:
        raise refuse(name, f"recipes.dev.debian_packages: {bad[0]!r} is not a Debian package name")
    if "{platform}" not in data.indexes.pytorch:
        raise refuse(name, "indexes.pytorch must contain {platform}")
    _check_arches(name, data.arches)
    _check_lines(name, data.lines, release)
    first_arch = next(iter(data.arches))
    for key, named in data.lines.items():
        for arch_name in named.arches:
            if arch_name not in data.arches:
                raise refuse(name, f"lines.{key}.arches: {arch_name!r} is not one of {', '.join(data.arches)}")
            has = arch_builds(arch_name, data.arches[arch_name], releases[named.torch], first_arch)
            if missing := [platform for platform in named.platforms if platform not in has]:
                raise refuse(name, f"lines.{key}.arches: {arch_name} has no {missing[0]} build of torch {named.torch}")
    for index, entry in enumerate(data.variants):
        if entry.recipe not in RECIPES:
            raise refuse(name, f"variants[{index}].recipe = {entry.recipe!r}: choose one of {', '.join(RECIPES)}")
        line = next((line for line in data.lines.values() if entry.platform in line.platforms), None)
        torch = line.torch if line else data.pins.torch
        if line is None and entry.platform not in release.platforms:
            raise refuse(
                name,
                f"variants[{index}].platform = {entry.platform!r}: torch {data.pins.torch} has no such build "
                f"(its builds: {', '.join(release.platforms)}) and no [lines] entry names it",
            )
        arch_name = entry.arch or first_arch
        if arch_name not in data.arches:
            raise refuse(name, f"variants[{index}].arch = {entry.arch!r}: choose one of {', '.join(data.arches)}")
        arch = data.arches[arch_name]
        if entry.platform not in arch_builds(arch_name, arch, releases[torch], first_arch):
            raise refuse(
                name,
                f"variants[{index}]: arches.{arch_name} has no {entry.platform}-{entry.recipe} build of torch {torch}",
            )
        if not arch_has(arch, entry.platform, entry.recipe):
            raise refuse(name, f"variants[{index}]: arches.{arch_name} has no {entry.platform}-{entry.recipe} build")
    return data


def _check_lines(name: str, lines: dict[str, Line], seed: CompatRow) -> None:
    """Each line is a release of the table, paired as the table pairs it, and
    the only one for its platforms: `--cuda` alone must name one set of pins."""
    claimed: dict[str, str] = {platform: "pins" for platform in seed.platforms}
    for key, line in lines.items():
        where = f"lines.{key}"
        row = compat_file().torch.get(line.torch)
        if row is None:
            raise refuse(name, f"{where}.torch = {line.torch!r} is not a release in env/compat.toml")
        for field_name in ("torchvision", "torchaudio"):
            if getattr(line, field_name) != getattr(row, field_name):
                raise refuse(
                    name,
                    f"{where}.{field_name} = {getattr(line, field_name)!r}, "
                    f"but torch {line.torch} pairs {getattr(row, field_name) or 'none (leave the key out)'}",
                )
        if line.python not in row.pythons:
            raise refuse(name, f"{where}.python = {line.python!r}: torch {line.torch} has no wheels for it")
        if not line.platforms:
            raise refuse(name, f"{where}.platforms: name the builds (cuXYZ) whose `--cuda` selects it")
        for platform in line.platforms:
            if platform not in row.platforms:
                raise refuse(name, f"{where}.platforms: torch {line.torch} has no {platform!r} build")
            if platform in claimed:
                owner = "[pins] (the seed's torch has that build)" if claimed[platform] == "pins" else claimed[platform]
                raise refuse(name, f"{where}.platforms: {platform} is already selected by {owner}")
            claimed[platform] = f"lines.{key}"


def arch_builds(name: str, arch: Arch, release: CompatRow, first_arch: str) -> tuple[str, ...]:
    """The builds of a torch release an architecture has: PyPI's own wheel where
    that is its only source (aarch64), every one of the table's otherwise."""
    if arch.torch_from_pypi and name != first_arch:
        return (release.pypi_arch_builds.get(name, "cpu"),)
    return release.platforms


def arch_has(arch: Arch, platform: str, recipe: str) -> bool:
    return (not arch.platforms or platform in arch.platforms) and (not arch.recipes or recipe in arch.recipes)


def _check_arches(name: str, arches: dict[str, Arch]) -> None:
    if not arches:
        raise refuse(name, "[arches] names no architecture (amd64 at least)")
    for key, arch in arches.items():
        if not _ARCH.fullmatch(key) or arch.docker_platform != f"linux/{key}":
            raise refuse(name, f"arches.{key}: docker_platform must be linux/{key} (a Docker architecture name)")
        if not _MACHINE.fullmatch(arch.machine) or not arch.python_platform.startswith(f"{arch.machine}-manylinux_"):
            raise refuse(
                name, f"arches.{key}: machine {arch.machine!r} and python_platform {arch.python_platform!r} disagree"
            )
        if bad := [p for p in arch.platforms if not PLATFORM.fullmatch(p)]:
            raise refuse(name, f"arches.{key}.platforms: {bad[0]!r} is not cpu or cuXYZ")
        if bad := [r for r in arch.recipes if r not in RECIPES]:
            raise refuse(name, f"arches.{key}.recipes: {bad[0]!r} is not one of {', '.join(RECIPES)}")
