"""`invoke lock`: which variants to lock, in which order. A torch release's
PyPI lock comes first: the other platforms take its shared dependencies."""

from __future__ import annotations

from pathlib import Path

from envkit.catalog import selection
from envkit.catalog.flags import VariantFlags
from envkit.catalog.recipes import RECIPE_FACTS
from envkit.catalog.variants import Variant, cuda_flag, declared, default_pins, has_dev, reference
from envkit.core.cli import check_given
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.recipes import pip_lock
from envkit.recipes.kinds import kind_of


def targets(
    cuda: str | None, recipe: str, torch: str | None, python: str | None, arch: str | None = None
) -> list[Variant]:
    """One variant with --cuda; without it, every declared platform and
    architecture the torch release has (and the release's PyPI build, which
    the others need)."""
    if cuda is not None:
        chosen = [selection.select(cuda, recipe, torch, python, arch=arch)]
    else:
        check_given(recipe=recipe, torch=torch, python=python, arch=arch)
        if arch is not None:
            raise UsageError(f"--arch {arch}: give --cuda too; without it every declared architecture is locked.")
        selection.check_recipe(recipe)
        release = selection.release_of(default_pins().torch if torch is None else torch)
        chosen = [
            selection.select(cuda_flag(v.platform), recipe, torch, python, arch=v.arch)
            for v in declared()
            if v.recipe == recipe and v.platform in release.platforms
        ]
    if not RECIPE_FACTS[recipe].wheels:
        return chosen
    # A release's reference lock first: the other platforms take its shared pins.
    needed = {reference(v) for v in chosen} - set(chosen)
    missing = [v for v in needed if not pip_lock.lock_exists(v)]
    return sorted(missing + chosen, key=lambda v: not pip_lock.is_reference(v))


def dev_targets(
    cuda: str | None, recipe: str, torch: str | None, python: str | None, arch: str | None = None
) -> list[Variant]:
    """`--dev`: the dev layers of the same variants, each locked against its runtime lock."""
    if cuda is not None:
        return [selection.select(cuda, recipe, torch, python, dev=True, arch=arch)]
    return [selection.dev_of(v) for v in targets(cuda, recipe, torch, python, arch) if has_dev(v)]


def lock_variants(flags: VariantFlags, settings: Settings, upgrade: bool = False) -> list[Path]:
    """Lock the variants the flags choose, in order. A pip or dev lock keeps the pins of the lock it replaces
    where its inputs allow (see envkit.recipes.relock) unless `upgrade`; conda-lock solves afresh every time."""
    written = []
    chosen = (dev_targets if flags.dev else targets)(flags.cuda, flags.recipe, flags.torch, flags.python, flags.arch)
    for variant in chosen:
        done = kind_of(variant).lock(variant, settings, upgrade)
        written.append(done.path)
        print(f"locked {variant.lock_file}")
        for line in done.moves:
            print(line)
    return written
