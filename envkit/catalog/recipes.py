"""What the catalog knows of each recipe before any recipe kind is chosen:
where a variant's files are, and what the recipe can do. How a recipe is
locked, checked and installed is its kind's (envkit/recipes/kinds.py); a new
recipe is one entry here, its section of env/variants.toml and its kind."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    name: str
    input_file: str  # what a lock is made from, with {stem}
    lock_file: str  # with {stem} (and {conda_platform}: conda-lock writes one lock per platform)
    # Wheels from a package index (PyPI, download.pytorch.org), installed by pip/uv: what the kit can measure
    # (the GPU architectures a wheel has kernels for), audit (pip-audit), benchmark against a plain pip
    # Dockerfile, lay a dev image on, and pin alike across platforms (a release's reference lock).
    wheels: bool
    # Torch from the pytorch conda channel, which stopped at 2.5: env/compat.toml says which builds it has.
    conda_channel: bool = False


DEFAULT_RECIPE = "pip"
RECIPE_FACTS = {
    recipe.name: recipe
    for recipe in (
        Recipe("pip", input_file="env/pip/{stem}.in", lock_file="env/pip/{stem}.txt", wheels=True),
        Recipe(
            "conda",
            input_file="env/conda/{stem}.yml",
            lock_file="env/conda/{stem}.{conda_platform}.lock",
            wheels=False,
            conda_channel=True,
        ),
    )
}
