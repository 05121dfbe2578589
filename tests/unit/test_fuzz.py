"""Property-based tests: whatever a user types or leaves in a file, the kit
either works or exits non-zero with a short message, never a traceback, and
starts no docker build, run or push for an invalid request.

The command line runs in-process (Invoke's own Program over tasks.py, ~50 ms
a run) with a stand-in docker client that records every call, a daemon
address where nothing listens, and every package index mirrored to a closed
port on 127.0.0.1, so no example can reach the network or write a lock.
Examples are bounded so that the file runs in about a minute."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import shutil
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from invoke import Program
from invoke.config import Config
from invoke.exceptions import Exit

import tasks
from envkit import ROOT
from envkit.catalog import data_files
from envkit.core.errors import UsageError
from envkit.core.reports import TestReport
from envkit.core.settings import Settings, check_config_file
from envkit.core.validation import validate_json
from envkit.docs.site import write_pages
from envkit.images import wheelhouse
from envkit.recipes.files import parse_pip, read_pip, tamper_reason
from envkit.workspace.devcontainer import write as write_devcontainers
from tests.helpers.fake_docker import make_fake_docker
from tests.helpers.reports import report_data

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, refused at once
PROBES = {"buildx version", "--version"}  # what finding a BuildKit client may ask a client
NO_ENGINE = {"bake", "matrix", "devcontainer", "keygen", "docs"}  # tasks that need no daemon: they may succeed here

VALUES = st.one_of(
    st.sampled_from(
        [
            "12.1", "11.8", "cpu", "12.4", "9.9", "12", "", " ", "pip", "conda", "poetry", "2.4.1", "2.5.1",
            "latest", "3.11", "3.12", "3.7", "auto", "none", "all", "-x", "--cuda", "a b", f"{CLOSED}/simple",
            "notaurl", "file:///nonexistent/simple", "https://", "host:99999/ns", "127.0.0.1:9/team",
            "ghcr.io/Team", "/nonexistent/ca.pem", "/etc/ssl/certs/ca-certificates.crt", "/", ".", "ünïcødé",
            "x" * 300, "a/" * 2100, "nul\x00byte", "{suite}", "torch-env-base:{sweet}",
        ]
    ),
    st.text(max_size=12),
)  # fmt: skip


def _flags_of(name: str) -> dict[str, bool]:
    """A task's long flags, each with whether it takes a value."""
    arguments = copy.deepcopy(tasks.ns[name]).get_arguments()
    return {"--" + argument.name.replace("_", "-").strip("-"): argument.takes_value for argument in arguments}


TASKS = {name: _flags_of(name) for name in tasks.ns.task_names}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    task = draw(st.sampled_from(sorted(TASKS)))
    argv = [task]
    known = sorted(TASKS[task])
    for _ in range(draw(st.integers(0, 4))):
        flag = draw(st.one_of(st.sampled_from(known), st.sampled_from(["--cuda", "--nope", "-z", "--"])))
        argv.append(flag)
        if TASKS[task].get(flag, True):
            argv.append(draw(VALUES))
    return argv


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    client = make_fake_docker(folder / "bin", "20.10.24+dfsg1")
    env = {
        "PATH": f"{client.parent}:{os.environ['PATH']}",
        "INVOKE_ENVKIT_DOCKER_CLIENT": str(client),
        "DOCKER_HOST": f"unix://{folder}/no-daemon.sock",
        "INVOKE_ENVKIT_REPORTS_DIR": str(folder / "reports"),
        "INVOKE_ENVKIT_SIGNING_POLICY": str(folder / "signing"),  # keygen never writes the checkout's
        # pip-audit (invoke audit) asks PyPI by its own URLs: through a closed proxy, at once refused.
        "HTTPS_PROXY": CLOSED,
        "HTTP_PROXY": CLOSED,
        "INVOKE_ENVKIT_MIRRORS": " ".join(
            f"{upstream}={CLOSED}/{name}"
            for name, upstream in (
                ("pypi", "https://pypi.org/simple"),
                ("torch", "https://download.pytorch.org/whl"),
                ("conda", "https://conda.anaconda.org"),
            )
        ),
    }
    return {
        "env": env,
        "log": folder / "bin" / "calls.log",
        "bake_file": folder / "docker-bake.json",
        "workspace": folder / "workspace",
        "docs": folder / "docs",
        "readme": folder / "README.md",
    }


def run_in_process(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """The kit's command line as `invoke ARGV` runs it: (exit code, stderr)."""
    errors = io.StringIO()
    with (
        mock.patch.dict(os.environ, env),
        contextlib.redirect_stderr(errors),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        try:
            tasks.check_command_line(argv)  # what tasks.py does when Invoke imports it
            Program(namespace=tasks.ns, version="0").run(["invoke", *argv], exit=True)
        except Exit as refusal:  # raised at import time, printed by Invoke
            print(refusal.message, file=errors)
            return refusal.code, errors.getvalue()
        except SystemExit as done:
            return int(done.code or 0), errors.getvalue()
    return 0, errors.getvalue()


@settings(FUZZ, max_examples=int(os.environ.get("ENVKIT_FUZZ_EXAMPLES", "400")))
@given(argv=command_lines())
def test_any_command_line_ends_in_a_short_message(stand_in, argv):
    stand_in["log"].unlink(missing_ok=True)
    stand_in["workspace"].mkdir(exist_ok=True)
    if not stand_in["readme"].exists():
        shutil.copytree(ROOT / "docs", stand_in["docs"])
        shutil.copy(ROOT / "README.md", stand_in["readme"])
    written = write_devcontainers  # the folder it was given is checked; it writes to the stand-in's
    with (
        mock.patch.object(tasks, "BAKE_FILE", stand_in["bake_file"]),  # never the checkout's own
        mock.patch.object(tasks, "write_devcontainers", lambda _, *a, **k: written(stand_in["workspace"], *a, **k)),
        # `invoke docs` writes the stand-in's pages and README; building the site is tests/docs' (seconds each).
        mock.patch.object(tasks, "write_pages", lambda ns: write_pages(ns, stand_in["docs"], stand_in["readme"])),
        mock.patch.object(tasks, "build_site", lambda: None),
    ):
        code, stderr = run_in_process(argv, stand_in["env"])
    calls = set(stand_in["log"].read_text().splitlines()) if stand_in["log"].exists() else set()
    if code == 0 and (argv[0] in NO_ENGINE or (argv[:1] == ["drift"] and "--if-published" in argv)):
        assert calls == set(), (argv, calls)
        return
    # With no daemon in reach even a valid request stops, and says why.
    assert code != 0, (argv, stderr)
    assert stderr.strip() and "Traceback" not in stderr, (argv, stderr)
    assert len(stderr.strip().splitlines()) <= 4, (argv, stderr)
    assert calls <= PROBES, (argv, calls)  # no build, run or push started


KEYS = [field for field in Settings.__dataclass_fields__]


@FUZZ
@given(values=st.dictionaries(st.sampled_from(KEYS), st.one_of(VALUES, st.integers(), st.none()), max_size=4))
def test_any_settings_are_taken_or_refused_in_one_message(values):
    flags = {key: value for key, value in values.items() if isinstance(value, str)}
    config = {key: value for key, value in values.items() if not isinstance(value, str)}
    try:
        Settings.from_config(config, **flags)
    except UsageError as refusal:
        assert str(refusal).strip() and len(str(refusal).splitlines()) <= 2


YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.sampled_from(["/etc/x.pem"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
SECTIONS = st.dictionaries(
    st.one_of(st.sampled_from(["envkit", "envkt", "run", "tasks", "builds"]), st.text(max_size=6)),
    st.one_of(YAML_VALUES, st.dictionaries(st.sampled_from([*KEYS, "ca_certs"]), YAML_VALUES, max_size=3)),
    max_size=3,
)


@FUZZ
@given(data=st.one_of(SECTIONS, YAML_VALUES), raw=st.one_of(st.none(), st.binary(max_size=40)))
@example(data={"\x1e\r": None}, raw=None)  # a section named with a line break: still one line
@example(data={"envkit": {"image_name\n": "x"}}, raw=None)
def test_any_invoke_yaml_is_taken_or_refused_in_one_message(tmp_path, data, raw):
    path = tmp_path / "invoke.yaml"
    path.write_bytes(raw if raw is not None else yaml.safe_dump(data).encode())
    try:
        check_config_file(path, set(Config.global_defaults()), project=True)
    except UsageError as refusal:
        assert str(path) in str(refusal) and len(str(refusal).splitlines()) <= 2


def _with_line(lines: list[str], index: int, new: str) -> str:
    return "\n".join([*lines[:index], new, *lines[index + 1 :]])


def _retyped(line: str, quote: str) -> str:
    return line.replace('"', quote, 1) if "=" in line else line


def mutations(text: str) -> st.SearchStrategy[str]:
    """The text with a line dropped, replaced, duplicated, or a value retyped."""
    lines = text.splitlines()
    junk = st.sampled_from(["", "x = 1", "[pins]", '"unterminated', "platforms = 'cu121'", "= =", "\x00"])
    index = st.integers(0, len(lines) - 1)
    return st.one_of(
        index.map(lambda i: "\n".join(lines[:i] + lines[i + 1 :])),
        st.tuples(index, st.one_of(junk, st.text(max_size=10))).map(lambda pair: _with_line(lines, *pair)),
        index.map(lambda i: "\n".join(lines[: i + 1] + lines[i:])),
        st.tuples(index, st.sampled_from(['"', "[", "1", "true", "{}"])).map(
            lambda pair: _with_line(lines, pair[0], _retyped(lines[pair[0]], pair[1]))
        ),
    )


@FUZZ
@given(data=st.data(), name=st.sampled_from(["variants.toml", "compat.toml"]))
def test_any_edit_of_the_data_files_is_taken_or_refused_in_one_message(env_copy, data, name):
    for each in ("variants.toml", "compat.toml"):  # examples share the folder: start from the real files
        shutil.copy(ROOT / "env" / each, env_copy / each)
    original = (ROOT / "env" / name).read_text()
    (env_copy / name).write_text(data.draw(mutations(original)))
    data_files.variants_file.cache_clear()
    data_files.compat_file.cache_clear()
    try:
        data_files.variants_file()
    except UsageError as refusal:
        # A compat.toml edit may also surface as variants.toml's pins, lines or variants no longer matching the table.
        cross_file = tuple(f"env/variants.toml: {key}" for key in ("pins.", "lines.", "variants["))
        assert f"env/{name}" in str(refusal) or str(refusal).startswith(cross_file)
        assert len(str(refusal).splitlines()) <= 3


REPORT = json.dumps(report_data())


@FUZZ
@given(data=st.data())
def test_any_report_on_disk_is_read_or_refused_in_one_message(data):
    body = json.loads(REPORT)
    key = data.draw(st.sampled_from(sorted(body)))
    action = data.draw(st.sampled_from(["drop", "retype", "truncate"]))
    if action == "drop":
        del body[key]
        raw = json.dumps(body)
    elif action == "retype":
        body[key] = data.draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers())))
        raw = json.dumps(body)
    else:
        raw = REPORT[: data.draw(st.integers(0, len(REPORT) - 1))]
    try:
        validate_json(TestReport, raw, "reports/tests/cu121-pip.json", "run `invoke test` again")
    except UsageError as refusal:
        assert str(refusal).startswith("reports/tests/cu121-pip.json: ") and len(str(refusal).splitlines()) == 2


@FUZZ
@given(raw=st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode)))
def test_any_wheelhouse_json_is_recognised_or_not_a_wheelhouse(tmp_path, raw):
    (tmp_path / wheelhouse.MANIFEST).write_bytes(raw)
    assert wheelhouse.read_manifest(tmp_path) is None or raw.strip().startswith(b"{")


LOCK = (ROOT / "env" / "pip" / "cu121.txt").read_text()


@FUZZ
@given(data=st.data())
def test_any_edit_of_a_lock_is_refused_as_tampered(tmp_path, data):
    edited = data.draw(mutations(LOCK).filter(lambda text: text.rstrip("\n") != LOCK.rstrip("\n")))
    path = tmp_path / "cu121.txt"
    path.write_text(edited + "\n")
    assert tamper_reason(path) != ""


@FUZZ
@given(lines=st.lists(st.one_of(st.text(max_size=30), st.sampled_from(["torch==2.4.1", "-r x", "a @ b", "==1"]))))
def test_any_requirements_text_is_parsed_or_refused_naming_the_file(tmp_path, lines):
    path = tmp_path / "recipe.txt"
    path.write_text("\n".join(lines) + "\n")
    try:
        read_pip(path)
    except UsageError as refusal:
        assert str(path) in str(refusal) and len(str(refusal).splitlines()) == 1
    with contextlib.suppress(ValueError):
        parse_pip(path.read_text())


def test_the_stand_in_sees_what_a_valid_build_would_run(stand_in, tmp_path):
    """The property above would pass vacuously if the stand-in were never
    asked: a valid build does reach it (for its probes) before the daemon."""
    stand_in["log"].unlink(missing_ok=True)
    code, stderr = run_in_process(["build", "--cuda", "12.1"], stand_in["env"])
    assert code == 2 and "the Docker daemon is not reachable" in stderr
    assert set(stand_in["log"].read_text().splitlines()) == PROBES
    assert Path(stand_in["env"]["INVOKE_ENVKIT_DOCKER_CLIENT"]).exists()
