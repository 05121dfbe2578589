"""One interface for the recipe kinds: a pip lock, a conda lock, and a dev
layer's pip lock over a runtime lock. Each kind's module fills a RecipeKind
(envkit.recipes.kinds picks one from the variant, once); the plan, the
staleness check, `invoke lock` and the checks ask it instead of testing the
recipe's name, so a new kind is one module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envkit import ROOT
from envkit.catalog.variants import Variant
from envkit.core.settings import Settings
from envkit.recipes.files import LockFile, MissingInput, read_lock
from envkit.recipes.indexes import Indexes
from envkit.recipes.relock import Written


@dataclass(frozen=True)
class BuildInputs:
    """What a build installs from, as the plan decided it."""

    recipe_file: str  # relative to the build context
    hash_locked: bool
    wheelhouse: Path | None
    indexes: Indexes | None  # None: the recipe's own indexes


@dataclass(frozen=True)
class RecipeKind:
    name: str
    # sha256 of everything the lock is made from, as its header records it (MissingInput where one is gone)
    inputs_digest: Callable[[Variant], str]
    lock: Callable[[Variant, Settings, bool], Written]  # write the lock, or nothing at all; bool: --upgrade
    packages: Callable[[LockFile], dict[str, str]]  # name -> version of what the lock installs
    hashes: Callable[[LockFile], dict[str, tuple[str, ...]]]  # name -> the hashes the installer checks
    same_version: Callable[[str, str], bool]  # an installed version (first) is the locked one
    recipe_args: Callable[[Variant, BuildInputs], dict[str, str]]  # the Dockerfile ARGs naming the recipe
    changed: Callable[[Variant], str]  # what a stale lock's inputs did
    venv: bool  # installed by pip into a venv (wheelhouse, index overrides, env_layers' pip check); else conda
    hand_pinned: bool  # a recipe with no lock header stands as pinned by hand (fresh by definition)
    builds_from_input: bool  # a default variant builds from its input file until it has a lock

    def stale_reason(self, variant: Variant, lock: LockFile | None = None) -> str:
        """Why the variant's lock (LOCK, when read already) cannot be used as is; "" when it is fresh."""
        lock = lock if lock is not None else read_lock(ROOT / variant.lock_file)
        if lock.header is None and self.hand_pinned:
            return ""  # nothing recorded to compare
        try:
            current = self.inputs_digest(variant)
        except MissingInput as missing:
            return f"{missing.relative} is missing"
        return "" if lock.recorded_inputs == current else self.changed(variant)


def inputs_changed(variant: Variant) -> str:
    return "its inputs changed since it was locked"
