"""The build context: the parts of the checkout a build reads (.dockerignore
admits no more), and copies of them for builds of an edited checkout or of a
wheelhouse beside the real one."""

from __future__ import annotations

import shutil
from pathlib import Path

from envkit import ROOT

CONTEXT_PARTS = ("env", "docker", "examples", ".dockerignore")


def copy_context(destination: Path, source: Path = ROOT) -> Path:
    """A copy of the build context, to build an edited checkout beside the real one."""
    for part in CONTEXT_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, destination / part)
        else:
            shutil.copy2(source / part, destination / part)
    return destination
