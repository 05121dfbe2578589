"""Turn the flags `--cuda --recipe --torch --python` into one declared
variant, or a clear error that names what is valid instead (the way
replicate/cog answers an invalid torch/CUDA pair).
"""

from __future__ import annotations

from collections.abc import Iterable

from envkit.catalog.data_files import RECIPES, arch_has
from envkit.catalog.recipes import RECIPE_FACTS
from envkit.catalog.variants import (
    Release,
    Variant,
    arches,
    builds_on,
    compat,
    cuda_flag,
    cuda_platform,
    default_arch,
    has_dev,
    host_arch,
    make,
    pins_for,
    platform_cuda,
    siblings,
)
from envkit.core.cli import check_given
from envkit.core.errors import UsageError


def _cuda_choices(release: Release) -> str:
    return ", ".join(cuda_flag(p) for p in release.platforms)


def check_recipe(recipe: str) -> None:
    if recipe not in RECIPES:
        raise UsageError(f"--recipe {recipe!r}: unknown recipe; choose one of {', '.join(RECIPES)}.")


def release_of(torch: str) -> Release:
    table = compat()
    if torch not in table:
        raise UsageError(
            f"--torch {torch}: not in the compatibility table (env/compat.toml); known releases: {', '.join(table)}."
        )
    return table[torch]


def check_combination(cuda: str | None, recipe: str, torch: str, python: str) -> tuple[str, Release]:
    """Validate the flags against the table; return the platform and release."""
    check_recipe(recipe)
    release = release_of(torch)
    if cuda is None:
        raise UsageError(f"--cuda is required: one of {_cuda_choices(release)} for torch {torch}.")
    platform = cuda_platform(cuda)
    if platform is None:
        raise UsageError(
            f"--cuda {cuda!r}: not a CUDA version; use cpu or MAJOR.MINOR ({_cuda_choices(release)} for torch {torch})."
        )
    if platform not in release.platforms:
        raise UsageError(
            f"--cuda {cuda}: torch {torch} has no {platform} build; its builds are: {_cuda_choices(release)}."
        )
    if python not in release.pythons:
        raise UsageError(
            f"--python {python}: torch {torch} has no wheels for Python {python}; "
            f"choose one of {', '.join(release.pythons)}."
        )
    if RECIPE_FACTS[recipe].conda_channel:
        check_conda(release, platform)
    return platform, release


def check_conda(release: Release, platform: str) -> None:
    if not release.conda_cuda:
        last = _newest(r for r in compat().values() if r.conda_cuda)
        raise UsageError(
            f"--recipe conda: torch {release.torch} is not on the pytorch conda channel "
            f"(its last release there is {last.torch}); use --recipe pip."
        )
    cuda = platform_cuda(platform)
    if cuda is not None and cuda not in release.conda_cuda:
        raise UsageError(
            f"--recipe conda --cuda {cuda}: the pytorch channel has torch {release.torch} for "
            f"pytorch-cuda {', '.join(release.conda_cuda)} and cpuonly only."
        )


def _newest(releases: Iterable[Release]) -> Release:
    return max(releases, key=lambda release: tuple(int(part) for part in release.torch.split(".")))


def known_arch(arch: str) -> str:
    """`--arch`: one of env/variants.toml [arches]."""
    if arch not in arches():
        raise UsageError(
            f"--arch {arch!r}: not an architecture images are built for; choose one of {', '.join(arches())}."
        )
    return arch


def check_arch(arch: str, platform: str, recipe: str, release: Release) -> str:
    """`--arch`: an architecture of env/variants.toml [arches] that has this build."""
    table = arches()
    known_arch(arch)
    builds = builds_on(arch, release)
    if platform not in builds:
        raise UsageError(
            f"--arch {arch}: torch {release.torch} for {arch} comes from PyPI's wheel only, a "
            f"{builds[0]} build; use --cuda {cuda_flag(builds[0])} for it."
        )
    if not arch_has(table[arch], platform, recipe):
        choices = [f"--cuda {cuda_flag(p)}" for p in table[arch].platforms] or ["every --cuda"]
        recipes = ", ".join(table[arch].recipes or RECIPES)
        raise UsageError(
            f"--arch {arch}: there is no {platform} {recipe} build for {arch}; "
            f"{arch} has {', '.join(choices)} with --recipe {recipes} (env/variants.toml [arches.{arch}])."
        )
    return arch


def select(
    cuda: str | None,
    recipe: str = "pip",
    torch: str | None = None,
    python: str | None = None,
    dev: bool = False,
    arch: str | None = None,
    on_host: bool = False,
) -> Variant:
    """The variant for these flags; defaults come from env/variants.toml. Any
    combination the table allows is a variant; whether its recipe exists yet
    is the build's question (it names the `invoke lock` command to run).
    Without --arch it is the first architecture's, or with `on_host` (running
    an image) this machine's where the build exists for it."""
    check_given(cuda=cuda, recipe=recipe, torch=torch, python=python, arch=arch)
    pins = pins_for(cuda_platform(cuda) if cuda else None)  # --cuda 13.2: the current line's
    torch = pins.torch if torch is None else torch
    python = pins.python if python is None else python
    platform, release = check_combination(cuda, recipe, torch, python)
    if arch is None:
        native = host_arch() if on_host else None
        has_it = native and arch_has(arches()[native], platform, recipe) and platform in builds_on(native, release)
        arch = native if native and has_it else default_arch()
    variant = make(platform, recipe, torch, python, check_arch(arch, platform, recipe, release))
    return dev_of(variant) if dev else variant


ALL_ARCHES = "all"  # `--arch all`: every architecture the variant is declared for, as one local image index


def select_all_arches(
    cuda: str | None, recipe: str = "pip", torch: str | None = None, python: str | None = None, dev: bool = False
) -> tuple[Variant, ...]:
    """`--arch all`: the variant on each architecture it is declared for (the first first), or a
    UsageError where it has one only."""
    if dev:
        raise UsageError("--arch all: dev images are built for the first architecture only; leave out --dev.")
    variant = select(cuda, recipe, torch, python)
    group = siblings(variant)
    if len(group) == 1:
        raise UsageError(
            f"--arch all: {variant.name} is declared for {variant.arch} only (env/variants.toml: cpu-pip and the "
            "current line's pip image have several architectures); leave out --arch all."
        )
    return group


def dev_of(variant: Variant) -> Variant:
    """`--dev`: the variant's dev image, which pip variants of the first architecture have."""
    if not variant.recipe_facts.wheels:
        raise UsageError(
            f"--dev: dev images are built on pip variants ({variant.name} is a conda one); "
            f"use `--cuda {variant.cuda_flag} --dev` for the pip variant of the same build."
        )
    if not has_dev(variant):
        raise UsageError(
            f"--dev: dev images are built for {default_arch()} only, not for {variant.name}; "
            f"leave out --arch {variant.arch}."
        )
    return variant.with_dev()
