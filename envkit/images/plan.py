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
from envkit.recipes.files import LockFile, check_sealed, read_lock
from envkit.recipes.kinds import kind_of
from envkit.recipes.recipe_kind import BuildInputs


@dataclass(frozen=True)
class Plan:
    variant: Variant
    recipe_file: str  # relative to the build context
    hash_locked: bool
    base_image: str
    indexes: indexes.Indexes | None  # None: the recipe's own indexes
    wheelhouse: Path | None = None  # install from this folder, with no network
    runtime_image_id: str = ""  # a dev build: the tested runtime image it is built on (base_image is its tag)
    recipe_inputs: str = ""  # the inputs digest the lock records, for the build record

    def note(self) -> str:
        """The one line a build of a recipe without hashes prints."""
        if self.hash_locked:
            return ""
        where = self.variant.index_url or "the conda channels"
        return (
            f"note: {self.recipe_file} pins every package exactly but is not hash-locked; lock it with "
            f"`invoke lock {self.variant.flags()}` where {where} is reachable"
        )

    @property
    def inputs(self) -> BuildInputs:
        return BuildInputs(self.recipe_file, self.hash_locked, self.wheelhouse, self.indexes)


def check_intact(variant: Variant, lock: LockFile | None = None) -> None:
    """The variant's lock (LOCK, when read already), if it has one, is readable and as `invoke lock` wrote it."""
    path = ROOT / variant.lock_file
    if lock is None and not path.is_file():
        return
    check_sealed(lock or read_lock(path), variant.flags(), kind_of(variant).packages)


def recipe_of(variant: Variant) -> LockFile:
    """The variant's lock if it exists and is fresh, read once; a default
    variant of a kind that can may build from its input file until it has one."""
    path = ROOT / variant.lock_file
    kind = kind_of(variant)
    if path.is_file():
        lock = read_lock(path)
        check_intact(variant, lock)
        if reason := kind.stale_reason(variant, lock):
            raise UsageError(
                f"{variant.lock_file} is stale: {reason}. Regenerate it with `invoke lock {variant.flags()}`."
            )
        return lock
    if kind.builds_from_input and variant.default and (ROOT / variant.input_file).is_file():
        return read_lock(ROOT / variant.input_file)
    raise UsageError(
        f"{variant.name} has no lock yet ({variant.lock_file}): write it with `invoke lock {variant.flags()}`."
    )


def installed_locks(variant: Variant) -> list[LockFile]:
    """Every recipe an image of the variant installs, each read once: its
    own, and a dev image's runtime recipe below it."""
    return [recipe_of(v) for v in ((variant.runtime, variant) if variant.dev else (variant,))]


def _plan(
    variant: Variant, lock: LockFile, base_image: str, chosen: indexes.Indexes | None, wheelhouse: Path | None = None
) -> Plan:
    recipe_file = str(lock.path.relative_to(ROOT))
    return Plan(
        variant, recipe_file, lock.hash_locked, base_image, chosen, wheelhouse, recipe_inputs=lock.recorded_inputs
    )


def make(variant: Variant, settings: Settings, wheelhouse: Path | None = None) -> Plan:
    lock = recipe_of(variant)
    kind = kind_of(variant)
    base_image = settings.base_image or variant.base_image
    if not base_image:
        raise UsageError(
            f"env/variants.toml pins no {variant.recipe} base image for Python {variant.python}: "
            "add one there, or pass --base-image."
        )
    if wheelhouse is not None and not kind.venv:
        raise UsageError("--wheelhouse: only pip recipes install from a wheelhouse.")
    if wheelhouse is not None and not lock.hash_locked:
        raise UsageError(
            f"--wheelhouse: a wheelhouse holds only hash-checked wheels, and {lock.shown} has no hashes. "
            f"Lock it first with `invoke lock {variant.flags()}` where {variant.index_url} is reachable, "
            f"then fill one with `invoke wheelhouse {variant.flags()}`."
        )
    chosen = indexes.effective(variant, settings) if kind.venv else None
    overridden = chosen if chosen is not None and chosen != indexes.upstream(variant) else None
    return _plan(variant, lock, base_image, overridden, wheelhouse=wheelhouse)


def make_dev(variant: Variant, settings: Settings, runtime_tag: str) -> Plan:
    """A dev build: the dev lock (fresh), on the runtime image under that tag
    (whose id the build fills in once it has found it tested)."""
    if settings.extra_index_url:
        raise UsageError("--extra-index-url: the dev layer comes from PyPI or one mirror of it (--index-url).")
    lock = recipe_of(variant)
    chosen = dev_lock.index_url(settings)
    overridden = indexes.Indexes(chosen, ()) if chosen != index_data().pypi else None
    return _plan(variant, lock, runtime_tag, overridden)


def dev_build_args(plan: Plan, origin: provenance.Provenance) -> dict[str, str]:
    """Every ARG of docker/dev.Dockerfile, from the plan's data."""
    variant = plan.variant
    return {
        "RUNTIME_IMAGE": plan.base_image,
        "RUNTIME_IMAGE_ID": plan.runtime_image_id,
        "DEV_DEBIAN_PACKAGES": " ".join(variants_file().recipes.dev.debian_packages),
        "TORCH_VERSION": variant.torch,
        "VARIANT": variant.name,
        "REVISION": origin.revision,
        "CREATED": origin.created,
        **kind_of(variant).recipe_args(variant, plan.inputs),
    }


def build_args(plan: Plan, origin: provenance.Provenance) -> dict[str, str]:
    """Every ARG of docker/<recipe>.Dockerfile, from the plan's data."""
    variant = plan.variant
    if variant.dev:
        return dev_build_args(plan, origin)
    return {
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
        **kind_of(variant).recipe_args(variant, plan.inputs),
    }
