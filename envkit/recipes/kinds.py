"""The recipe kind of a variant, chosen once: its dev layer's, else its recipe's."""

from __future__ import annotations

from envkit.catalog.variants import Variant
from envkit.recipes import conda_lock, dev_lock, pip_lock
from envkit.recipes.recipe_kind import RecipeKind

KINDS = {kind.name: kind for kind in (pip_lock.KIND, conda_lock.KIND)}


def kind_of(variant: Variant) -> RecipeKind:
    return dev_lock.KIND if variant.dev else KINDS[variant.recipe]
