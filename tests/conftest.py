"""Fixtures shared by the unit and the integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from envkit import ROOT

InvokeRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_invoke(tmp_path: Path) -> InvokeRunner:
    """Run the real `invoke` command line in the repository, as a user would."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "INVOKE_ENVKIT_REPORTS_DIR": str(tmp_path / "reports"), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
