"""The checks' decisions, fed with what a container would report."""

import dataclasses
import json

import docker
import pytest

from envkit import ROOT
from envkit.catalog.selection import select
from envkit.checks import probes, testrun
from envkit.checks.check import Context
from envkit.checks.container import Exec
from envkit.checks.registry import BY_NAME
from envkit.core import gpus
from envkit.core.reports import HostGpu, Measured, TestReport
from envkit.core.validation import validate
from envkit.recipes.files import read_conda, read_conda_lock, read_pip
from tests.helpers.reports import MEASURED_CU121, report_data

MEASURED = MEASURED_CU121


class ScriptedBox:
    """Answers exec calls with canned results, as a ProbeContainer would."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def exec(self, argv, timeout=600):
        self.calls.append(argv)
        return self.answers.pop(0)


def context(name="cu121-pip", measured=None, gpus=False):
    cuda, recipe = {"cu121-pip": ("12.1", "pip"), "cpu-pip": ("cpu", "pip"), "cu121-conda": ("12.1", "conda")}[name]
    return Context(select(cuda, recipe), gpus, validate(Measured, measured, "test", "") if measured else None)


def test_pins_pass_when_measured_equals_the_variant():
    [result] = BY_NAME["pins"].rows(None, context(measured=MEASURED))
    assert result.passed and result.detail == "as pinned for cu121-pip"


def test_an_image_whose_examples_predate_the_kernel_list_is_told_to_rebuild():
    older = {key: value for key, value in MEASURED.items() if key != "cuda_archs"}
    [result] = BY_NAME["pins"].rows(None, context(measured=older))
    assert result.passed and "its GPU kernels not measured" in result.detail and "rebuild it" in result.detail


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"torch": "2.4.0+cu121"}, "torch 2.4.0 != 2.4.1"),
        ({"cuda_compiled": None}, "cuda none != 12.1"),
        # what doctor and run judge GPUs by (env/compat.toml gpu_archs) must be what the image has
        ({"cuda_archs": ["sm_50", "sm_90"]}, "gpu kernels sm_50 sm_90 != sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90"),
        ({"cuda_archs": []}, "gpu kernels none != sm_50"),
        ({"python": "3.12.1"}, "python 3.12 != 3.11"),
        ({"torchvision": "0.19.0"}, "torchvision 0.19.0 != 0.19.1"),
        ({"machine": "aarch64"}, "machine aarch64 != x86_64"),
    ],
)
def test_pins_fail_and_name_the_difference(change, problem):
    [result] = BY_NAME["pins"].rows(None, context(measured={**MEASURED, **change}))
    assert not result.passed and problem in result.detail


def test_cpu_variant_expects_no_cuda():
    measured = {
        **MEASURED,
        "torch": "2.4.1+cpu",
        "torchvision": "0.19.1+cpu",
        "torchaudio": "2.4.1+cpu",
        "cuda_compiled": None,
    }
    assert BY_NAME["pins"].rows(None, context("cpu-pip", measured))[0].passed


def test_the_arm64_variant_expects_pypis_cpu_torch_on_aarch64():
    """PyPI's aarch64 wheels are the CPU build and carry no +cpu local version."""
    measured = {**MEASURED, "torch": "2.4.1", "torchvision": "0.19.1", "torchaudio": "2.4.1", "cuda_compiled": None}
    arm64 = Context(select("cpu", arch="arm64"), False, validate(Measured, {**measured, "machine": "aarch64"}, "t", ""))
    [result] = BY_NAME["pins"].rows(None, arm64)
    assert result.passed and result.detail == "as pinned for cpu-pip-arm64"
    emulated_wrongly = dataclasses.replace(arm64, measured=validate(Measured, measured, "t", ""))
    assert BY_NAME["pins"].rows(None, emulated_wrongly)[0].detail == "machine x86_64 != aarch64"


def test_pins_fail_when_nothing_was_measured():
    assert not BY_NAME["pins"].rows(None, context())[0].passed


def locked_versions():
    return read_pip(ROOT / select("12.1").lock_file).versions()


def test_pip_drift_none_when_installed_equals_the_lock():
    assert probes.pip_drift(locked_versions(), locked_versions()) == []


def test_pip_drift_names_changed_missing_and_extra_packages():
    installed = locked_versions()
    installed["numpy"] = "2.0.0"
    del installed["sympy"]
    installed["requests"] = "2.32.0"
    assert probes.pip_drift(locked_versions(), installed) == [
        "numpy 2.0.0 (recipe: 2.4.6)",
        "requests 2.32.0 not in recipe",
        "sympy missing",
    ]


def test_conda_pins_are_checked_against_the_version_before_the_build_string():
    pinned = read_conda(ROOT / select("12.1", "conda").input_file).pins
    installed = {
        "python": "3.11.10-h955ad1f_0",
        "pytorch": "2.4.1-py3.11_cuda12.1_cudnn9.1.0_0",
        "torchvision": "0.19.1-py311_cu121",
        "torchaudio": "2.4.1-py311_cu121",
        "pytorch-cuda": "12.1-ha16c6d3_6",
        "mkl": "2024.0.0-ha957f24_49657",
        "numpy": "2.1.0-py311h1",
    }
    assert probes.conda_pin_drift(pinned, installed) == []
    installed["mkl"] = "2024.1.0-h0"
    installed["python"] = "3.12.0-h1"
    assert probes.conda_pin_drift(pinned, installed) == [
        "mkl 2024.1.0 (recipe: 2024.0)",
        "python 3.12.0 (recipe: 3.11)",
    ]


def test_an_explicit_conda_lock_is_compared_package_by_package(tmp_path):
    lock = tmp_path / "cu121.linux-64.lock"
    lock.write_text(
        "@EXPLICIT\n"
        "https://conda.anaconda.org/pytorch/linux-64/pytorch-2.4.1-py3.11_cuda12.1_cudnn9.1.0_0.tar.bz2#6c2f\n"
        "https://conda.anaconda.org/conda-forge/linux-64/mkl-2024.0.0-ha957f24_49657.conda#aa1\n"
    )
    locked = read_conda_lock(lock)
    assert locked == {"pytorch": "2.4.1-py3.11_cuda12.1_cudnn9.1.0_0", "mkl": "2024.0.0-ha957f24_49657"}
    assert probes.pip_drift(locked, dict(locked), compare=str.__eq__) == []
    assert probes.pip_drift(locked, {**locked, "mkl": "2024.1.0-h0"}, compare=str.__eq__) == [
        "mkl 2024.1.0-h0 (recipe: 2024.0.0-ha957f24_49657)"
    ]


def test_smoke_rows_become_one_result_each_and_gpu_flag_is_passed():
    box = ScriptedBox(
        Exec(
            1,
            '[{"name": "nms", "passed": false, "detail": "operator torchvision::nms does not '
            'exist", "seconds": 0.1}, {"name": "compile_cpu", "passed": true, "detail": "ok", '
            '"seconds": 9.0}]',
            "",
            12.0,
        )
    )
    results = BY_NAME["smoke"].rows(box, context(gpus=True))
    assert [(r.name, r.passed) for r in results] == [("smoke:nms", False), ("smoke:compile_cpu", True)]
    assert box.calls[0][-2:] == ["--json", "--gpu"]


def test_smoke_without_json_is_one_failure_with_the_error_tail():
    box = ScriptedBox(Exec(1, "", "Traceback ...\nImportError: libcudart.so.12", 1.0))
    [result] = BY_NAME["smoke"].rows(box, context())
    assert not result.passed and "ImportError: libcudart.so.12" in result.detail


def test_verify_install_keeps_the_measurements():
    ctx = context()
    box = ScriptedBox(Exec(0, json.dumps(MEASURED), "", 3))
    [result] = BY_NAME["verify_install"].rows(box, ctx)
    assert result.passed and ctx.measured is not None and ctx.measured.cudnn == "9.1.0"


def test_verify_install_output_of_another_shape_fails_the_check():
    ctx = context()
    box = ScriptedBox(Exec(0, '{"torch": "2.4.1"}', "", 3))
    [result] = BY_NAME["verify_install"].rows(box, ctx)
    assert not result.passed and "torchvision: missing" in result.detail and ctx.measured is None


def test_the_table_names_how_many_checks_failed():
    rows = [
        {"name": "a", "passed": True, "detail": "", "seconds": 1.0},
        {"name": "b", "passed": False, "detail": "broken", "seconds": 0.5},
    ]
    report = validate(TestReport, report_data(checks=rows, passed=False, tags={}, seconds=0.0), "test", "")
    assert report.failed_checks == ["b"]
    assert testrun.report_table(report).splitlines()[-1].endswith("FAILED (1 of 2 checks) in 0.0 s")


class FakeEngine:
    def __init__(self, runtimes):
        self.runtimes = runtimes

    def info(self):
        return {"Runtimes": self.runtimes}


@pytest.mark.parametrize(
    ("choice", "runtimes", "host_gpus", "expected"),
    [
        ("auto", {"runc": {}}, [], False),
        ("auto", {"nvidia": {}}, [HostGpu("H100", "550")], True),
        ("auto", {"nvidia": {}}, [], False),
        ("none", {"nvidia": {}}, [HostGpu("H100", "550")], False),
        ("all", {"runc": {}}, [], True),
    ],
)
def test_gpu_choice(choice, runtimes, host_gpus, expected, monkeypatch):
    monkeypatch.setattr(gpus.shutil, "which", lambda tool: None)
    assert gpus.use_gpus(choice, FakeEngine(runtimes), host_gpus) is expected


def test_docker_sdk_is_the_real_one():
    # docker/ in this repository holds Dockerfiles; make sure it never shadows the SDK.
    assert hasattr(docker, "from_env")
