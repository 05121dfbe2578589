"""`invoke matrix`: the variants as a GitHub Actions matrix, so a variant
added to env/variants.toml is a new CI job with no edit to the workflows.

Each architecture's jobs run on a hosted runner of its own (arm64 on
GitHub's native Arm runners). `--releases` gives one row per release
instead: a variant with its siblings on the other architectures, published
together as one multi-arch tag from one runner (the others built emulated).
"""

from __future__ import annotations

import json

from envkit.catalog.variants import Variant, declared, has_dev, siblings

RUNNERS = {"amd64": "ubuntu-24.04", "arm64": "ubuntu-24.04-arm"}  # GitHub's hosted runners


def entry(variant: Variant) -> dict[str, str | bool]:
    """What a job needs to select one variant with the kit's own flags."""
    family = siblings(variant)
    return {
        "variant": variant.name,
        "cuda": variant.cuda_flag,
        "recipe": variant.recipe,
        "arch": variant.arch,
        "runner": RUNNERS[variant.arch],
        "dev": has_dev(variant),
        "arches": " ".join(sibling.arch for sibling in family),
        "gpu": variant.cuda is not None,
    }


def matrix(gpu_only: bool = False, releases: bool = False) -> str:
    """`{"include": [...]}` on one line, as `fromJSON` in a workflow reads it
    from a job output."""
    chosen = [v for v in declared() if (v.cuda is not None or not gpu_only) and (not releases or v == siblings(v)[0])]
    return json.dumps({"include": [entry(variant) for variant in chosen]}, separators=(",", ":"))
