"""Free disk under Docker's root through the integration tests, said at the end
of every run: where it was lowest, and which tests took the most. CI's
machines start with anything from about 50 to 80 GB free; a suite that
outgrows the smallest fails on the tests that run last, and this is what
says by how much."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest

SAMPLE_SECONDS = 2.0
GB = 1e9


@dataclass
class DiskWatch:
    root: Path
    first_free: int
    lowest_free: int
    lowest_during: str = "the session's start"
    taken: dict[str, int] = field(default_factory=dict)  # a test (setup included): free before minus free after
    current: str = "the session's start"
    stopped: threading.Event = field(default_factory=threading.Event)

    def free(self) -> int:
        free = shutil.disk_usage(self.root).free
        if free < self.lowest_free:
            self.lowest_free, self.lowest_during = free, self.current
        return free

    def sample(self) -> None:
        while not self.stopped.wait(SAMPLE_SECONDS):
            self.free()

    def summary(self) -> list[str]:
        lines = [
            f"Docker's root {self.root}: {self.first_free / GB:.1f} GB free at the first integration test, "
            f"{self.free() / GB:.1f} GB at the end, lowest {self.lowest_free / GB:.1f} GB during {self.lowest_during}"
        ]
        takers = sorted(self.taken.items(), key=lambda item: -item[1])[:8]
        lines += [f"  {taken / GB:+5.1f} GB  {test}" for test, taken in takers if taken >= GB]
        return lines


WATCH = pytest.StashKey[DiskWatch]()


def _local_docker_root() -> Path | None:
    """Docker's root where it is on this machine (not for a remote daemon, nor without one)."""
    try:
        client = docker.from_env(timeout=10)
        try:
            root = Path(client.info()["DockerRootDir"])
        finally:
            client.close()
    except (docker.errors.DockerException, KeyError):
        return None
    return root if root.is_dir() else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    config = item.config
    if item.get_closest_marker("docker") and WATCH not in config.stash and (root := _local_docker_root()):
        free = shutil.disk_usage(root).free
        config.stash[WATCH] = DiskWatch(root, free, free)
        threading.Thread(target=config.stash[WATCH].sample, name="disk-watch", daemon=True).start()
    if (watch := config.stash.get(WATCH, None)) is None:
        return (yield)
    watch.current = item.nodeid
    before = watch.free()
    try:
        return (yield)
    finally:
        watch.taken[item.nodeid] = before - watch.free()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    watch = config.stash.get(WATCH, None)
    if watch is None:
        return
    watch.stopped.set()
    terminalreporter.section("free disk under Docker's root")
    for line in watch.summary():
        terminalreporter.write_line(line)
