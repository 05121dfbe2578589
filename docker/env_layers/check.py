"""`pip check` of the venv, judged by the one rule the build and `invoke
test` share."""

from __future__ import annotations

import platform
import re
import subprocess

from . import places
from .layers import normalized

_UNSUPPORTED = re.compile(r"(\S+) (\S+) is not supported on this platform")


def _wheel_tags_of(name: str, version: str) -> list[str]:
    """The Tag lines of an installed distribution's WHEEL file."""
    for dist_info in places.dist_infos():
        stem = dist_info.name.removesuffix(".dist-info")
        if normalized(stem.rsplit("-", 1)[0]) == normalized(name) and stem.rsplit("-", 1)[-1] == version:
            wheel = dist_info / "WHEEL"
            lines = wheel.read_text().splitlines() if wheel.is_file() else []
            return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]
    return []


def judged_check(output: str, machine: str) -> tuple[list[str], list[str]]:
    """`pip check`'s complaints as (accepted, failing). One is accepted: on an
    aarch64 machine, "not supported on this platform" for a wheel whose WHEEL
    file tags it `*_sbsa` only (NVIDIA's name for Arm servers; its file name
    says aarch64, which is how it was chosen: nvidia-cusparselt-cu13 0.8.1,
    which torch 2.15.0 pins exactly). Every other complaint fails the build."""
    accepted, failing = [], []
    for line in filter(None, (line.strip() for line in output.splitlines())):
        match = _UNSUPPORTED.fullmatch(line)
        tags = _wheel_tags_of(match[1], match[2]) if match and machine == "aarch64" else []
        if tags and all(tag.endswith("_sbsa") for tag in tags):
            accepted.append(f"{line}: its WHEEL says {', '.join(tags)}, NVIDIA's name for aarch64; taken as aarch64")
        elif line != "No broken requirements found.":
            failing.append(line)
    return accepted, failing


def check() -> None:
    """pip check of the whole environment, judged by judged_check."""
    run = subprocess.run(
        [str(places.VENV / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    accepted, failing = judged_check(run.stdout + run.stderr, platform.machine())
    for line in accepted:
        print(f"pip check: accepted: {line}")
    if failing or (run.returncode != 0 and not accepted):
        raise SystemExit("pip check failed:\n" + "\n".join(failing or [run.stdout + run.stderr]))
    print("pip check: the environment's requirements are consistent")
