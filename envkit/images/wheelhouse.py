"""`invoke wheelhouse`: everything a pip variant's build downloads, in one
folder, so that `invoke build --wheelhouse DIR` runs with no network at all:

    DIR/wheels/   every wheel of the lock and of the installer, hash-checked
    DIR/debs/     the Debian packages the image's system step adds to its base
    DIR/wheelhouse.json   what it was made for (recipe hash, base image)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import docker

from envkit import ROOT
from envkit.catalog.variants import Variant, arches, default_arch
from envkit.core import engine
from envkit.core.errors import KitError, UsageError
from envkit.core.files import read_text
from envkit.core.proc import run_or_fail
from envkit.core.settings import Settings
from envkit.core.validation import STRICT, read_json
from envkit.images import plan
from envkit.images.context import copy_context
from envkit.recipes import indexes

INSTALLER = "env/pip/installer.txt"
MANIFEST = "wheelhouse.json"
# The one list of the Debian packages an image adds (docker/pip.Dockerfile runs it to install).
SYSTEM_PACKAGES = ROOT / "docker" / "system-packages.sh"


@dataclass(frozen=True)
class Contents:
    """wheelhouse.json: what the wheelhouse holds and what it was made for."""

    __pydantic_config__ = STRICT
    variant: str
    recipe: str
    recipe_sha256: str
    base_image: str
    wheels: int
    debs: int
    bytes: int


def default_dir(variant: Variant) -> Path:
    return ROOT / "wheelhouse" / variant.name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _without_index_options(recipe: Path, destination: Path) -> Path:
    """pip lets a requirements file's --index-url win over the command line;
    the wheelhouse uses the indexes chosen here (mirrors, overrides)."""
    lines = [
        line
        for line in read_text(recipe).splitlines(keepends=True)
        if not line.startswith(("--index-url", "--extra-index-url", "-i "))
    ]
    destination.write_text("".join(lines))
    return destination


def platform_tags(python_platform: str | None = None) -> list[str]:
    """The wheel platforms a lock was resolved for (env/variants.toml [arches]
    python_platform, e.g. x86_64-manylinux_2_28; the first architecture's when
    None) and every older one, spelled as pip wants them, plus plain linux for
    the PyTorch index's own wheels."""
    python_platform = python_platform or arches()[default_arch()].python_platform
    arch, _, policy = python_platform.partition("-manylinux_2_")
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(int(policy), 4, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}", f"linux_{arch}"]


def download_command(
    variant: Variant, requirements: Path, dest: Path, urls: indexes.Indexes, settings: Settings
) -> list[str]:
    # --isolated: none of the user's pip configuration (constraints, find-links) applies.
    argv = [sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check", "--no-deps"]
    argv += ["--require-hashes", "--only-binary=:all:", "--implementation", "cp", "--python-version", variant.python]
    for tag in platform_tags(variant.arch_data.python_platform):
        argv += ["--platform", tag]
    argv += ["--dest", str(dest), "--requirement", str(requirements), "--index-url", urls.index_url]
    for url in urls.extra_index_urls:
        argv += ["--extra-index-url", url]
    if ca_cert := settings.ca_cert:
        argv += ["--cert", str(ca_cert)]
    return argv


def _refuse_foreign(directory: Path) -> None:
    """The kit replaces only a wheelhouse it wrote (recognised by its
    manifest); any other file or non-empty folder is the user's, and so is
    a symbolic link: it is never replaced, nor written through."""
    if directory.is_symlink():
        raise UsageError(
            f"--dir {directory}: a symbolic link; the kit replaces only a folder it wrote. Give the folder itself."
        )
    for parent in directory.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"--dir {directory}: {parent} is a file, not a folder; choose another folder.")
    if not directory.exists():
        return
    if not directory.is_dir():
        raise UsageError(f"--dir {directory}: a file, not a folder; choose a new or empty folder.")
    if not any(directory.iterdir()) or read_manifest(directory) is not None:
        return
    raise UsageError(
        f"--dir {directory}: a folder that is not a wheelhouse (no valid {MANIFEST}) and not empty; "
        "the kit replaces only a wheelhouse it wrote. Choose a new or empty folder; nothing was touched."
    )


def fill_wheelhouse(variant: Variant, settings: Settings, directory: Path) -> Contents:
    """Download into a scratch folder beside DIR, then put it in place of DIR:
    all or nothing, and only over a wheelhouse the kit wrote itself."""
    build_plan = plan.make(variant, settings)
    if not build_plan.hash_locked:
        raise UsageError(
            f"a wheelhouse takes only hash-checked wheels, and {build_plan.recipe_file} has no hashes: "
            f"lock it first with `invoke lock {variant.flags()}`."
        )
    _refuse_foreign(directory)
    urls = indexes.effective(variant, settings)
    indexes.check_reachable(urls.all, settings, f"fill the wheelhouse {directory}")
    client = engine.connect()
    directory.parent.mkdir(parents=True, exist_ok=True)
    # A new, uniquely named scratch folder: nothing of the user's is ever in it.
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.partial-"))
    try:
        (staging / "wheels").mkdir(parents=True)
        # pip's own scratch goes in ours, so an interrupted pip leaves nothing elsewhere.
        (staging / "tmp").mkdir()
        for recipe in (ROOT / build_plan.recipe_file, ROOT / INSTALLER):
            requirements = _without_index_options(recipe, staging / "requirements.txt")
            download = download_command(variant, requirements, staging / "wheels", urls, settings)
            failure = f"cannot fill the wheelhouse {directory}: pip download failed; nothing was written"
            run_or_fail(download, failure, env={"TMPDIR": str(staging / "tmp")})
        (staging / "requirements.txt").unlink()
        shutil.rmtree(staging / "tmp")
        _download_debs(client, build_plan.base_image, staging / "debs", settings)
        files = [path for path in staging.rglob("*") if path.is_file()]
        contents = Contents(
            variant.name,
            build_plan.recipe_file,
            _sha256(ROOT / build_plan.recipe_file),
            build_plan.base_image,
            len(list((staging / "wheels").glob("*.whl"))),
            len(list((staging / "debs").glob("*.deb"))),
            sum(path.stat().st_size for path in files),
        )
        (staging / MANIFEST).write_text(json.dumps(asdict(contents), indent=2) + "\n")
        _replace(directory, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return contents


def _replace(directory: Path, staging: Path) -> None:
    """Put the new wheelhouse in place of the old one (checked to be the kit's)."""
    _refuse_foreign(directory)  # again: the user may have written into it meanwhile
    if directory.exists():
        old = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.old-"))
        os.replace(directory, old / "wheelhouse")
        os.replace(staging, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, directory)


def read_manifest(directory: Path) -> Contents | None:
    """The wheelhouse's record of what it was made for; None where there is
    no valid one (not a wheelhouse this kit wrote)."""
    try:
        return read_json(directory / MANIFEST, Contents, MANIFEST, "")
    except UsageError:
        return None


def _download_debs(client: docker.DockerClient, base_image: str, debs: Path, settings: Settings) -> None:
    """The .debs the system step would install on this very base, fetched in a container of it."""
    debs.mkdir(parents=True)
    volumes = {
        str(debs): {"bind": "/debs", "mode": "rw"},
        str(SYSTEM_PACKAGES): {"bind": "/opt/envkit-build/system-packages.sh", "mode": "ro"},
    }
    if ca_cert := settings.ca_cert:
        volumes[str(ca_cert)] = {"bind": "/run/secrets/ca", "mode": "ro"}
    try:
        code, _, errors = engine.run_container(
            client,
            base_image,
            ["sh", "/opt/envkit-build/system-packages.sh", "download", "/debs"],
            volumes=volumes,
            user="0",
        )
    except (docker.errors.ImageNotFound, docker.errors.APIError):
        raise UsageError(
            f"the base image {base_image} is neither here nor pullable: pull it, or build one with `invoke base` "
            "and pass --base-image; the Debian packages are fetched for that base."
        ) from None
    if code != 0:
        raise KitError(f"cannot download the Debian packages for {base_image}: {errors.strip()[-500:]}")


def check_wheelhouse(wheelhouse: Path, build_plan: plan.Plan) -> None:
    """The wheelhouse must have been made for this recipe and this base."""
    if not wheelhouse.is_dir():
        raise UsageError(
            f"--wheelhouse {wheelhouse}: no such folder; "
            f"make one with `invoke wheelhouse {build_plan.variant.flags()}`."
        )
    made_for = read_manifest(wheelhouse)
    if made_for is None:
        raise UsageError(
            f"--wheelhouse {wheelhouse}: not a wheelhouse (no valid {MANIFEST}); "
            f"make one with `invoke wheelhouse {build_plan.variant.flags()}`."
        )
    now = (_sha256(ROOT / build_plan.recipe_file), build_plan.base_image)
    if (made_for.recipe_sha256, made_for.base_image) != now:
        raise UsageError(
            f"--wheelhouse {wheelhouse} was made for another recipe or base image "
            f"({made_for.recipe} on {made_for.base_image}); refill it with "
            f"`invoke wheelhouse {build_plan.variant.flags()}`."
        )


def wheelhouse_context(source: Path, wheelhouse: Path, destination: Path) -> Path:
    """A build context holding the checkout's build files and the wheelhouse
    (hard links where the file system allows): BuildKit reads no file from
    outside its context, and the normal context never carries gigabytes."""
    copy_context(destination, source)
    for path in wheelhouse.rglob("*"):
        target = destination / "wheelhouse" / path.relative_to(wheelhouse)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
    with (destination / ".dockerignore").open("a") as ignore:
        ignore.write("!wheelhouse\n!wheelhouse/**\n")
    return destination
