"""The Python environment of a pip image in layers that change at different
rates, so that a one-pin change in the lock rebuilds, pushes and pulls only
the layer that holds that package (measured by `invoke bench`).

    python3 env_layers.py split LOCK OUT_DIR split|single
        writes OUT_DIR/1.txt .. OUT_DIR/6.txt: the lock's entries by layer
        (every file keeps the lock's index options; `single` puts every
        entry in the last one, the one-layer install `invoke bench` compares)
    python env_layers.py prefetch LOCK     (the installer venv's python)
        downloads every wheel of the lock at once, hash-checked, into a
        folder on the build's cache mount, so that the install steps, one
        per layer, need no network; a no-op for a wheelhouse build
    python3 env_layers.py install-dev LOCK
        installs a dev lock the same way (records in /opt/envkit/wheels/dev.txt)
        on top of a runtime image, and fails unless every distribution
        installed before is exactly as it was
    python3 env_layers.py check
        pip check of /opt/venv; only a wheel NVIDIA tagged `_sbsa` (its
        name for aarch64) is taken as aarch64 there, said in the log
    python3 env_layers.py install N
        installs /opt/envkit/layers/N.txt into /opt/venv with uv, records
        the wheel each package came from and its sha256 in
        /opt/envkit/wheels/N.txt (what `invoke test`'s SBOM reads), strips
        the DWARF debug sections of the libraries it installed, then
        compiles the bytecode of exactly what it installed

Standard library only; runs with the base image's python (prefetch with the
installer venv's, whose pip knows the interpreter's wheel tags). The order
is fixed by the data `invoke bench` measured for cu121 (installed sizes):
  1 cudnn      nvidia-cudnn                        1.02 GB  changes with the CUDA pins
  2 cuda       every other nvidia-* library        1.72 GB  changes with the CUDA pins
  3 triton     triton / pytorch-triton             0.25 GB  changes with torch's minor
                                                            (0.58 GB before its debug sections go)
  4 torch      torch, torchvision, torchaudio      1.66 GB  changes with every torch release
  5 nvjitlink  nvidia-nvjitlink                    0.10 GB  only bounded from below by torch,
                                                            so a lock refresh moves it
  6 rest       everything else (numpy, pillow...)  0.17 GB  changes most often
Slowest-changing first: Docker rebuilds every layer after the first changed
one. cuDNN has a layer of its own because a push compresses each layer on
one core: several layers of similar size keep every core busy where one
5 GB layer kept one.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fnmatch
import functools
import hashlib
import html
import http.server
import os
import platform
import py_compile
import re
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
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
WHEEL_RECORDS = Path("/opt/envkit/wheels")
INSTALLER = Path("/opt/installer/bin/uv")
WHEELS = Path("/root/.cache/envkit-wheels")  # on the build's cache mount
UV_SCRATCH = Path("/tmp/envkit-uv-cache")  # on the image's file system, removed after each step
DOWNLOAD_THREADS = 8
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


def installed_files(new: set[Path]) -> list[Path]:
    """Every file the new distributions' RECORDs list."""
    return [
        (dist_info.parent / row.rsplit(",", 2)[0]).resolve()
        for dist_info in sorted(new)
        for row in (dist_info / "RECORD").read_text().splitlines()
        if row.strip()
    ]


def debug_section_bytes(path: Path) -> int:
    """Bytes of DWARF debug sections (.debug_*) in a 64-bit little-endian ELF
    file; 0 for anything else. Nothing reads them at run time: no section of
    theirs is loaded."""
    try:
        with path.open("rb") as elf:
            header = elf.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4:6] != b"\x02\x01":
                return 0
            (table,) = struct.unpack_from("<Q", header, 0x28)
            entry_size, count, names_index = struct.unpack_from("<HHH", header, 0x3A)
            elf.seek(table)
            raw = elf.read(entry_size * count)
            sections = [struct.unpack_from("<IIQQQQ", raw, i * entry_size) for i in range(count)]
            elf.seek(sections[names_index][4])
            names = elf.read(sections[names_index][5])
    except (OSError, struct.error, IndexError):
        return 0
    return sum(
        section[5] for section in sections if names[section[0] : names.find(b"\0", section[0])].startswith(b".debug")
    )


def strip_debug_sections(files: list[Path]) -> int:
    """`strip --strip-debug` the shared libraries that ship DWARF debug info
    (triton 3.0's libtriton.so: 326 of its 473 MB). The symbol table stays,
    so backtraces still name functions; the code and data the loader maps
    are unchanged. strip is deterministic: rebuilds stay byte-identical."""
    saved = 0
    for path in files:
        if ".so" in path.name and not path.is_symlink() and (size := debug_section_bytes(path)):
            subprocess.run(["strip", "--strip-debug", str(path)], check=True)
            saved += size
    return saved


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
    env = dict(os.environ, UV_LINK_MODE="hardlink", UV_PYTHON_DOWNLOADS="never", UV_CACHE_DIR=str(UV_SCRATCH))
    env["UV_REQUIRE_HASHES"] = os.environ.get("REQUIRE_HASHES", "true")
    argv = [str(INSTALLER), "pip", "install", "--python", str(VENV / "bin" / "python"), "--no-deps", "--no-build"]
    argv += ["--no-index", "--find-links", find_links]
    return [*argv, "-r", str(requirements)], env


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """The folder's wheels over HTTP on the loopback (which a build with no
    network still has). uv records a wheel installed from a local path with
    its file's time (dist-info/uv_cache.json, listed in RECORD): served, it
    installs exactly as from an index, and rebuilds stay byte-identical."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _index_urls(options: list[str]) -> list[str]:
    """INDEX_URL / EXTRA_INDEX_URL (mirrors) when set, else the lock's own."""
    if os.environ.get("INDEX_URL"):
        return [os.environ["INDEX_URL"], *os.environ.get("EXTRA_INDEX_URL", "").split()]
    words = " ".join(options).replace("=", " ").split()
    urls = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("--index-url", "-i")]
    extras = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--extra-index-url"]
    return (urls or ["https://pypi.org/simple"]) + extras


def _wheel_tags(filename: str) -> list[str]:
    """`name-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl` -> its tags."""
    python, abi, platform = filename[: -len(".whl")].split("-")[-3:]
    return [f"{p}-{a}-{t}" for p in python.split(".") for a in abi.split(".") for t in platform.split(".")]


def _best_wheel(name: str, version: str, urls: list[str], rank: dict[str, int], tls: ssl.SSLContext) -> tuple[str, str]:
    """(url, filename) of the wheel uv would install: the pinned version's
    file with the best tag for this interpreter, from any of the indexes
    (unsafe-best-match)."""
    found = []
    for index_url in urls:
        page = f"{index_url.rstrip('/')}/{normalized(name)}/"
        try:
            with urllib.request.urlopen(page, timeout=120, context=tls) as response:
                hrefs = re.findall(r'href="([^"]+)"', response.read().decode())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                continue
            raise
        for href in hrefs:
            url = urllib.parse.urljoin(page, html.unescape(href)).partition("#")[0]
            filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
            if not filename.endswith(".whl") or filename.split("-")[1] != version.replace("-", "_"):
                continue
            best = min((rank[tag] for tag in _wheel_tags(filename) if tag in rank), default=None)
            if best is not None:
                found.append((best, url, filename))
    if not found:
        raise SystemExit(f"prefetch: no wheel of {name}=={version} for this Python on {', '.join(urls)}")
    _, url, filename = min(found)
    return url, filename


def _download(url: str, filename: str, pin: str, hashes: set[str], tls: ssl.SSLContext) -> int:
    """Download to a temporary name; keep the file (under its digest, or its
    pin when the lock has no hashes) only if the lock lists its sha256."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=WHEELS)
    os.close(handle)
    partial = Path(name)
    hasher = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=600, context=tls) as response, partial.open("wb") as out:
        while chunk := response.read(1 << 20):
            hasher.update(chunk)
            out.write(chunk)
    digest = hasher.hexdigest()
    if hashes and digest not in hashes:
        partial.unlink()
        raise SystemExit(
            f"prefetch: hash mismatch for `{pin}`: {filename} has sha256 {digest}, which the lock does not list"
        )
    folder = WHEELS / digest if hashes else WHEELS / "unhashed" / pin / platform.machine()
    folder.mkdir(parents=True, exist_ok=True)
    partial.rename(folder / filename)
    return (folder / filename).stat().st_size


def _pin(text: str) -> tuple[str, set[str]]:
    """An entry's pinned version and the sha256 digests the lock lists for it."""
    version = re.search(r"==\s*([^\s;\\]+)", text)
    if version is None:
        raise SystemExit(f"env_layers: not an exact pin: {text.splitlines()[0]}")
    return version[1], set(re.findall(r"--hash=sha256:([0-9a-f]{64})", text))


PYTHON = sys.version_info[:2]  # the interpreter this step runs: the base's (or the installer's, the same)


def fits_this_machine(wheel: Path) -> bool:
    """Whether a kept wheel installs here: built for this architecture (or
    pure) and for this Python. A lock lists the hashes of every platform's and
    every Python's wheel of a pin, and the cache mount is shared by the builds
    of every architecture (an arm64 build under QEMU beside an amd64 one) and
    every Python (a 3.11 line beside a 3.13 one): a kept x86_64 or cp311 wheel
    with an allowed hash is no wheel for aarch64 or for 3.13."""
    python_tags, abi_tags, platform_tags = (part.split(".") for part in wheel.name.removesuffix(".whl").split("-")[-3:])
    machine = any(tag == "any" or tag.endswith(f"_{platform.machine()}") for tag in platform_tags)
    return machine and _fits_this_python(python_tags, abi_tags)


def _fits_this_python(python_tags: list[str], abi_tags: list[str]) -> bool:
    """PEP 425 tags against this CPython: its own ABI (cp313), the stable ABI
    of an older or equal CPython (cp39-abi3), or none (py3, cp313-none)."""
    major, minor = PYTHON
    ours = f"cp{major}{minor}"

    def cpython(tag: str) -> tuple[int, int] | None:
        digits = tag.removeprefix("cp")
        return (int(digits[0]), int(digits[1:])) if tag.startswith("cp") and digits.isdigit() else None

    for abi in abi_tags:
        if abi == ours:
            return True
        if abi == "abi3" and any((found := cpython(tag)) and found <= PYTHON for tag in python_tags):
            return True
        if abi == "none" and any(tag in (ours, f"py{major}", f"py{major}{minor}") for tag in python_tags):
            return True
    return False


def _folder_of(name: str, version: str, hashes: set[str]) -> Path | None:
    """Where the wheel of a pin for this machine is kept, if it is:
    WHEELS/<sha256>/ for a hash-locked pin (a mirror or a stand-in index may
    serve another file under the same name: only the digest tells them
    apart), else WHEELS/unhashed/<name>==<version>/<machine>/."""
    if not hashes:
        folder = WHEELS / "unhashed" / f"{normalized(name)}=={version}" / platform.machine()
        return folder if any(folder.glob("*.whl")) else None
    kept = (WHEELS / digest for digest in sorted(hashes))
    return next((folder for folder in kept if any(map(fits_this_machine, folder.glob("*.whl")))), None)


def prefetch(lock: Path) -> None:
    """Every wheel of the lock not yet kept, downloaded at once into WHEELS
    (on the build's cache mount, kept between builds: a one-pin change
    downloads one wheel), hash-checked. Runs with the installer's python,
    whose pip knows the interpreter's wheel tags. BuildKit runs it beside
    the system step; the install steps then need no network (see fetch_missing)."""
    if os.environ.get("INSTALL_FROM") == "wheelhouse":
        return
    from pip._vendor.packaging.tags import sys_tags  # the installer venv's pip

    options, listed = entries(lock.read_text())
    urls = _index_urls(options)
    ca = Path("/run/secrets/ca")
    tls = ssl.create_default_context(cafile=str(ca) if ca.is_file() and ca.stat().st_size else None)
    rank = {str(tag): index for index, tag in enumerate(sys_tags())}

    def fetch(entry: tuple[str, str]) -> int:
        name, text = entry
        version, hashes = _pin(text)
        if _folder_of(name, version, hashes) is not None:
            return 0
        url, filename = _best_wheel(name, version, urls, rank, tls)
        return _download(url, filename, f"{normalized(name)}=={version}", hashes, tls)

    with concurrent.futures.ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        fetched = sum(pool.map(fetch, listed))
    print(f"prefetch: {len(listed)} wheels ready, {fetched / 1e6:.1f} MB downloaded")


def _linked_wheels(requirements: Path, links: Path) -> Path:
    """A folder of hard links to exactly the kept wheels this part of the
    lock pins: uv's --find-links for this step."""
    for name, text in entries(requirements.read_text())[1]:
        version, hashes = _pin(text)
        folder = _folder_of(name, version, hashes)
        if folder is None:
            raise SystemExit(f"env_layers: no prefetched wheel for {name}=={version}")
        for wheel in folder.glob("*.whl"):
            os.link(wheel, links / wheel.name)
    return links


def fetch_missing(requirements: Path, label: str) -> None:
    """BuildKit empties a cache mount on its own (its garbage collection, or
    `docker builder prune`) and may keep the cached layers step that
    downloaded into it: this step then finds no wheel where the prefetch
    left it, and fetches again what is gone, from the lock's indexes (a
    mirror set by INDEX_URL is an ARG of the layers step only, so that a
    mirror moved reruns no install step)."""
    missing = [
        f"{name}=={version}"
        for name, text in entries(requirements.read_text())[1]
        for version, hashes in [_pin(text)]
        if _folder_of(name, version, hashes) is None
    ]
    if not missing:
        return
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    print(f"{label}: {shown} no longer in BuildKit's cache (emptied since the download step ran): fetching again")
    fetched = subprocess.run([str(INSTALLER.parent / "python"), __file__, "prefetch", str(requirements)], check=False)
    if fetched.returncode != 0:
        raise SystemExit(
            f"{label}: fetching the lost wheels again from the lock's indexes failed (above); where only a mirror "
            "is reachable, `invoke build --no-cache` downloads everything again through it"
        )


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
    before = dist_infos()
    # Unique on the shared cache mount: every build step is pid 1, and a killed one leaves its folder.
    WHEELS.mkdir(parents=True, exist_ok=True)
    links = Path(tempfile.mkdtemp(prefix=f".links-{record.stem}-", dir=WHEELS))
    try:
        offline = os.environ.get("INSTALL_FROM") == "wheelhouse"
        if not offline:
            fetch_missing(requirements, label)
        served_folder = WHEELHOUSE if offline else _linked_wheels(requirements, links)
        with served(served_folder) as find_links:
            argv, env = uv_command(requirements, find_links)
            subprocess.run(argv, env=env, check=True)
        new = dist_infos() - before
        record_wheels(new, served_folder, record)
    finally:
        shutil.rmtree(UV_SCRATCH, ignore_errors=True)
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
    return {path.name: hashlib.sha256((path / "RECORD").read_bytes()).hexdigest() for path in dist_infos()}


def install_dev(lock: Path) -> None:
    """The dev layer on top of the tested runtime environment, which must
    come out of it exactly as it went in."""
    before = environment_state()
    install(lock, WHEEL_RECORDS / "dev.txt", "dev layer")
    after = environment_state()
    moved = sorted(name for name, digest in before.items() if after.get(name) != digest)
    if moved:
        raise SystemExit(
            f"dev layer: it changed the runtime environment ({', '.join(moved[:8])}); "
            "lock it again against the runtime lock with `invoke lock --dev`"
        )
    print(f"dev layer: the runtime's {len(before)} distributions are unchanged")


_UNSUPPORTED = re.compile(r"(\S+) (\S+) is not supported on this platform")


def _wheel_tags_of(name: str, version: str) -> list[str]:
    """The Tag lines of an installed distribution's WHEEL file."""
    for dist_info in dist_infos():
        stem = dist_info.name.removesuffix(".dist-info")
        if normalized(stem.rsplit("-", 1)[0]) == normalized(name) and stem.rsplit("-", 1)[-1] == version:
            wheel = dist_info / "WHEEL"
            lines = wheel.read_text().splitlines() if wheel.is_file() else []
            return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]
    return []


def judged_check(output: str, machine: str) -> tuple[list[str], list[str]]:
    """`pip check`'s complaints as (accepted, failing). One is accepted: on an
    aarch64 machine, "not supported on this platform" for a wheel whose WHEEL
    file tags it `*_sbsa` only (NVIDIA's name for Arm servers; its file name
    says aarch64, which is how it was chosen: nvidia-cusparselt-cu13 0.8.1,
    which torch 2.15.0 pins exactly). Every other complaint fails the build."""
    accepted, failing = [], []
    for line in filter(None, (line.strip() for line in output.splitlines())):
        match = _UNSUPPORTED.fullmatch(line)
        tags = _wheel_tags_of(match[1], match[2]) if match and machine == "aarch64" else []
        if tags and all(tag.endswith("_sbsa") for tag in tags):
            accepted.append(f"{line}: its WHEEL says {', '.join(tags)}, NVIDIA's name for aarch64; taken as aarch64")
        elif line != "No broken requirements found.":
            failing.append(line)
    return accepted, failing


def check() -> None:
    """pip check of the whole environment, judged by judged_check."""
    run = subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    accepted, failing = judged_check(run.stdout + run.stderr, platform.machine())
    for line in accepted:
        print(f"pip check: accepted: {line}")
    if failing or (run.returncode != 0 and not accepted):
        raise SystemExit("pip check failed:\n" + "\n".join(failing or [run.stdout + run.stderr]))
    print("pip check: the environment's requirements are consistent")


def main(argv: list[str]) -> int:
    if argv == ["check"]:
        check()
        return 0
    if argv[:1] == ["split"] and len(argv) == 4 and argv[3] in ("split", "single"):
        split(Path(argv[1]), Path(argv[2]), single=argv[3] == "single")
        return 0
    if argv[:1] == ["prefetch"] and len(argv) == 2:
        prefetch(Path(argv[1]))
        return 0
    if argv[:1] == ["install"] and len(argv) == 2 and argv[1].isdigit():
        install(LAYERS_DIR / f"{argv[1]}.txt", WHEEL_RECORDS / f"{argv[1]}.txt", f"layer {argv[1]}")
        return 0
    if argv[:1] == ["install-dev"] and len(argv) == 2:
        install_dev(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
