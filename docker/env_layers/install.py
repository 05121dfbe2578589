"""One install step: a part of the lock installed into the venv with uv from
the served wheels, each wheel recorded for the SBOM, debug sections
stripped, exactly the new modules' bytecode compiled; the dev layer on top,
which must leave the runtime environment as it was."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import py_compile
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import places
from .cache import fetch_missing, linked_wheels
from .elf import strip_debug_sections
from .layers import normalized
from .server import served

# Test suites shipped inside packages (numpy's, sympy's, ...): nothing at
# runtime imports them, so their bytecode is not compiled into the image.
TEST_FOLDER = re.compile(r"(^|/)tests/")


def installed_sources(new: set[Path]) -> list[Path]:
    """The .py files the new distributions' RECORDs list, test suites left out."""
    sources = []
    for dist_info in sorted(new):
        site = dist_info.parent
        for row in (dist_info / "RECORD").read_text().splitlines():
            path = row.rsplit(",", 2)[0]
            if path.endswith(".py") and not TEST_FOLDER.search(path):
                sources.append((site / path).resolve())
    return sources


def installed_files(new: set[Path]) -> list[Path]:
    """Every file the new distributions' RECORDs list."""
    return [
        (dist_info.parent / row.rsplit(",", 2)[0]).resolve()
        for dist_info in sorted(new)
        for row in (dist_info / "RECORD").read_text().splitlines()
        if row.strip()
    ]


def compile_one(source: Path) -> None:
    # Hash-based and unchecked: byte-identical across rebuilds, and never
    # rewritten by an import (the image's files are read-only to its user).
    py_compile.compile(
        str(source), doraise=True, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


def uv_command(requirements: Path, find_links: str) -> tuple[list[str], dict[str, str]]:
    """uv installs from the given wheels only. Its cache is a scratch folder
    on the image's own file system, so that unpacking a wheel there and hard
    linking it into the venv writes each file once."""
    env = dict(os.environ, UV_LINK_MODE="hardlink", UV_PYTHON_DOWNLOADS="never", UV_CACHE_DIR=str(places.UV_SCRATCH))
    env["UV_REQUIRE_HASHES"] = os.environ.get("REQUIRE_HASHES", "true")
    argv = [
        str(places.INSTALLER),
        "pip",
        "install",
        "--python",
        str(places.VENV / "bin" / "python"),
        "--no-deps",
        "--no-build",
    ]
    argv += ["--no-index", "--find-links", find_links]
    return [*argv, "-r", str(requirements)], env


def record_wheels(new: set[Path], served_folder: Path, record: Path) -> None:
    """`name version sha256 wheel` for each new distribution: the file it was
    installed from, hashed here, so the SBOM names the exact file."""
    wheels = {}
    for wheel in served_folder.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        wheels[(normalized(name), version)] = wheel
    rows = []
    for dist_info in new:
        name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
        wheel = wheels.get((normalized(name), version))
        if wheel is None:
            raise SystemExit(f"env_layers: {name}=={version} was installed from no wheel the step served")
        with wheel.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        rows.append(f"{normalized(name)} {version} {digest} {wheel.name}\n")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("".join(sorted(rows)))


def install(requirements: Path, record: Path, label: str) -> set[Path]:
    """Install one part of a lock into /opt/venv; the dist-infos it added."""
    if not requirements.read_text().strip():
        return set()  # nothing of this variant belongs here (a CPU build has no CUDA layers)
    before = places.dist_infos()
    # Unique on the shared cache mount: every build step is pid 1, and a killed one leaves its folder.
    places.WHEELS.mkdir(parents=True, exist_ok=True)
    links = Path(tempfile.mkdtemp(prefix=f".links-{record.stem}-", dir=places.WHEELS))
    try:
        offline = os.environ.get("INSTALL_FROM") == "wheelhouse"
        if not offline:
            fetch_missing(requirements, label)
        served_folder = places.WHEELHOUSE if offline else linked_wheels(requirements, links)
        with served(served_folder) as find_links:
            argv, env = uv_command(requirements, find_links)
            subprocess.run(argv, env=env, check=True)
        new = places.dist_infos() - before
        record_wheels(new, served_folder, record)
    finally:
        shutil.rmtree(places.UV_SCRATCH, ignore_errors=True)
        shutil.rmtree(links, ignore_errors=True)
    stripped = strip_debug_sections(installed_files(new))
    sources = installed_sources(new)
    with concurrent.futures.ProcessPoolExecutor() as pool:
        list(pool.map(compile_one, sources, chunksize=64))
    print(
        f"{label}: {len(new)} packages, {len(sources)} modules compiled, "
        f"{stripped / 1e6:.0f} MB of debug sections stripped"
    )
    return new


def environment_state() -> dict[str, str]:
    """Each installed distribution and the sha256 of its RECORD (every file
    it installed, with their digests): a package replaced, upgraded or
    reinstalled differently changes its entry."""
    return {path.name: hashlib.sha256((path / "RECORD").read_bytes()).hexdigest() for path in places.dist_infos()}


def install_dev(lock: Path) -> None:
    """The dev layer on top of the tested runtime environment, which must
    come out of it exactly as it went in."""
    before = environment_state()
    install(lock, places.WHEEL_RECORDS / "dev.txt", "dev layer")
    after = environment_state()
    moved = sorted(name for name, digest in before.items() if after.get(name) != digest)
    if moved:
        raise SystemExit(
            f"dev layer: it changed the runtime environment ({', '.join(moved[:8])}); "
            "lock it again against the runtime lock with `invoke lock --dev`"
        )
    print(f"dev layer: the runtime's {len(before)} distributions are unchanged")
