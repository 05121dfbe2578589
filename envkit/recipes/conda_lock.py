"""`invoke lock --recipe conda`: an explicit lock (exact package URLs with
their hashes) for linux-64, made by conda-lock from the variant's environment
file, which itself is rendered from env/conda/template.yml."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from envkit import ROOT
from envkit.catalog.variants import Variant, lock_settings
from envkit.core import files, proc
from envkit.core.errors import KitError
from envkit.core.settings import Settings
from envkit.recipes import indexes
from envkit.recipes.files import conda_packages, digest_of, input_for_new_lock, input_text, read_text, sealed
from envkit.recipes.recipe_kind import BuildInputs, RecipeKind, inputs_changed
from envkit.recipes.relock import Written

TEMPLATE = ROOT / "env" / "conda" / "template.yml"
CHANNEL_ROOT = "https://conda.anaconda.org"


def render_input(variant: Variant) -> str:
    cuda = variant.cuda
    return read_text(TEMPLATE).format(
        name=variant.name,
        torch=variant.torch,
        torchvision=variant.torchvision,
        torchaudio=variant.torchaudio,
        python=variant.python,
        flags=variant.flags(),
        lock_file=variant.lock_file,
        input_file=variant.input_file,
        channels="".join(f"  - {channel}\n" for channel in variant.channels),
        selector=f"pytorch::pytorch-cuda={cuda}" if cuda else "pytorch::cpuonly",
        what=f"the CUDA {cuda} build, its libraries from the nvidia channel"
        if cuda
        else "the CPU build (cpuonly selects it)",
    )


def channel_urls(variant: Variant, settings: Settings) -> tuple[str, ...]:
    """Each channel's repodata for the lock's platform, mirrored where configured."""
    mirrors = settings.mirrors
    platform = lock_settings().conda_platform
    return tuple(indexes.mirrored(f"{CHANNEL_ROOT}/{channel}/{platform}", mirrors) for channel in variant.channels)


def inputs_digest(variant: Variant) -> str:
    facts = {"input": input_text(ROOT / variant.input_file), "platform": lock_settings().conda_platform}
    return digest_of(facts)


def lock(variant: Variant, settings: Settings) -> Path:
    """Write the explicit lock, or nothing at all."""
    indexes.check_reachable(channel_urls(variant, settings), settings, f"lock {variant.lock_file}")
    with input_for_new_lock(ROOT / variant.input_file, lambda: render_input(variant)):
        return _solve(variant, settings)


def _solve(variant: Variant, settings: Settings) -> Path:
    target = ROOT / variant.lock_file
    files.check_target(target, ROOT)
    platform = lock_settings().conda_platform
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".lock-") as scratch:
        argv = [
            proc.tool("conda-lock"),
            "lock",
            "--file",
            variant.input_file,
            "--platform",
            platform,
            "--kind",
            "explicit",
            "--filename-template",
            str(Path(scratch) / "conda-{platform}.lock"),
        ]
        env = {**os.environ, "CONDA_OVERRIDE_CUDA": variant.cuda or ""}
        if ca_cert := settings.ca_cert:
            env["REQUESTS_CA_BUNDLE"] = env["SSL_CERT_FILE"] = str(ca_cert)
        failure = f"cannot lock {variant.lock_file}: conda-lock failed; nothing was written"
        proc.run_or_fail(argv, failure, env=env, cwd=ROOT)
        solved = Path(scratch) / f"conda-{platform}.lock"
        if not solved.is_file():
            raise KitError(f"{failure} (it wrote no lock).")
        staged = Path(scratch) / "staged.lock"
        body = solved.read_text()
        urls = [line for line in body.splitlines() if line.startswith(("http", "file:"))]
        hashed = "@EXPLICIT" in body and bool(urls) and all("#" in url for url in urls)
        staged.write_text(sealed({"inputs": inputs_digest(variant), "platform": platform}, body, hashes=hashed))
        os.replace(staged, target)
    return target


def recipe_args(variant: Variant, given: BuildInputs) -> dict[str, str]:
    """docker/conda.Dockerfile's ARGs for the recipe: the explicit lock (or environment file), the CUDA to solve for."""
    return {"ENVIRONMENT": given.recipe_file, "CONDA_OVERRIDE_CUDA": variant.cuda or ""}


def _lock(variant: Variant, settings: Settings, upgrade: bool) -> Written:
    return Written(lock(variant, settings))  # conda-lock solves afresh every time: nothing to upgrade from


KIND = RecipeKind(
    name="conda",
    inputs_digest=inputs_digest,
    lock=_lock,
    packages=conda_packages,
    hashes=lambda lock: {},  # conda checks each package's own hash from the explicit lock's URLs
    same_version=str.__eq__,  # `version-build`, as conda-meta records it
    recipe_args=recipe_args,
    changed=inputs_changed,
    venv=False,
    hand_pinned=True,
    builds_from_input=True,
)
