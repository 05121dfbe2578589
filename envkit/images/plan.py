"""What a build of one variant will install, decided before docker runs: the
recipe file (a fresh lock, or a recipe pinned by hand), whether it carries
hashes, the base image, the indexes, and where packages come from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from envkit import ROOT
from envkit.catalog.data_files import variants_file
from envkit.catalog.variants import Variant
from envkit.catalog.variants import indexes as index_data
from envkit.core import provenance
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.recipes import dev_lock, indexes
from envkit.recipes.files import check_sealed, is_hash_locked, read_header
from envkit.recipes.lock import stale_reason


@dataclass(frozen=True)
class Plan:
    variant: Variant
    recipe_file: str  # relative to the build context
    hash_locked: bool
    base_image: str
    indexes: indexes.Indexes | None  # None: the recipe's own indexes
    wheelhouse: Path | None = None  # install from this folder, with no network
    runtime_image_id: str = ""  # a dev build: the tested runtime image it is built on (base_image is its tag)

    def note(self) -> str:
        """The one line a build of a recipe without hashes prints."""
        if self.hash_locked:
            return ""
        where = self.variant.index_url or "the conda channels"
        return (
            f"note: {self.recipe_file} pins every package exactly but is not hash-locked; lock it with "
            f"`invoke lock {self.variant.flags()}` where {where} is reachable"
        )


def check_intact(variant: Variant) -> None:
    """The variant's lock, if it has one, is readable and as `invoke lock` wrote it."""
    check_sealed(ROOT / variant.lock_file, variant.flags(), variant.recipe)


def recipe_of(variant: Variant) -> tuple[str, bool]:
    """The variant's lock if it exists and is fresh; a default conda variant
    may build from its environment file until it has one."""
    lock = ROOT / variant.lock_file
    if lock.is_file():
        check_intact(variant)
        reason = stale_reason(variant)
        if reason:
            raise UsageError(
                f"{variant.lock_file} is stale: {reason}. Regenerate it with `invoke lock {variant.flags()}`."
            )
        return variant.lock_file, is_hash_locked(lock)
    if variant.recipe == "conda" and variant.default and (ROOT / variant.input_file).is_file():
        return variant.input_file, False
    raise UsageError(
        f"{variant.name} has no lock yet ({variant.lock_file}): write it with `invoke lock {variant.flags()}`."
    )


def installed_locks(variant: Variant) -> list[tuple[str, bool]]:
    """(recipe file, hash-locked) of every recipe an image of the variant
    installs: its own, and a dev image's runtime recipe below it."""
    return [recipe_of(v) for v in ((variant.runtime, variant) if variant.dev else (variant,))]


def make(variant: Variant, settings: Settings, wheelhouse: Path | None = None) -> Plan:
    recipe_file, hash_locked = recipe_of(variant)
    base_image = settings.base_image or variant.base_image
    if not base_image:
        raise UsageError(
            f"env/variants.toml pins no {variant.recipe} base image for Python {variant.python}: "
            "add one there, or pass --base-image."
        )
    if wheelhouse is not None and variant.recipe != "pip":
        raise UsageError("--wheelhouse: only pip recipes install from a wheelhouse.")
    if wheelhouse is not None and not hash_locked:
        raise UsageError(
            f"--wheelhouse: a wheelhouse holds only hash-checked wheels, and {recipe_file} has no hashes. "
            f"Lock it first with `invoke lock {variant.flags()}` where {variant.index_url} is reachable, "
            f"then fill one with `invoke wheelhouse {variant.flags()}`."
        )
    chosen = indexes.effective(variant, settings) if variant.recipe == "pip" else None
    overridden = chosen if chosen is not None and chosen != indexes.upstream(variant) else None
    return Plan(variant, recipe_file, hash_locked, base_image, overridden, wheelhouse)


def make_dev(variant: Variant, settings: Settings, runtime_tag: str) -> Plan:
    """A dev build: the dev lock (fresh), on the runtime image under that tag
    (whose id the build fills in once it has found it tested)."""
    if settings.extra_index_url:
        raise UsageError("--extra-index-url: the dev layer comes from PyPI or one mirror of it (--index-url).")
    recipe_file, hash_locked = recipe_of(variant)
    chosen = dev_lock.index_url(settings)
    overridden = indexes.Indexes(chosen, ()) if chosen != index_data().pypi else None
    return Plan(variant, recipe_file, hash_locked, runtime_tag, overridden)


def dev_build_args(plan: Plan, origin: provenance.Provenance) -> dict[str, str]:
    """Every ARG of docker/dev.Dockerfile, from the plan's data."""
    variant = plan.variant
    args = {
        "RUNTIME_IMAGE": plan.base_image,
        "RUNTIME_IMAGE_ID": plan.runtime_image_id,
        "DEV_REQUIREMENTS": plan.recipe_file,
        "DEV_DEBIAN_PACKAGES": " ".join(variants_file().recipes.dev.debian_packages),
        "REQUIRE_HASHES": "true" if plan.hash_locked else "false",
        "TORCH_VERSION": variant.torch,
        "VARIANT": variant.name,
        "REVISION": origin.revision,
        "CREATED": origin.created,
    }
    if plan.indexes:
        args["INDEX_URL"] = plan.indexes.index_url
    return args


def build_args(plan: Plan, origin: provenance.Provenance) -> dict[str, str]:
    """Every ARG of docker/<recipe>.Dockerfile, from the plan's data."""
    variant = plan.variant
    if variant.dev:
        return dev_build_args(plan, origin)
    args = {
        "BASE_IMAGE": plan.base_image,
        "TORCH_VERSION": variant.torch,
        "TORCHVISION_VERSION": variant.torchvision,
        "TORCHAUDIO_VERSION": variant.torchaudio,
        "PYTHON_VERSION": variant.python,
        "CUDA_VERSION": variant.cuda or "",
        "VARIANT": variant.name,
        "RECIPE": variant.recipe,
        "PLATFORM": variant.platform,
        "SOURCE": origin.source,
        "ARCH": variant.arch,
        "MACHINE": variant.arch_data.machine,
        "REVISION": origin.revision,
        "CREATED": origin.created,
    }
    if variant.recipe == "pip":
        args["REQUIREMENTS"] = plan.recipe_file
        args["REQUIRE_HASHES"] = "true" if plan.hash_locked else "false"
        args["INSTALL_FROM"] = "wheelhouse" if plan.wheelhouse else "index"
        if plan.indexes:
            args["INDEX_URL"] = plan.indexes.index_url
            args["EXTRA_INDEX_URL"] = " ".join(plan.indexes.extra_index_urls)
    else:
        args["ENVIRONMENT"] = plan.recipe_file
        args["CONDA_OVERRIDE_CUDA"] = variant.cuda or ""
    return args


def recorded_inputs(plan: Plan) -> str:
    """The lock's own record of its inputs, for the build record."""
    header = read_header(ROOT / plan.recipe_file) or {}
    return header.get("inputs", "")
