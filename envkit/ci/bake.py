"""`invoke bake`: docker-bake.json, generated from env/variants.toml, so that
`docker buildx bake all` builds every variant in parallel on any builder (a
remote or Kubernetes BuildKit) with exactly the arguments, secrets and tags
`invoke build` would pass. It is committed; `invoke bake --check` fails when
it no longer matches the data."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envkit import ROOT
from envkit.catalog.recipes import RECIPE_FACTS
from envkit.catalog.variants import Variant, declared
from envkit.core.errors import KitError
from envkit.core.files import check_generated_targets, display, read_text, text_or_none, write_atomically
from envkit.core.provenance import Provenance
from envkit.core.settings import Settings
from envkit.images import plan
from envkit.images.build import image_tag

BAKE_FILE = ROOT / "docker-bake.json"
MARKER = "ENVKIT_GENERATED"  # a variable only this generator writes: the file is the kit's to replace
# Where the image comes from is the commit's, and its name the team's: bake takes these from the environment.
VARIABLES = {"REVISION": "unknown", "CREATED": "", "SOURCE": "unknown"}
ORIGIN = Provenance(revision="${REVISION}", created="${CREATED}", source="${SOURCE}")


def _of_recipe(recipe: str) -> Callable[[Variant], bool]:
    return lambda variant: variant.recipe == recipe


GROUPS: dict[str, Callable[[Variant], bool]] = {
    "all": lambda variant: True,
    **{recipe: _of_recipe(recipe) for recipe in RECIPE_FACTS},  # pip, conda
    "cuda": lambda variant: variant.cuda is not None,
    "cpu": lambda variant: variant.cuda is None,
}


def target(variant_plan: plan.Plan, settings: Settings) -> dict[str, Any]:
    variant = variant_plan.variant
    made: dict[str, Any] = {
        "context": ".",
        "dockerfile": variant.dockerfile,
        "args": plan.build_args(variant_plan, ORIGIN),
        "tags": [image_tag(variant, dataclasses.replace(settings, image_name="${IMAGE_NAME}"))],
        "platforms": [variant.docker_platform],
        # As invoke build: no attestation the kit did not decide on (buildx adds provenance by default).
        "attest": ["type=provenance,disabled=true", "type=sbom,disabled=true"],
    }
    if ca_cert := settings.ca_cert:
        made["secret"] = [f"id=ca,src={ca_cert}"]
    return made


def generate(settings: Settings) -> str:
    """The bake file's text: one target per declared variant, and the groups."""
    variants = declared()
    document = {
        "variable": {
            MARKER: {"default": "invoke bake"},
            "IMAGE_NAME": {"default": settings.image_name},
            **{name: {"default": value} for name, value in VARIABLES.items()},
        },
        "group": {name: {"targets": [v.name for v in variants if keep(v)]} for name, keep in GROUPS.items()},
        "target": {variant.name: target(plan.make(variant, settings), settings) for variant in variants},
    }
    return json.dumps(document, indent=2) + "\n"


def write(settings: Settings, check: bool = False, path: Path = BAKE_FILE) -> bool:
    """Write the bake file, or with `check` only compare it; True when it was
    already up to date. A file of that name that this generator did not write
    is left alone."""
    text = generate(settings)
    current = text_or_none(path)
    if current == text:
        return True
    if check:
        return False
    check_generated_targets([path], path.parent, _generated, "invoke bake")
    write_atomically(path, text)
    return False


def _generated(text: str) -> bool:
    try:
        return MARKER in json.loads(text).get("variable", {})
    except (json.JSONDecodeError, AttributeError):
        return False


def read(path: Path = BAKE_FILE) -> dict[str, Any]:
    fix = "regenerate it with `invoke bake`"
    try:
        loaded: dict[str, Any] = json.loads(read_text(path, fix=fix))
    except json.JSONDecodeError as error:
        raise KitError(f"{display(path)} cannot be read ({error}); {fix}.") from None
    return loaded
