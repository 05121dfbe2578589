"""A fake `docker` command line of a chosen version, for the kit's engine checks."""

from __future__ import annotations

import stat
from pathlib import Path

FAKE_DOCKER = """#!/bin/sh
# A stand-in docker client: logs every call, answers version probes.
echo "$@" >> "{log}"
case "$1" in
  --version) echo "Docker version {version}, build fake"; exit 0 ;;
  buildx) [ "$2" = inspect ] && printf '{inspect}'; exit {buildx_status} ;;
esac
exit 0
"""


def make_fake_docker(folder: Path, version: str, buildx: bool = False, inspect: str = "") -> Path:
    """A `docker` executable in `folder` whose calls are logged to folder/calls.log;
    `docker buildx inspect` prints `inspect`."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "docker"
    script.write_text(
        FAKE_DOCKER.format(
            log=folder / "calls.log",
            version=version,
            buildx_status=0 if buildx else 1,
            inspect=inspect.replace("\n", "\\n"),
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script
