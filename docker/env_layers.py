"""The Python environment of a pip image in layers that change at different
rates, so that a one-pin change in the lock rebuilds, pushes and pulls only
the layer that holds that package (measured by `invoke bench`).

    python3 env_layers.py split LOCK OUT_DIR split|single
        writes OUT_DIR/1.txt .. OUT_DIR/6.txt: the lock's entries by layer
        (every file keeps the lock's index options; `single` puts every
        entry in the last one, the one-layer install `invoke bench` compares)
    python3 env_layers.py prefetch LOCK
        downloads every wheel of the lock at once into uv's cache (a cache
        mount), so that the install steps, one per layer, only copy; a
        no-op for a wheelhouse build
    python3 env_layers.py install N
        installs /opt/envkit/layers/N.txt into /opt/venv with uv, then
        compiles the bytecode of exactly what it installed

Runs with the base image's own python, standard library only. The order is
fixed by the data `invoke bench` measured for cu121 (installed sizes):
  1 cudnn       nvidia-cudnn                 1.02 GB  changes with the CUDA pins
  2 cuda        every other nvidia-* library 1.72 GB  changes with the CUDA pins
  3 triton      triton / pytorch-triton      0.58 GB  changes with torch's minor
  4 torch       torch, torchvision, torchaudio 1.66 GB  changes with every torch release
  5 nvjitlink   nvidia-nvjitlink             0.10 GB  only a lower bound in torch's metadata,
                                                      so a lock refresh moves it
  6 rest        everything else (numpy, pillow, ...) 0.17 GB  changes most often
Slowest-changing first: Docker rebuilds every layer after the first changed
one. cudnn has a layer of its own because push compresses each layer on one
core: three layers of similar size keep two cores busy where one 5 GB layer
kept one.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import os
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

LAYER_COUNT = 6
# (pattern, layer): the first pattern that matches a normalized name wins.
RULES = (
    ("nvidia-nvjitlink-*", 5),
    ("nvidia-cudnn-*", 1),
    ("nvidia-*", 2),
    ("triton", 3),
    ("pytorch-triton*", 3),
    ("torch", 4),
    ("torchvision", 4),
    ("torchaudio", 4),
    ("*", 6),
)
VENV = Path("/opt/venv")
LAYERS_DIR = Path("/opt/envkit/layers")
INSTALLER = Path("/opt/installer/bin/uv")
CACHE = Path("/root/.cache")  # the build's cache mount, where uv keeps its cache
WHEELHOUSE = Path("/wheelhouse/wheels")
# Test suites shipped inside packages (numpy's, sympy's, ...): nothing at
# runtime imports them, so their bytecode is not compiled into the image.
TEST_FOLDER = re.compile(r"(^|/)tests/")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_of(name: str) -> int:
    return next(layer for pattern, layer in RULES if fnmatch.fnmatchcase(normalized(name), pattern))


def entries(lock_text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The lock's option lines (indexes) and its entries: (name, the entry's
    text, continuation lines and `# via` comments included)."""
    options: list[str] = []
    found: list[tuple[str, list[str]]] = []
    for line in lock_text.splitlines(keepends=True):
        stripped = line.strip()
        if found and (line[:1].isspace() or not stripped):
            found[-1][1].append(line)
        elif stripped.startswith("-"):
            options.append(line)
        elif stripped and not stripped.startswith("#"):
            found.append((re.split(r"[\s=<>!~;\[@\\]", stripped, maxsplit=1)[0], [line]))
    return options, [(name, "".join(lines)) for name, lines in found]


def split(lock: Path, out_dir: Path, single: bool) -> None:
    options, listed = entries(lock.read_text())
    by_layer: dict[int, list[str]] = {n: [] for n in range(1, LAYER_COUNT + 1)}
    for name, text in listed:
        by_layer[LAYER_COUNT if single else layer_of(name)].append(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    for number, texts in by_layer.items():
        (out_dir / f"{number}.txt").write_text("".join(options + texts) if texts else "")


def dist_infos() -> set[Path]:
    return set(VENV.glob("lib/python*/site-packages/*.dist-info"))


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


def compile_one(source: Path) -> None:
    # Hash-based and unchecked: byte-identical across rebuilds, and never
    # rewritten by an import (the image's files are read-only to its user).
    py_compile.compile(
        str(source), doraise=True, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


def uv_command(requirements: Path, venv: Path = VENV) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, UV_LINK_MODE="copy", UV_PYTHON_DOWNLOADS="never", UV_INDEX_STRATEGY="unsafe-best-match")
    env["UV_REQUIRE_HASHES"] = os.environ.get("REQUIRE_HASHES", "true")
    argv = [str(INSTALLER), "pip", "install", "--python", str(venv / "bin" / "python"), "--no-deps", "--no-build"]
    if os.environ.get("INSTALL_FROM") == "wheelhouse":
        env["UV_NO_CACHE"] = "1"
        argv += ["--offline", "--no-index", "--find-links", str(WHEELHOUSE)]
    else:
        if Path("/run/secrets/ca").is_file() and Path("/run/secrets/ca").stat().st_size:
            env["SSL_CERT_FILE"] = "/run/secrets/ca"
        if os.environ.get("INDEX_URL"):
            env["UV_INDEX_URL"] = os.environ["INDEX_URL"]
        if os.environ.get("EXTRA_INDEX_URL"):
            env["UV_EXTRA_INDEX_URL"] = os.environ["EXTRA_INDEX_URL"]
    return [*argv, "-r", str(requirements)], env


def prefetch(lock: Path) -> None:
    """uv downloads and unpacks every wheel of the lock in parallel into its
    cache; installing them into a throwaway venv inside the cache mount costs
    only hard links. The split install steps then find everything cached.
    BuildKit runs this beside the system step."""
    if os.environ.get("INSTALL_FROM") == "wheelhouse":
        return
    scratch = CACHE / "envkit-prefetch"
    shutil.rmtree(scratch, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(scratch)], check=True)
    try:
        argv, env = uv_command(lock, venv=scratch)
        subprocess.run(argv, env={**env, "UV_LINK_MODE": "hardlink"}, check=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def install(number: int) -> None:
    requirements = LAYERS_DIR / f"{number}.txt"
    if not requirements.read_text().strip():
        return  # nothing of this variant belongs here (a CPU build has no CUDA layers)
    before = dist_infos()
    argv, env = uv_command(requirements)
    subprocess.run(argv, env=env, check=True)
    sources = installed_sources(dist_infos() - before)
    with concurrent.futures.ProcessPoolExecutor() as pool:
        list(pool.map(compile_one, sources, chunksize=64))
    print(f"layer {number}: {len(dist_infos() - before)} packages, {len(sources)} modules compiled")


def main(argv: list[str]) -> int:
    if argv[:1] == ["split"] and len(argv) == 4 and argv[3] in ("split", "single"):
        split(Path(argv[1]), Path(argv[2]), single=argv[3] == "single")
        return 0
    if argv[:1] == ["prefetch"] and len(argv) == 2:
        prefetch(Path(argv[1]))
        return 0
    if argv[:1] == ["install"] and len(argv) == 2 and argv[1].isdigit():
        install(int(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
