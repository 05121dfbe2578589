"""Run external commands from argument lists (never shell strings): streamed
with their tail kept for the error, or captured; the child is stopped when
the task is interrupted, so nothing runs on after the kit has exited."""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from envkit.core.errors import CommandFailed, KitError, UsageError

LOGGER = logging.getLogger(__name__)
TAIL_LINES = 200  # enough of a build's output to find the failing step in
STOP_SECONDS = 10  # how long an interrupted child gets to stop before it is killed


def _stop(process: subprocess.Popen[str]) -> None:
    """Ask a child and everything it started to stop (SIGTERM to its process
    group: debootstrap's wget and dpkg, a build client's helpers), then kill
    them if they do not."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stream(argv: Sequence[str], env: Mapping[str, str] | None = None, hint: str = "", cwd: Path | None = None) -> str:
    """Run argv with its output streamed to our stdout; return the output's tail.

    Raise CommandFailed (with that tail and the hint) when it exits non-zero.
    """
    LOGGER.debug("running %s", shlex.join(argv))
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    process = subprocess.Popen(
        list(argv),
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,  # its own process group, stopped as a whole by _stop
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            tail.append(line.rstrip("\n"))
        returncode = process.wait()
    finally:
        _stop(process)
        if process.stdout:
            process.stdout.close()
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
    argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float | None = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command quietly; the caller decides what its exit code means.
    (subprocess.run kills the child if we are interrupted while it runs.)"""
    return subprocess.run(
        list(argv),
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def run_or_fail(
    argv: Sequence[str],
    failure: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    lines: int = 12,
) -> subprocess.CompletedProcess[str]:
    """capture(), raising KitError("FAILURE.\\n<the command's last lines>") on a non-zero exit."""
    run = capture(argv, env=env, timeout=timeout, cwd=cwd)
    if run.returncode != 0:
        tail = "\n".join((run.stderr.strip() or run.stdout.strip()).splitlines()[-lines:])
        raise KitError(f"{failure}.\n{tail}".rstrip())
    return run
