"""`invoke lock --dev`: a pip variant's dev layer, `env/pip/<stem>.dev.txt`,
from env/pip/dev.in with uv, every package pinned with its hashes.

It is resolved on PyPI under the runtime lock's versions as constraints: a
package both need (jinja2, packaging, ...) gets the runtime's version, so
installing the dev layer on the tested runtime image moves none of its
packages (the dev build checks that too). Its header records a hash of the
input, the runtime lock's versions and the resolver's settings; when the
runtime lock moves, the dev lock is stale until it is locked again.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from envkit import ROOT
from envkit.catalog.variants import Variant, lock_settings
from envkit.catalog.variants import indexes as index_data
from envkit.core import files, proc
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.recipes import indexes, pip_lock, relock
from envkit.recipes.files import check_sealed, digest_of, input_text, read_lock, sealed
from envkit.recipes.pip_lock import uv_compile, uv_env
from envkit.recipes.recipe_kind import BuildInputs, RecipeKind


def runtime_constraints(variant: Variant) -> str:
    """The runtime lock's exact versions, one `name==version` per line."""
    lock = ROOT / variant.runtime.lock_file
    if not lock.is_file():
        raise UsageError(
            f"{variant.runtime.lock_file} does not exist: the dev layer is locked against it; "
            f"write it first with `invoke lock {variant.runtime.flags()}`."
        )
    runtime, runtime_lock = variant.runtime, read_lock(lock)  # read once: sealed, fresh, then its versions
    check_sealed(runtime_lock, runtime.flags(), pip_lock.versions)
    if reason := pip_lock.KIND.stale_reason(runtime, runtime_lock):
        raise UsageError(
            f"{runtime.lock_file} is stale: {reason}; the dev layer is locked against it. "
            f"Regenerate it first with `invoke lock {runtime.flags()}`."
        )
    versions = pip_lock.versions(runtime_lock)
    return "".join(f"{name}=={version}\n" for name, version in sorted(versions.items()))


def inputs_digest(variant: Variant, constraints: str | None = None) -> str:
    """sha256 of what the dev lock is made from; `constraints`: runtime_constraints(variant), when read already."""
    facts = {
        "input": input_text(ROOT / variant.input_file),
        "constraints": runtime_constraints(variant) if constraints is None else constraints,
        "index": index_data().pypi,
        "python": variant.python,
        "python_platform": variant.arch_data.python_platform,
        "exclude_newer": lock_settings().exclude_newer,
    }
    return digest_of(facts)


def stale_reason(variant: Variant) -> str:
    """Why the dev lock cannot be used as is; "" when it is fresh."""
    return KIND.stale_reason(variant)


def _changed(variant: Variant) -> str:
    return f"{variant.input_file} or {variant.runtime.lock_file} changed since it was locked"


def index_url(settings: Settings) -> str:
    """PyPI, or the index or mirror of PyPI the settings name."""
    return settings.index_url or indexes.mirrored(index_data().pypi, settings.mirrors)


def compile_command(variant: Variant, settings: Settings, constraints: Path, output: Path) -> list[str]:
    url = index_url(settings)
    argv = [*uv_compile(variant, url, output), "--constraints", str(constraints)]
    if url == index_data().pypi:  # a mirror may not record upload times
        argv += ["--exclude-newer", lock_settings().exclude_newer]
    return argv


def lock(variant: Variant, settings: Settings, upgrade: bool = False) -> relock.Written:
    """Write the variant's dev lock, or nothing at all. The lock it replaces is uv's preferences unless `upgrade`."""
    relock.check_cutoff(lock_settings().exclude_newer)
    constraints = runtime_constraints(variant)
    indexes.check_reachable((index_url(settings),), settings, f"lock {variant.lock_file}")
    target = ROOT / variant.lock_file
    files.check_target(target, ROOT)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".lock-") as scratch:
        given = Path(scratch) / "constraints.txt"
        given.write_text(constraints)
        output = Path(scratch) / "lock.txt"
        relock.seed(target, output, upgrade)
        failure = f"cannot lock {variant.lock_file}: uv pip compile failed; nothing was written"
        argv = [*compile_command(variant, settings, given, output), *relock.uv_flags(upgrade)]
        proc.run_or_fail(argv, failure, env=uv_env(settings), cwd=ROOT)
        digest = inputs_digest(variant, constraints)
        fields = {"inputs": digest, "python": variant.python, "index": index_data().pypi}
        staged = Path(scratch) / "staged.txt"
        # uv names the constraints file in its `# via` comments: name the lock it was made from instead,
        # so that locking again from the same inputs writes the same bytes.
        compiled = output.read_text().replace(f"-c {given.relative_to(ROOT)}", f"-c {variant.runtime.lock_file}")
        staged.write_text(sealed(fields, compiled, hashes=True))
        moves = relock.report(target, staged.read_text(), digest, lock_settings().exclude_newer)
        os.replace(staged, target)
    return relock.Written(target, moves)


def recipe_args(variant: Variant, given: BuildInputs) -> dict[str, str]:
    """docker/dev.Dockerfile's ARGs for the recipe: the dev lock, its hashes, the index."""
    args = {"DEV_REQUIREMENTS": given.recipe_file, "REQUIRE_HASHES": "true" if given.hash_locked else "false"}
    if given.indexes:
        args["INDEX_URL"] = given.indexes.index_url
    return args


KIND = RecipeKind(
    name="dev",
    inputs_digest=inputs_digest,
    lock=lock,
    packages=pip_lock.versions,
    hashes=pip_lock.hashes,
    same_version=pip_lock.same_version,
    recipe_args=recipe_args,
    changed=_changed,
    venv=True,
    hand_pinned=False,  # a dev lock is only ever written by `invoke lock --dev`
    builds_from_input=False,
)
