"""Where a build step reads and writes: the venv, the layer files, the wheel
records the SBOM reads, the installer, the download cache on the build's
cache mount. The other modules read these as `places.X`."""

from __future__ import annotations

from pathlib import Path

VENV = Path("/opt/venv")
LAYERS_DIR = Path("/opt/envkit/layers")
WHEEL_RECORDS = Path("/opt/envkit/wheels")
INSTALLER = Path("/opt/installer/bin/uv")
WHEELS = Path("/root/.cache/envkit-wheels")  # on the build's cache mount
UV_SCRATCH = Path("/tmp/envkit-uv-cache")  # on the image's file system, removed after each step
WHEELHOUSE = Path("/wheelhouse/wheels")


def dist_infos() -> set[Path]:
    return set(VENV.glob("lib/python*/site-packages/*.dist-info"))
