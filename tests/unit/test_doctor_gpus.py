"""`invoke doctor`'s driver and GPU-architecture decisions, against an
nvidia-smi on PATH that answers as the real one does: the CSV of
`--query-gpu=... --format=csv,noheader`, and the refusal of a driver older
than R510, which has no compute_cap field. No GPU is needed."""

from __future__ import annotations

import os
import stat

import pytest

from envkit.core import gpus
from envkit.core.reports import HostGpu
from envkit.core.settings import Settings
from envkit.status import doctor

# What nvidia-smi prints for `--query-gpu=name,driver_version,compute_cap --format=csv,noheader`
# (one row per GPU), and what a pre-R510 driver answers to that query.
H200 = "NVIDIA H200, 580.95.05, 9.0\n"
RTX_5090 = "NVIDIA GeForce RTX 5090, 580.65.06, 12.0\nNVIDIA GeForce RTX 5090, 580.65.06, 12.0\n"
A100_R550 = "NVIDIA A100-SXM4-80GB, 550.54.15, 8.0\n"
V100_R580 = "Tesla V100-SXM2-32GB, 580.82.07, 7.0\n"
P100_R470 = 'Field "compute_cap" is not a valid field to query.\n'
P100_R470_PLAIN = "Tesla P100-PCIE-16GB, 470.256.02\n"


@pytest.fixture
def nvidia_smi(tmp_path, monkeypatch):
    """Put an nvidia-smi on PATH that prints `with_cap` for a query with
    compute_cap (exiting 2 when that is a refusal) and `plain` otherwise."""

    def install(with_cap: str, plain: str = "") -> None:
        script = tmp_path / "nvidia-smi"
        refused = with_cap.startswith("Field")
        script.write_text(
            "#!/bin/sh\n"
            'case "$*" in\n'
            f"  *compute_cap*) printf '%s' '{with_cap}'; exit {2 if refused else 0} ;;\n"
            f"  *) printf '%s' '{plain}' ;;\n"
            "esac\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")

    return install


def test_the_query_reads_each_gpu_and_its_compute_capability(nvidia_smi):
    nvidia_smi(RTX_5090)
    assert gpus.host_gpus() == [HostGpu("NVIDIA GeForce RTX 5090", "580.65.06", "12.0")] * 2


def test_a_driver_without_compute_cap_is_asked_again_without_it(nvidia_smi):
    nvidia_smi(P100_R470, P100_R470_PLAIN)
    assert gpus.host_gpus() == [HostGpu("Tesla P100-PCIE-16GB", "470.256.02", "")]


@pytest.mark.parametrize(
    ("smi", "plain", "state", "words"),
    [
        (H200, "", "pass", "compute capability 9.0; current line (CUDA 13.2) runs; audio line (CUDA 13.0) runs"),
        (RTX_5090, "", "pass", "NVIDIA GeForce RTX 5090 x2, driver 580.65.06: runs CUDA 11.8, 12.1"),
        # the seed runs; the CUDA 13 lines need R580, said without failing a team on the seed
        (A100_R550, "", "pass", "current line (CUDA 13.2) needs driver 580.65.06 or newer"),
        # Volta: a new enough driver, but CUDA 13 builds have no kernels for it
        (
            V100_R580,
            "",
            "pass",
            "current line (CUDA 13.2) needs a GPU of compute capability 7.5 or newer (this one is 7.0)",
        ),
        (P100_R470, P100_R470_PLAIN, "warn", "too old for CUDA 12.1 (needs 525.60.13)"),
    ],
)
def test_the_driver_and_gpu_against_the_seed_and_each_line(nvidia_smi, smi, plain, state, words):
    nvidia_smi(smi, plain)
    finding = doctor.check_driver(doctor.Machine(None, Settings()))
    assert (finding.state, words in finding.detail) == (state, True), finding.detail


def test_an_old_driver_without_compute_cap_is_judged_by_its_driver_alone(nvidia_smi):
    nvidia_smi(P100_R470, P100_R470_PLAIN)
    detail = doctor.check_driver(doctor.Machine(None, Settings())).detail
    assert "current line (CUDA 13.2) needs driver 580.65.06 or newer" in detail
    assert "compute capability" not in detail
