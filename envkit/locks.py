"""`invoke lock`: which variants to lock, in which order. A torch release's
PyPI lock comes first: the other platforms take its shared dependencies."""

from __future__ import annotations

from pathlib import Path

from envkit import conda_locking, locking, selection
from envkit.settings import Settings
from envkit.variants import Variant, compat, declared, default_pins, reference


def targets(cuda: str | None, recipe: str, torch: str | None, python: str | None) -> list[Variant]:
    """One variant with --cuda; without it, every declared platform the torch
    release has (and the release's PyPI build, which the others need)."""
    if cuda is not None:
        chosen = [selection.select(cuda, recipe, torch, python)]
    else:
        pins = default_pins()
        release = compat()[torch or pins["torch"]]
        platforms = [v.platform for v in declared() if v.recipe == recipe and v.platform in release.platforms]
        chosen = [selection.select(selection.cuda_flag(p), recipe, torch, python) for p in platforms]
    if recipe == "pip":
        needed = {reference(v) for v in chosen} - set(chosen)
        missing = [v for v in needed if not locking.lock_exists(v)]
        chosen = missing + chosen
    return sorted(chosen, key=lambda v: not locking.is_reference(v)) if recipe == "pip" else chosen


def run(cuda: str | None, recipe: str, torch: str | None, python: str | None, settings: Settings) -> list[Path]:
    written = []
    for variant in targets(cuda, recipe, torch, python):
        lock = locking.lock if variant.recipe == "pip" else conda_locking.lock
        written.append(lock(variant, settings))
        print(f"locked {variant.lock_file}")
    return written
