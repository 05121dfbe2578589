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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker

from envkit import ROOT
from envkit.catalog.variants import Variant, lock_settings
from envkit.core import engine
from envkit.core.errors import KitError, UsageError
from envkit.core.proc import capture
from envkit.core.settings import Settings
from envkit.images import plan
from envkit.images.context import copy_context
from envkit.recipes import indexes

INSTALLER = "env/pip/installer.txt"
MANIFEST = "wheelhouse.json"
# The system step of docker/pip.Dockerfile, downloading instead of installing.
_DEBS_SCRIPT = """set -e
if [ -s /run/secrets/ca ]; then echo 'Acquire::https::CAInfo "/run/secrets/ca";' >/etc/apt/apt.conf.d/99ca; fi
apt-get update -qq
packages=g++
headers="$(python3 -c 'import sysconfig; print(sysconfig.get_path("include"))')"
[ -f "$headers/Python.h" ] || packages="$packages libpython3-dev"
apt-get install -qq -y --download-only --no-install-recommends -o Dir::Cache::archives=/debs $packages
rm -rf /debs/partial /debs/lock
"""


@dataclass(frozen=True)
class Contents:
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
        for line in recipe.read_text().splitlines(keepends=True)
        if not line.startswith(("--index-url", "--extra-index-url", "-i "))
    ]
    destination.write_text("".join(lines))
    return destination


def platform_tags() -> list[str]:
    """The wheel platforms the lock was resolved for (env/variants.toml [lock]
    python_platform, e.g. x86_64-manylinux_2_28) and every older one, spelled
    as pip wants them, plus plain linux for the PyTorch index's own wheels."""
    arch, _, policy = lock_settings().python_platform.partition("-manylinux_2_")
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(int(policy), 4, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}", f"linux_{arch}"]


def download_command(
    variant: Variant, requirements: Path, dest: Path, urls: indexes.Indexes, settings: Settings
) -> list[str]:
    # --isolated: none of the user's pip configuration (constraints, find-links) applies.
    argv = [sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check", "--no-deps"]
    argv += ["--require-hashes", "--only-binary=:all:", "--implementation", "cp", "--python-version", variant.python]
    for tag in platform_tags():
        argv += ["--platform", tag]
    argv += ["--dest", str(dest), "--requirement", str(requirements), "--index-url", urls.index_url]
    for url in urls.extra_index_urls:
        argv += ["--extra-index-url", url]
    if ca_cert := settings.ca_cert_path():
        argv += ["--cert", str(ca_cert)]
    return argv


def fill_wheelhouse(variant: Variant, settings: Settings, directory: Path) -> Contents:
    """Download into DIR.partial, then put it in place of DIR: all or nothing."""
    build_plan = plan.make(variant, settings)
    if not build_plan.hash_locked:
        raise UsageError(
            f"a wheelhouse takes only hash-checked wheels, and {build_plan.recipe_file} has no hashes: "
            f"lock it first with `invoke lock {variant.flags()}`."
        )
    urls = indexes.effective(variant, settings)
    indexes.check_reachable(urls.all, settings, f"fill the wheelhouse {directory}")
    client = engine.connect()
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "wheels").mkdir(parents=True)
        for recipe in (ROOT / build_plan.recipe_file, ROOT / INSTALLER):
            requirements = _without_index_options(recipe, staging / "requirements.txt")
            run = capture(download_command(variant, requirements, staging / "wheels", urls, settings), timeout=7200)
            if run.returncode != 0:
                tail = "\n".join(run.stderr.strip().splitlines()[-10:])
                raise KitError(
                    f"cannot fill the wheelhouse {directory}: pip download failed; nothing was written.\n{tail}"
                )
        (staging / "requirements.txt").unlink()
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
        shutil.rmtree(directory, ignore_errors=True)
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return contents


def _download_debs(client: docker.DockerClient, base_image: str, debs: Path, settings: Settings) -> None:
    """The .debs the system step would install on this very base, fetched in a container of it."""
    debs.mkdir(parents=True)
    volumes = {str(debs): {"bind": "/debs", "mode": "rw"}}
    if ca_cert := settings.ca_cert_path():
        volumes[str(ca_cert)] = {"bind": "/run/secrets/ca", "mode": "ro"}
    try:
        client.containers.run(base_image, ["sh", "-c", _DEBS_SCRIPT], volumes=volumes, remove=True, user="0")
    except docker.errors.ContainerError as error:
        raw: Any = error.stderr  # bytes at run time, whatever the stubs say
        stderr = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or error)
        raise KitError(f"cannot download the Debian packages for {base_image}: {stderr.strip()[-500:]}") from None
    except (docker.errors.ImageNotFound, docker.errors.APIError):
        raise UsageError(
            f"the base image {base_image} is neither here nor pullable: pull it, or build one with `invoke base` "
            "and pass --base-image; the Debian packages are fetched for that base."
        ) from None


def check_wheelhouse(wheelhouse: Path, build_plan: plan.Plan) -> None:
    """The wheelhouse must have been made for this recipe and this base."""
    manifest = wheelhouse / MANIFEST
    if not manifest.is_file():
        raise UsageError(
            f"--wheelhouse {wheelhouse}: not a wheelhouse (no {MANIFEST}); "
            f"make one with `invoke wheelhouse {build_plan.variant.flags()}`."
        )
    made_for = json.loads(manifest.read_text())
    now = (_sha256(ROOT / build_plan.recipe_file), build_plan.base_image)
    if (made_for["recipe_sha256"], made_for["base_image"]) != now:
        raise UsageError(
            f"--wheelhouse {wheelhouse} was made for another recipe or base image "
            f"({made_for['recipe']} on {made_for['base_image']}); refill it with "
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
