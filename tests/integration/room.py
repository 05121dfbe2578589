"""Disk room for the integration tests: what the kit says when it refuses a job
for room, and emptying BuildKit's cache to make some."""

from __future__ import annotations

import re
import subprocess

import pytest

from envkit.core import engine

# Emptying BuildKit's cache of a whole session's builds (tens of GB) took longer than 30 s in CI.
PRUNE_SECONDS = 900


# What the kit says when it refuses a job for room (envkit/core/engine.py, check_free_disk).
ROOM_REFUSED = re.compile(r"only [0-9.]+ GB free under \S+; .* needs about [0-9.]+ GB")


def empty_build_cache(*, keep_layers: bool) -> None:
    """BuildKit's cache and untagged images. `keep_layers`: untagged images only, for a test that
    reuses the session's cached steps. Not even BuildKit's download caches (cache mounts) then: on
    Docker 28.5 with the containerd store, pruning only the `exec.cachemount` records (3.1 GB) made
    the next build of an unchanged cu121 recipe miss every step after its base (24 steps CACHED
    before, 1 after, and a new image id): the warm rebuild test failed on it in CI."""
    patient = engine.connect(timeout=PRUNE_SECONDS)  # the session's client gives up after 30 s
    try:
        if not keep_layers:
            patient.api.prune_builds(all=True)
        patient.images.prune(filters={"dangling": True})
    finally:
        patient.close()


def skip_if_refused_for_room(result: subprocess.CompletedProcess[str], doing: str) -> None:
    """A machine with too little disk for a job is told by the kit before the job
    starts: the test that needs the job is skipped with the kit's words, never failed."""
    if result.returncode == 2 and (short := ROOM_REFUSED.search(result.stderr)):
        pytest.skip(f"{doing}: this machine has too little disk ({short.group(0)})")
