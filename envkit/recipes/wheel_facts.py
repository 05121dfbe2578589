"""What PyPI's own torch wheels say, read with the tools made to read them:
uv resolves `torch==X` for Linux on each architecture from the wheels'
METADATA (PEP 658 files, or range requests into the wheel where PyPI has
none), and the simple index lists the CPython tags each release has Linux
wheels for. `invoke compat` compares env/compat.toml with them."""

from __future__ import annotations

import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from envkit.catalog.data_files import CompatRow, compat_file
from envkit.catalog.variants import arches, default_arch
from envkit.catalog.variants import indexes as index_data
from envkit.core import proc
from envkit.core.errors import KitError, UsageError, network_reason
from envkit.core.settings import Settings
from envkit.recipes import indexes
from envkit.recipes.pip_lock import uv_env

_RUNTIME = re.compile(r"nvidia-cuda-runtime(-cu\d+)?")  # -cu11, -cu12; none from CUDA 13
_CUDNN = re.compile(r"nvidia-cudnn-cu\d+")
_PIN = re.compile(r"([a-z0-9][a-z0-9._-]*)==(\S+)")
_LINUX_WHEEL = re.compile(
    r"torch-(?P<torch>[^-]+)-cp(?P<py>\d)(?P<minor>\d+)-cp\d+(?P<t>t?)-manylinux[^-]*_x86_64\.whl"
)


@dataclass(frozen=True)
class WheelBuild:
    """The build PyPI's Linux wheel of a torch release is, by what it requires."""

    platform: str  # cpu, or cuXYZ from its CUDA runtime's major.minor
    cuda_runtime: str = ""  # nvidia-cuda-runtime's version ("" for a CPU build)
    cudnn: str = ""  # nvidia-cudnn's version ("" for a CPU build)


def build_of(pins: dict[str, str]) -> WheelBuild:
    """`{"nvidia-cuda-runtime-cu12": "12.4.127", ...}` -> cu124."""
    runtime = next((version for name, version in pins.items() if _RUNTIME.fullmatch(name)), "")
    cudnn = next((version for name, version in pins.items() if _CUDNN.fullmatch(name)), "")
    if not runtime:
        return WheelBuild("cpu")
    major, minor = runtime.split(".")[:2]
    return WheelBuild(f"cu{major}{minor}", runtime, cudnn)


def _pypi(settings: Settings) -> str:
    return settings.index_url or indexes.mirrored(index_data().pypi, settings.mirrors)


NO_WHEEL = WheelBuild("none")  # PyPI has no Linux wheel of the release for the architecture


def resolve(torch: str, python: str, arch: str, settings: Settings) -> dict[str, str] | None:
    """Every package `pip install torch==X` takes from PyPI on Linux for
    `arch`, by name; None when PyPI has no wheel of it there."""
    with tempfile.TemporaryDirectory(prefix="envkit-compat-") as folder:
        wanted = Path(folder) / "torch.in"
        wanted.write_text(f"torch=={torch}\n")
        argv = [proc.tool("uv"), "pip", "compile", str(wanted), "--python-version", python]
        argv += ["--python-platform", arches()[arch].python_platform, "--index-url", _pypi(settings)]
        run = proc.capture([*argv, "--no-build", "--no-header", "--no-annotate", "--quiet"], uv_env(settings), 300)
    if run.returncode != 0:
        if "has no wheels with a matching platform tag" in run.stderr:
            return None
        tail = "\n".join(run.stderr.strip().splitlines()[-6:])
        raise KitError(f"cannot read torch {torch}'s {arch} wheel from PyPI: uv pip compile failed.\n{tail}")
    return {match[1]: match[2] for match in _PIN.finditer(run.stdout)}


def linux_pythons(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Each torch release's CPython versions with a Linux x86_64 wheel (3.13t:
    free-threaded), from the names of the files PyPI's simple index lists."""
    ca_cert = settings.ca_cert
    url = _pypi(settings).rstrip("/") + "/torch/"
    try:
        answer = requests.get(
            url,
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            timeout=60,
            verify=str(ca_cert) if ca_cert else True,
        )
        answer.raise_for_status()
        files = answer.json()["files"]
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        reason = network_reason(error) if isinstance(error, requests.RequestException) else "not a PEP 691 index"
        raise KitError(f"cannot list torch's wheels at {url} ({reason}).") from None
    found: dict[str, set[tuple[int, int, str]]] = {}
    for entry in files:
        if isinstance(entry, dict) and (match := _LINUX_WHEEL.fullmatch(str(entry.get("filename", "")))):
            found.setdefault(match["torch"], set()).add((int(match["py"]), int(match["minor"]), match["t"]))
    return {torch: tuple(f"{a}.{b}{t}" for a, b, t in sorted(tags)) for torch, tags in found.items()}


def python_for(row: CompatRow) -> str:
    """The Python to resolve a release with: the newest plain CPython it has wheels for."""
    return [python for python in row.pythons if not python.endswith("t")][-1]


@dataclass(frozen=True)
class Reading:
    """What the wheels of one release say, beside what the table says."""

    torch: str
    builds: dict[str, WheelBuild]  # by architecture
    pythons: tuple[str, ...]

    def disagreements(self, row: CompatRow) -> list[str]:
        """Each fact of the table's row the wheels contradict, in words."""
        found = []
        default = self.builds[default_arch()]
        if default.platform != row.pypi_default:
            found.append(f"pypi_default is {row.pypi_default}, the wheel is {default.platform}")
        if default.cuda_runtime != row.cuda_runtime.get(row.pypi_default, ""):
            found.append(
                f"cuda_runtime.{row.pypi_default} is {row.cuda_runtime.get(row.pypi_default, 'not recorded')}, "
                f"the wheel requires {default.cuda_runtime or 'none'}"
            )
        if default.cudnn != row.cudnn.get(row.pypi_default, ""):
            found.append(
                f"cudnn.{row.pypi_default} is {row.cudnn.get(row.pypi_default, 'not recorded')}, "
                f"the wheel requires {default.cudnn or 'none'}"
            )
        for arch, build in self.builds.items():
            if arch != default_arch() and build != NO_WHEEL and build.platform != row.pypi_arch_builds.get(arch, "cpu"):
                found.append(
                    f"pypi_arch_builds.{arch} is {row.pypi_arch_builds.get(arch, 'cpu (not listed)')}, "
                    f"the {arch} wheel is {build.platform}"
                )
        if self.pythons != row.pythons:
            found.append(f"pythons are {', '.join(row.pythons)}; PyPI has wheels for {', '.join(self.pythons)}")
        return found


def read(torch: str, row: CompatRow, pythons: dict[str, tuple[str, ...]], settings: Settings) -> Reading:
    python = python_for(row)
    resolved = {arch: resolve(torch, python, arch, settings) for arch in arches()}
    builds = {arch: NO_WHEEL if pins is None else build_of(pins) for arch, pins in resolved.items()}
    return Reading(torch, builds, pythons.get(torch, ()))


def check_table(settings: Settings, only: str | None = None) -> list[str]:
    """Read every row of env/compat.toml (or the one `only` names) from the
    wheels: one line per release, then a line per disagreement; raises
    KitError naming the rows that disagree."""
    rows = compat_file().torch
    if only is not None and only not in rows:
        raise UsageError(f"--torch {only}: not a release in env/compat.toml ({', '.join(rows)}).")
    pythons = linux_pythons(settings)
    said, wrong = [], []
    with ThreadPoolExecutor(4) as pool:  # uv reads several wheels at once
        readings = pool.map(lambda torch: read(torch, rows[torch], pythons, settings), [only] if only else rows)
        for reading in readings:
            builds = ", ".join(f"{arch} {build.platform}" for arch, build in reading.builds.items())
            default = reading.builds[default_arch()]
            runtime = f" (runtime {default.cuda_runtime}, cuDNN {default.cudnn})" if default.cuda_runtime else ""
            said.append(f"torch {reading.torch}: {builds}{runtime}")
            for problem in reading.disagreements(rows[reading.torch]):
                said.append(f"  disagrees: {problem}")
                wrong.append(reading.torch)
    if wrong:
        print("\n".join(said))
        raise KitError(f"env/compat.toml disagrees with PyPI's wheels for torch {', '.join(dict.fromkeys(wrong))}.")
    return said
