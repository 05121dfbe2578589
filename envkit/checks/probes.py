"""The checks `invoke test` runs inside an image: small functions over a
running test container, each returning its outcome. Add one by writing a
function and listing it in envkit/checks/registry.py, which names it."""

from __future__ import annotations

import json
from collections.abc import Callable

from packaging.utils import canonicalize_name

from envkit import ROOT
from envkit.checks.check import Context, Outcome, from_exec
from envkit.checks.container import ProbeContainer
from envkit.core.errors import UsageError
from envkit.core.reports import Facts, Measured
from envkit.core.validation import validate_json
from envkit.images import plan
from envkit.recipes.files import read_conda
from envkit.recipes.kinds import kind_of
from envkit.recipes.pip_lock import same_version

EXAMPLES = "/opt/envkit/examples"

# Lists what is installed: importlib.metadata for a venv, conda-meta for a conda env.
_PIP_INSTALLED = (
    "import json, importlib.metadata as m; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)
_CONDA_INSTALLED = (
    "import glob, json, os, sys; "
    "rows = [json.load(open(p)) for p in glob.glob(os.path.join(sys.prefix, 'conda-meta', '*.json'))]; "
    "print(json.dumps({r['name']: r['version'] + '-' + r['build'] for r in rows}))"
)


def verify_install(box: ProbeContainer, ctx: Context) -> Outcome:
    run = box.exec(["python", f"{EXAMPLES}/verify_install.py", "--json"])
    if not run.ok:
        return from_exec(run)
    try:
        ctx.measured = m = validate_json(Measured, run.stdout, "verify_install.py --json", "")
    except UsageError as error:
        return Outcome(False, str(error).strip(), run.seconds)
    detail = f"torch {m.torch}, CUDA {m.cuda_compiled}, cuDNN {m.cudnn}, {m.gpu_count} GPU(s), {m.machine}"
    return Outcome(True, detail, run.seconds)


def pins(box: ProbeContainer, ctx: Context) -> Outcome:
    """The measured versions are the variant's pins (the tags will come from them)."""
    m, v = ctx.measured, ctx.variant
    if not m:
        return Outcome(False, "nothing measured: verify_install failed")
    found = {
        "torch": m.torch.split("+")[0],
        "torchvision": m.torchvision.split("+")[0],
        "torchaudio": (m.torchaudio or "").split("+")[0],
        "python": ".".join(m.python.split(".")[:2]),
        "cuda": m.cuda_compiled,
        "machine": m.machine,
    }
    wanted = {
        "torch": v.torch,
        "torchvision": v.torchvision,
        "torchaudio": v.torchaudio,
        "python": v.python,
        "cuda": v.cuda,
        "machine": v.arch_data.machine,
    }
    unmeasured = ""
    if v.gpu_archs is not None and m.cuda_archs is None:
        unmeasured = "; its GPU kernels not measured (an image built before the kit measured them: rebuild it)"
    elif v.gpu_archs is not None and m.cuda_archs is not None:
        # what `invoke doctor` and `invoke run` judge GPUs by must be this image's own list
        found["gpu kernels"], wanted["gpu kernels"] = " ".join(m.cuda_archs), " ".join(v.gpu_archs)
    wrong = [f"{key} {found[key] or 'none'} != {wanted[key]}" for key in wanted if found[key] != wanted[key]]
    return Outcome(not wrong, "; ".join(wrong) or f"as pinned for {v.name}{unmeasured}")


def first_program(box: ProbeContainer, ctx: Context) -> Outcome:
    run = box.exec(["python", f"{EXAMPLES}/first_program.py"])
    return from_exec(run, run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "")


def concepts(box: ProbeContainer, ctx: Context) -> Outcome:
    run = box.exec(["python", f"{EXAMPLES}/concepts.py"])
    return from_exec(run, f"{run.stdout.count('ok ')} concepts checked")


# The smoke checks that need torchaudio, which a line without a torchaudio release does not install.
TORCHAUDIO_CHECKS = ("torchaudio_transform",)


def smoke(box: ProbeContainer, ctx: Context) -> list[Outcome]:
    variant = ctx.variant
    skipped = () if variant.torchaudio else TORCHAUDIO_CHECKS
    argv = ["python", f"{EXAMPLES}/smoke.py", "--json", *(["--gpu"] if ctx.gpus else [])]
    run = box.exec(argv + [f"--skip={name}" for name in skipped])
    try:
        rows = json.loads(run.stdout)
    except json.JSONDecodeError:
        return [from_exec(run) if not run.ok else Outcome(False, "no JSON output")]
    results = [Outcome(r["passed"], r["detail"], r["seconds"], part=r["name"]) for r in rows]
    why = f"torch {variant.torch} has no torchaudio release (env/compat.toml): {variant.name} installs none"
    return results + [Outcome(True, f"not applicable: {why}", part=name, not_applicable=True) for name in skipped]


# The build's own judge of `pip check` (docker/env_layers check), for the test to judge alike.
LAYERS_PACKAGE = ROOT / "docker" / "env_layers"


def pip_check(box: ProbeContainer, ctx: Context) -> Outcome:
    """`pip check`, judged by one rule at build and test: a pip image runs the
    build's docker/env_layers check, which accepts only NVIDIA's
    sbsa-tagged wheels on aarch64 (pip calls them unsupported); a conda
    environment gets plain `pip check`."""
    if not kind_of(ctx.variant).venv:
        run = box.exec(["python", "-m", "pip", "check"])
        return from_exec(run, run.stdout.strip())
    for module in sorted(LAYERS_PACKAGE.glob("*.py")):
        box.put_file("tmp/envkit-check/env_layers", module.name, module.read_bytes())
    run = box.exec(["python", "/tmp/envkit-check/env_layers", "check"])
    said = [line.removeprefix("pip check: ") for line in run.stdout.strip().splitlines()]
    if not run.ok:
        return Outcome(False, f"exit {run.code}: {(run.stderr or run.stdout).strip()[-600:]}", run.seconds)
    return Outcome(True, "; ".join(said), run.seconds)


def matches_recipe(box: ProbeContainer, ctx: Context) -> Outcome:
    """What is installed equals the variant's recipe as it stands in env/ now:
    every package of a pip lock or explicit conda lock, nothing more; every
    exact pin of a conda environment file. A difference is drift: the image
    was built from another recipe, or changed after its build."""
    variant = ctx.variant
    try:
        recipes = plan.installed_locks(variant)
    except UsageError as error:
        return Outcome(False, str(error))
    kind = kind_of(variant)
    run = box.exec(["python", "-c", _PIP_INSTALLED if kind.venv else _CONDA_INSTALLED])
    if not run.ok:
        return from_exec(run)
    installed: dict[str, str] = {canonicalize_name(name): version for name, version in json.loads(run.stdout).items()}
    recipe_file = " + ".join(lock.shown for lock in recipes)
    if kind.builds_from_input and recipes[-1].path == ROOT / variant.input_file:  # an environment file's pins
        problems = conda_pin_drift(read_conda(recipes[-1].path).pins, installed)
    else:  # a dev lock pins the runtime's shared packages to the same versions
        locked = {name: version for lock in recipes for name, version in kind.packages(lock).items()}
        problems = pip_drift(locked, installed, compare=kind.same_version)
    detail = "; ".join(problems) or f"{len(installed)} packages as in {recipe_file}"
    return Outcome(not problems, detail, run.seconds)


def pip_drift(
    locked: dict[str, str], installed: dict[str, str], compare: Callable[[str, str], bool] = same_version
) -> list[str]:
    """Every difference between a lock and what is installed, by package."""
    problems = [
        f"{name} {installed[name]} (recipe: {version})"
        for name, version in locked.items()
        if name in installed and not compare(installed[name], version)
    ]
    problems += [f"{name} missing" for name in locked if name not in installed]
    problems += [f"{name} {installed[name]} not in recipe" for name in installed if name not in locked]
    return sorted(problems)


def conda_pin_drift(pinned: dict[str, str], installed: dict[str, str]) -> list[str]:
    """An environment file pins `name=version`: the installed version (before
    its `-build`) must be that version or start with it (`3.11` takes 3.11.10)."""
    versions = {name: value.split("-", 1)[0] for name, value in installed.items()}
    return sorted(
        f"{name} {versions.get(name, 'missing')} (recipe: {version})"
        for name, version in pinned.items()
        if not (versions.get(name, "") + ".").startswith(version + ".")
    )


# The recipe file each Dockerfile copies into the image; which one is there tells the recipe.
RECIPE_FILES = {"pip": "/opt/envkit/requirements.txt", "conda": "/opt/envkit/environment.yml"}
_PACKAGE_LISTS = {"pip": ["python", "-m", "pip", "freeze", "--all"], "conda": ["micromamba", "list", "-p", "/opt/env"]}
_DEBIAN_PACKAGES = ["dpkg-query", "--show", "--showformat", "${Package}=${Version}\\n"]


def environment(box: ProbeContainer, ctx: Context) -> Outcome:
    """Measure what the tags and the manifest record: the recipe the image
    holds and its hash, the Python and Debian package lists."""
    found = {kind: box.exec(["sha256sum", path]) for kind, path in RECIPE_FILES.items()}
    held = [kind for kind, run in found.items() if run.ok]
    if len(held) != 1:
        return Outcome(False, f"expected one recipe file, found: {held or 'none'}")
    recipe = held[0]
    packages = box.exec(_PACKAGE_LISTS[recipe])
    debian = box.exec(_DEBIAN_PACKAGES)
    for run in (packages, debian):
        if not run.ok:
            return from_exec(run)
    ctx.environment = held_now = Facts(
        revision=ctx.revision,
        recipe=recipe,
        recipe_file=RECIPE_FILES[recipe],
        recipe_sha256=found[recipe].stdout.split()[0],
        packages=tuple(packages.stdout.strip().splitlines()),
        debian_packages=tuple(debian.stdout.strip().splitlines()),
    )
    detail = f"{recipe} recipe, {len(held_now.packages)} Python and {len(held_now.debian_packages)} Debian packages"
    return Outcome(True, detail, packages.seconds + debian.seconds)
