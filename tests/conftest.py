"""Fixtures shared by the unit and the integration tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from envkit import ROOT
from tests.helpers.checkout import invoke_in

pytest_plugins = ("tests.disk_watch",)


InvokeRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_invoke(tmp_path: Path) -> InvokeRunner:
    """Run the real `invoke` command line in the repository, as a user would."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return invoke_in(
            ROOT, *args, env={"INVOKE_ENVKIT_REPORTS_DIR": str(tmp_path / "reports"), **(env or {})}, timeout=timeout
        )

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.docker)
    # Tests that build a torch layer of their own (cold_builds: --no-cache,
    # another torch, a wheelhouse) run after the warm ones: a --no-cache build
    # leaves newer results for the same steps in BuildKit's cache, which later
    # warm builds would take, and the cache is emptied after each of them
    # (tests/integration/conftest.py) so that the next has the disk. `invoke
    # bench` empties it too: its tests run last of all. The arm64 image is built
    # in the background while the others run (see arm64_chain): its tests come
    # after them.
    items.sort(
        key=lambda item: (
            item.get_closest_marker("empties_build_cache") is not None,
            item.get_closest_marker("cold_builds") is not None,
            item.get_closest_marker("arm64") is not None,
        )
    )
