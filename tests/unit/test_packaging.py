"""The kit as a package: `pip install .` into a fresh virtual environment
brings every package it imports, so that the command line works from the
checkout with nothing else installed."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from envkit import ROOT
from tests.helpers.checkout import copy_repo

pytestmark = pytest.mark.network  # pip fetches the dependencies from PyPI (or the machine's wheels)


def test_pip_install_gives_a_working_command_line(tmp_path):
    source = copy_repo(tmp_path / "source")  # pip builds in the tree it is given: never the checkout
    for name in ("README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", str(source)], capture_output=True, text=True, timeout=600
    )
    assert install.returncode == 0, install.stderr[-2000:]
    assert subprocess.run([venv / "bin" / "pip", "check"], capture_output=True, text=True).returncode == 0
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    listed = subprocess.run([venv / "bin" / "invoke", "--list"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and "doctor" in listed.stdout, listed.stderr
    doctor = subprocess.run([venv / "bin" / "invoke", "doctor"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "Traceback" not in doctor.stderr and "ModuleNotFoundError" not in doctor.stderr, doctor.stderr
    assert " passed" in doctor.stdout, doctor.stdout  # its summary line: every check ran
    metadata = "import importlib.metadata as m; print(m.metadata('envkit')['License-Expression'])"
    licence = subprocess.run([venv / "bin" / "python", "-c", metadata], capture_output=True, text=True, cwd=tmp_path)
    assert licence.stdout.strip() == "MIT", licence


def test_every_imported_package_is_declared():
    """What the kit imports anywhere in its modules is a declared dependency (or stdlib)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {entry.split(">")[0].split("<")[0].split("=")[0].strip().lower() for entry in declared}
    # the import name of each distribution, where they differ
    provided = {"pyyaml": "yaml", "cyclonedx-python-lib": "cyclonedx", "packageurl-python": "packageurl"}
    importable = {provided.get(name, name) for name in names}
    found = set()
    for path in [*(ROOT / "envkit").rglob("*.py"), ROOT / "tasks.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    third_party = {name for name in found if name not in sys.stdlib_module_names and name not in ("envkit", "tasks")}
    assert third_party - importable == set(), third_party - importable
