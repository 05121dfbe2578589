"""What a build of one variant will install, decided before docker runs: the
recipe file (a fresh lock, or a recipe pinned by hand), whether it carries
hashes, the base image, the indexes, and where packages come from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from envkit import ROOT
from envkit.catalog.variants import Variant
from envkit.core import provenance
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.recipes import conda_lock, indexes, pip_lock
from envkit.recipes.files import is_hash_locked, read_conda_lock, read_header, read_pip, tamper_reason


@dataclass(frozen=True)
class Plan:
    variant: Variant
    recipe_file: str  # relative to the build context
    hash_locked: bool
    base_image: str
    indexes: indexes.Indexes | None  # None: the recipe's own indexes
    wheelhouse: Path | None = None  # install from this folder, with no network

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
    lock = ROOT / variant.lock_file
    if not lock.is_file():
        return
    if tampered := tamper_reason(lock):
        raise UsageError(
            f"{variant.lock_file} {tampered}; it is refused as tampered. Regenerate it with "
            f"`invoke lock {variant.flags()}` (or restore it with `git checkout {variant.lock_file}`)."
        )
    if variant.recipe == "pip":
        read_pip(lock)
    else:
        read_conda_lock(lock)


def recipe_of(variant: Variant) -> tuple[str, bool]:
    """The variant's lock if it exists and is fresh; a default conda variant
    may build from its environment file until it has one."""
    lock = ROOT / variant.lock_file
    if lock.is_file():
        check_intact(variant)
        reason = (pip_lock if variant.recipe == "pip" else conda_lock).stale_reason(variant)
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


def build_args(plan: Plan, origin: provenance.Provenance) -> dict[str, str]:
    """Every ARG of docker/<recipe>.Dockerfile, from the plan's data."""
    variant = plan.variant
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
