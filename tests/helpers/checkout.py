"""The kit's checkout as a user has it: copied, its `invoke` run, a run
watched, an env/ file edited, docker/env_layers imported."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from envkit.catalog import data_files
from envkit.core.errors import UsageError

REPO_PARTS = ("tasks.py", "envkit", "env", "docker", "examples", "benchmarks", ".dockerignore", "pyproject.toml")


def copy_repo(destination: Path) -> Path:
    """A working copy of the kit (no tests, no git): commands run there write
    their locks and reports there, never into the checkout under test."""
    import shutil

    from envkit import ROOT

    destination.mkdir(parents=True, exist_ok=True)
    for part in REPO_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / part)
    return destination


def invoke_in(
    repo: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real `invoke ARGS` command line in a checkout of the kit (the one
    under test, or a copy_repo), as a user would."""
    import os
    import sys

    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=repo,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Watched:
    """A command line run in the background whose output is followed as it
    comes, so a test can act (send a signal, cut a connection) at a chosen
    point of its work."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        import os
        import threading

        self.lines: list[str] = []
        self.process = subprocess.Popen(
            argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, condition: Any, timeout: float = 600) -> None:
        """Until condition() holds (a string: until a line of output contains it)."""
        test = (lambda: any(condition in line for line in self.lines)) if isinstance(condition, str) else condition
        deadline = time.monotonic() + timeout
        while not test():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.lines[-20:])
                raise AssertionError(f"never saw {condition!r}; exit {self.process.poll()}:\n{tail}")
            time.sleep(0.1)

    def finish(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        stdout, stderr = "\n".join(self.lines), "\n".join(self.errors)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def env_layers(module: str) -> Any:
    """A module of docker/env_layers (it runs inside images, so it is no package of the kit's)."""
    import importlib
    import sys

    from envkit import ROOT

    if str(ROOT / "docker") not in sys.path:
        sys.path.append(str(ROOT / "docker"))
    return importlib.import_module(f"env_layers.{module}")


def refusal_of_edit(env_copy: Path, name: str, old: str, new: str) -> str:
    """What the kit says of env/<name> with `old` replaced by `new` (read
    afresh): the refusal's text, which names the file first."""
    path = env_copy / name
    text = path.read_text()
    assert old in text, f"env/{name} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1))
    reader = data_files.compat_file if name == "compat.toml" else data_files.variants_file
    with pytest.raises(UsageError) as refused:
        reader()
    assert str(refused.value).startswith(f"env/{name}: ")
    return str(refused.value)
