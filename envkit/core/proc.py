"""Run external commands from argument lists (never shell strings), showing
their output as it comes and keeping its tail for the error message."""

from __future__ import annotations

import collections
import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from envkit.core.errors import CommandFailed, UsageError

LOGGER = logging.getLogger(__name__)
TAIL_LINES = 25


def stream(argv: Sequence[str], env: Mapping[str, str] | None = None, hint: str = "") -> str:
    """Run argv with its output streamed to our stdout; return the output's tail.

    Raise CommandFailed (with that tail and the hint) when it exits non-zero.
    """
    LOGGER.debug("running %s", shlex.join(argv))
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    merged_env = {**os.environ, **(env or {})}
    with subprocess.Popen(
        list(argv),
        env=merged_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            tail.append(line.rstrip("\n"))
        returncode = process.wait()
    sys.stdout.flush()
    text = "\n".join(tail)
    if returncode != 0:
        raise CommandFailed(argv, returncode, text, hint, streamed=True)
    return text


def tool(name: str) -> str:
    """A command-line tool of the kit's own environment (beside this Python), else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise UsageError(f"{name} is not installed: install the kit's dependencies (bash .ci/setup).")
    return found


def capture(
    argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a short command quietly; the caller decides what its exit code means."""
    return subprocess.run(
        list(argv), env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False
    )
