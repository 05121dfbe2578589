"""`invoke lock` for pip recipes: `env/pip/<stem>.txt` from `env/pip/<stem>.in`
with uv, every package pinned with its hashes, for Linux on the variant's
architecture and Python.

The PyPI build of a torch release (its "reference") is locked first; its
shared dependencies go to `env/pip/<reference stem>.shared.txt`, and every
other platform of that release is locked under those as constraints, so all
variants agree on numpy, pillow and the rest. A lock's first line records a
hash of everything it was made from; a build refuses a lock whose inputs
have changed since.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from pathlib import Path

from packaging.version import Version

from envkit import ROOT
from envkit.catalog.variants import Variant, compat, default_arch, lock_settings, reference
from envkit.catalog.variants import indexes as index_data
from envkit.core import files, proc
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.recipes import indexes, relock
from envkit.recipes.files import LockFile, digest_of, input_for_new_lock, input_text, parse_pip, pip_packages, sealed
from envkit.recipes.recipe_kind import BuildInputs, RecipeKind, inputs_changed

TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
_INCLUDE = re.compile(r"^\s*-[rc]\s+(\S+)", re.MULTILINE)


def shared_file(variant: Variant) -> str:
    return f"env/pip/{reference(variant).stem}.shared.txt"


def lock_exists(variant: Variant) -> bool:
    return (ROOT / variant.lock_file).is_file()


def is_reference(variant: Variant) -> bool:
    """The first architecture's PyPI build; aarch64's PyPI wheel (CUDA from torch
    2.11) is locked under its shared file like every other build."""
    return variant.platform == compat()[variant.torch].pypi_default and variant.arch == default_arch()


def render_input(variant: Variant) -> str:
    """A new variant's input: its torch family, as the table pairs them, plus
    what every recipe shares (env/pip/common.in)."""
    local = "" if variant.index_url == index_data().pypi else f"+{variant.platform}"  # PyPI's wheels have no +local
    # A torch with no torchaudio release (variant.torchaudio == "") installs none.
    pins = "".join(f"{name}=={getattr(variant, name)}{local}\n" for name in TORCH_FAMILY if getattr(variant, name))
    return f"# Input of {variant.lock_file}: `invoke lock {variant.flags()}` locks it.\n{pins}-r common.in\n"


def _input_files(relative: str) -> dict[str, str]:
    """The input and every file it includes with -r/-c, by path."""
    text = input_text(ROOT / relative)
    files = {relative: text}
    for included in _INCLUDE.findall(text):
        files.update(_input_files(os.path.normpath(str(Path(relative).parent / included))))
    return files


def exclude_newer(variant: Variant) -> str:
    """uv's upload-time cut-off, where the index records upload times (PyPI)."""
    return lock_settings().exclude_newer if variant.index_url == index_data().pypi else ""


def inputs_digest(variant: Variant) -> str:
    """sha256 of everything the lock is made from: the input files, the shared
    constraints, the upstream indexes, the Python and platform, the cut-off."""
    facts = {
        "inputs": _input_files(variant.input_file),
        "constraints": "" if is_reference(variant) else input_text(ROOT / shared_file(variant)),
        "indexes": list(indexes.upstream(variant).all),
        "python": variant.python,
        "python_platform": variant.arch_data.python_platform,
        "exclude_newer": exclude_newer(variant),
    }
    return digest_of(facts)


def stale_reason(variant: Variant) -> str:
    """Why the variant's lock cannot be trusted as is; "" when it is fresh or
    pinned by hand (no header: nothing recorded to compare)."""
    return KIND.stale_reason(variant)


def uv_compile(variant: Variant, index_url: str, output: Path) -> list[str]:
    """`uv pip compile` of the variant's input: every pin with its hashes,
    wheels only, for Linux and the variant's Python."""
    return [
        proc.tool("uv"),
        "pip",
        "compile",
        variant.input_file,
        "--generate-hashes",
        "--python-version",
        variant.python,
        "--python-platform",
        variant.arch_data.python_platform,
        "--index-url",
        index_url,
        "--no-emit-index-url",
        "--no-build",
        "--custom-compile-command",
        f"invoke lock {variant.flags()}",
        "--output-file",
        str(output),
    ]


def uv_env(settings: Settings) -> dict[str, str]:
    """uv's environment: no user or project config of its own, the CA bundle when one is set."""
    env = {**os.environ, "UV_NO_CONFIG": "1"}
    if ca_cert := settings.ca_cert:
        env["SSL_CERT_FILE"] = str(ca_cert)
    return env


def compile_command(variant: Variant, settings: Settings, output: Path) -> list[str]:
    urls = indexes.effective(variant, settings)
    argv = uv_compile(variant, urls.index_url, output)
    for url in urls.extra_index_urls:
        argv += ["--extra-index-url", url]
    if urls.extra_index_urls:  # each pinned version from whichever index has it, as pip does
        argv += ["--index-strategy", "unsafe-best-match"]
    if not is_reference(variant):
        argv += ["--constraints", shared_file(variant)]
    if exclude_newer(variant) and urls.index_url == variant.index_url:
        argv += ["--exclude-newer", exclude_newer(variant)]
    return argv


def _shared(lock_text: str) -> str:
    """The reference lock's packages that other platforms share: not the torch
    family, not the CUDA libraries (nvidia-*, cuda-toolkit and its cuda-*
    helpers from torch 2.10, triton), which each build pins itself."""
    versions = parse_pip(lock_text).versions()
    lines = [
        f"{name}=={version}"
        for name, version in sorted(versions.items())
        if name not in TORCH_FAMILY and not name.startswith(("nvidia-", "cuda-")) and name != "triton"
    ]
    return (
        "# Shared dependencies of this torch release's PyPI lock, written by invoke lock:\n"
        "# every other platform's lock takes these versions.\n" + "\n".join(lines) + "\n"
    )


def _finished(variant: Variant, compiled: str) -> str:
    """uv's output with our header first and, for a recipe off PyPI, the
    upstream index lines after uv's comment, so plain `pip install -r` works."""
    lines = compiled.splitlines(keepends=True)
    comment = list(itertools.takewhile(lambda line: line.startswith("#"), lines))
    index_lines = [f"--index-url {variant.index_url}\n"] if variant.extra_index_urls else []
    index_lines += [f"--extra-index-url {url}\n" for url in variant.extra_index_urls]
    body = "".join(comment + index_lines + lines[len(comment) :])
    fields = {"inputs": inputs_digest(variant), "python": variant.python, "index": variant.index_url}
    return sealed(fields, body, hashes=True)  # uv compile --generate-hashes: every pin has its hashes


def lock(variant: Variant, settings: Settings, upgrade: bool = False) -> relock.Written:
    """Write the variant's lock (and, for a reference, its shared file), or
    nothing at all. The lock it replaces is uv's preferences unless `upgrade`."""
    if not is_reference(variant) and not (ROOT / reference(variant).lock_file).is_file():
        raise UsageError(
            f"lock {reference(variant).lock_file} first (its shared dependencies are this lock's "
            f"constraints): invoke lock {reference(variant).flags()}"
        )
    relock.check_cutoff(exclude_newer(variant))
    urls = indexes.effective(variant, settings)
    indexes.check_reachable(urls.all, settings, f"lock {variant.lock_file}")
    with input_for_new_lock(ROOT / variant.input_file, lambda: render_input(variant)):
        return _compile(variant, settings, urls, upgrade)


def _compile(variant: Variant, settings: Settings, urls: indexes.Indexes, upgrade: bool) -> relock.Written:
    target = ROOT / variant.lock_file
    files.check_target(target, ROOT)
    if is_reference(variant):
        files.check_target(ROOT / shared_file(variant), ROOT)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".lock-") as scratch:
        output = Path(scratch) / "lock.txt"
        relock.seed(target, output, upgrade)
        failure = f"cannot lock {variant.lock_file}: uv pip compile failed; nothing was written"
        argv = [*compile_command(variant, settings, output), *relock.uv_flags(upgrade)]
        proc.run_or_fail(argv, failure, env=uv_env(settings), cwd=ROOT)
        staged = Path(scratch) / "staged.txt"
        staged.write_text(_finished(variant, output.read_text()))
        moves = relock.report(target, staged.read_text(), inputs_digest(variant), exclude_newer(variant))
        if is_reference(variant):
            (Path(scratch) / "shared.txt").write_text(_shared(staged.read_text()))
            os.replace(Path(scratch) / "shared.txt", ROOT / shared_file(variant))
        os.replace(staged, target)
    return relock.Written(target, moves)


def versions(lock: LockFile) -> dict[str, str]:
    return pip_packages(lock).versions()


def hashes(lock: LockFile) -> dict[str, tuple[str, ...]]:
    return {name: pin.hashes for name, pin in pip_packages(lock).pins.items()}


def same_version(installed: str, locked: str) -> bool:
    return Version(installed) == Version(locked)


def recipe_args(variant: Variant, given: BuildInputs) -> dict[str, str]:
    """docker/pip.Dockerfile's ARGs for the recipe: the lock, its hashes, where wheels come from."""
    args = {
        "REQUIREMENTS": given.recipe_file,
        "REQUIRE_HASHES": "true" if given.hash_locked else "false",
        "INSTALL_FROM": "wheelhouse" if given.wheelhouse else "index",
    }
    if given.indexes:
        args["INDEX_URL"] = given.indexes.index_url
        args["EXTRA_INDEX_URL"] = " ".join(given.indexes.extra_index_urls)
    return args


KIND = RecipeKind(
    name="pip",
    inputs_digest=inputs_digest,
    lock=lock,
    packages=versions,
    hashes=hashes,
    same_version=same_version,
    recipe_args=recipe_args,
    changed=inputs_changed,
    venv=True,
    hand_pinned=True,
    builds_from_input=False,
)
