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
            "current line (CUDA 13.2) has no kernels for compute capability 7.0 (it has sm_75 to sm_120)",
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


# More families, as nvidia-smi prints them for the same query.
P100_R535 = "Tesla P100-PCIE-16GB, 535.183.01, 6.0\n"
T4 = "Tesla T4, 580.95.05, 7.5\n"
L4_AND_B200 = "NVIDIA L4, 580.95.05, 8.9\nNVIDIA B200, 580.95.05, 10.0\n"


@pytest.mark.parametrize(
    ("smi", "plain", "state", "words"),
    [
        # Hopper: every image has kernels for it (cu118's list is not measured: said so)
        (H200, "", "pass", "NVIDIA H200 (9.0): kernels in cu121-pip, cu132-pip, cu130-pip; not measured: cu118-pip"),
        # Blackwell: torch 2.4.1's cu121 build has none: a warning naming the lines that have
        (RTX_5090, "", "warn", "NVIDIA GeForce RTX 5090 (12.0): kernels in cu132-pip, cu130-pip; none in cu121-pip"),
        # Pascal: the seed has sm_60; the CUDA 13 lines start at Turing: said, not judged
        (P100_R535, "", "pass", "Tesla P100-PCIE-16GB (6.0): kernels in cu121-pip; none in cu132-pip, cu130-pip"),
        (T4, "", "pass", "Tesla T4 (7.5): kernels in cu121-pip, cu132-pip, cu130-pip"),
        # one row per kind of GPU; the B200 alone warns
        (L4_AND_B200, "", "warn", "NVIDIA L4 (8.9): kernels in cu121-pip, cu132-pip, cu130-pip; not measured"),
        (P100_R470, P100_R470_PLAIN, "pass", "compute capability not reported (a driver before R510): not checked"),
        ("", "", "pass", "no NVIDIA GPU: no kernels to match"),
    ],
)
def test_each_gpus_compute_capability_against_each_images_kernels(nvidia_smi, smi, plain, state, words):
    nvidia_smi(smi, plain)
    finding = doctor.check_gpu_kernels(doctor.Machine(None, Settings()))
    assert (finding.state, words in finding.detail) == (state, True), finding.detail


def test_a_blackwell_gpu_is_told_which_line_to_take(nvidia_smi):
    nvidia_smi(L4_AND_B200)
    finding = doctor.check_gpu_kernels(doctor.Machine(None, Settings()))
    assert "NVIDIA B200 (10.0): kernels in cu132-pip, cu130-pip; none in cu121-pip" in finding.detail
    assert finding.fix == (
        "on NVIDIA B200, use `--cuda 13.2` (current line, torch 2.15.0) or `--cuda 13.0` (audio line, torch 2.11.0)"
    )
