"""`invoke matrix`: the variants as a GitHub Actions matrix, so a variant
added to env/variants.toml is a new CI job with no edit to the workflows."""

from __future__ import annotations

import json

from envkit.catalog.variants import Variant, declared


def entry(variant: Variant) -> dict[str, str | bool]:
    """What a job needs to select one variant with the kit's own flags."""
    return {
        "variant": variant.name,
        "cuda": variant.cuda_flag,
        "recipe": variant.recipe,
        "gpu": variant.cuda is not None,
    }


def matrix(gpu_only: bool = False) -> str:
    """`{"include": [...]}` on one line, as `fromJSON` in a workflow reads it
    from a job output."""
    rows = [entry(variant) for variant in declared() if variant.cuda is not None or not gpu_only]
    return json.dumps({"include": rows}, separators=(",", ":"))
