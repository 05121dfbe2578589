"""Which GPUs an image's torch has kernels for (envkit/catalog/gpu_fit.py):
the CUDA compatibility rules, and the decisions `invoke run --gpus` and
`invoke doctor` take from them for real GPU families."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envkit.catalog import gpu_fit
from envkit.catalog.variants import make
from envkit.core.reports import HostGpu
from tests.helpers.checkout import refusal_of_edit

# torch 2.4.1's cu121 wheel, as `invoke test` measured it inside cu121-pip (env/compat.toml)
TORCH_241_CU121 = ("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90")


@pytest.mark.parametrize(
    ("archs", "capability", "runs"),
    [
        (TORCH_241_CU121, "8.9", True),  # Ada runs Ampere's sm_86 cubin: same major, higher minor
        (TORCH_241_CU121, "9.0", True),
        (TORCH_241_CU121, "10.0", False),  # Blackwell: no cubin of major 10, no PTX
        (TORCH_241_CU121, "12.0", False),
        (TORCH_241_CU121, "6.1", True),  # GTX 1080 on sm_60
        (TORCH_241_CU121, "3.7", False),  # K80: older than every kernel
        (("sm_80", "compute_90"), "12.0", True),  # PTX is compiled by the driver for newer GPUs
        (("sm_80", "compute_90"), "8.9", True),  # ... and sm_80 covers 8.9
        (("compute_90",), "8.6", False),  # PTX never runs on an older GPU
        (("sm_90a",), "9.0", True),  # arch-specific: that capability alone
        (("sm_100a",), "10.3", False),
        (("sm_100f",), "10.3", True),  # family-specific: the family's later minors too
        (("sm_100",), "12.0", False),  # a cubin never crosses a major
        ((), "9.0", False),
        (TORCH_241_CU121, "", False),  # nothing to match against
    ],
)
def test_cuda_binary_and_ptx_compatibility(archs, capability, runs):
    assert gpu_fit.runs_on(archs, capability) is runs


@given(major=st.integers(3, 15), minor=st.integers(0, 9), built_minor=st.integers(0, 9))
def test_a_cubin_runs_exactly_on_its_major_at_or_above_its_minor(major, minor, built_minor):
    assert gpu_fit.runs_on((f"sm_{major}{built_minor}",), f"{major}.{minor}") is (minor >= built_minor)
    assert not gpu_fit.runs_on((f"sm_{major}{built_minor}",), f"{major + 1}.{minor}")


def test_the_published_label_is_what_an_image_is_judged_by():
    labels = {"io.envkit.platform": "cu121", "io.envkit.cuda": "12.1", gpu_fit.ARCHS_LABEL: "sm_80 compute_90"}
    needs = gpu_fit.ImageGpuNeeds.of_labels("ref", labels)
    assert (needs.cuda, needs.archs) == ("12.1", ("sm_80", "compute_90"))


def test_a_local_build_is_judged_by_the_measured_list_of_its_build():
    labels = {
        "io.envkit.platform": "cu121",
        "io.envkit.recipe": "pip",
        "io.envkit.arch": "amd64",
        "org.opencontainers.image.version": "2.4.1",
    }
    assert gpu_fit.ImageGpuNeeds.of_labels("ref", labels).archs == TORCH_241_CU121
    conda = gpu_fit.ImageGpuNeeds.of_labels("ref", {**labels, "io.envkit.recipe": "conda"})
    assert (conda.cuda, conda.archs) == ("12.1", None)  # no list measured for a conda build: not judged by one


def test_a_cpu_image_needs_no_gpu_and_is_never_refused():
    needs = gpu_fit.ImageGpuNeeds.of_labels("ref", {"io.envkit.platform": "cpu", "io.envkit.cuda": "none"})
    assert gpu_fit.refusal([HostGpu("Tesla P100-PCIE-16GB", "470.256.02", "6.0")], needs, "amd64") == ""


def test_a_cuda_the_driver_table_does_not_know_is_not_refused_but_named_by_doctor():
    needs = gpu_fit.ImageGpuNeeds("ref", "99.1", ("sm_90",))
    gpu = HostGpu("Tesla P100-PCIE-16GB", "470.256.02", "6.0")
    assert gpu_fit.problem(gpu, "99.1", ("sm_90",)) == "no driver data in env/compat.toml"
    assert gpu_fit.refusal([gpu], needs, "amd64") == ""


BLACKWELL = HostGpu("NVIDIA GeForce RTX 5090", "580.65.06", "12.0")
PASCAL = HostGpu("NVIDIA GeForce GTX 1080 Ti", "580.82.07", "6.1")
ADA = HostGpu("NVIDIA L4", "550.54.15", "8.9")


def test_a_blackwell_gpu_with_the_cu121_image_is_told_to_take_the_current_line():
    needs = gpu_fit.ImageGpuNeeds.of_variant(make("cu121", "pip", "2.4.1", "3.11"))
    said = gpu_fit.refusal([BLACKWELL], needs, "amd64")
    assert "cu121-pip (CUDA 12.1) cannot run on NVIDIA GeForce RTX 5090" in said
    assert "has no kernels for compute capability 12.0 (it has sm_50 to sm_90)" in said
    assert "pick `--cuda 13.2` (current line, torch 2.15.0)" in said
    assert "--cuda 12.1" not in said and "--gpus none" in said


def test_a_pascal_gpu_with_a_cuda_13_image_is_told_to_take_the_seed():
    needs = gpu_fit.ImageGpuNeeds.of_variant(make("cu132", "pip", "2.15.0", "3.13"))
    said = gpu_fit.refusal([PASCAL], needs, "amd64")
    assert "cu132-pip (CUDA 13.2) cannot run on NVIDIA GeForce GTX 1080 Ti" in said
    assert "`--cuda 12.1` (seed line, torch 2.4.1)" in said
    assert "--cuda 13" not in said


def test_a_driver_too_old_for_the_image_is_refused_with_the_driver_named():
    needs = gpu_fit.ImageGpuNeeds.of_variant(make("cu132", "pip", "2.15.0", "3.13"))
    said = gpu_fit.refusal([ADA], needs, "amd64")
    assert "it needs driver 580.65.06 or newer" in said
    assert "`--cuda 12.1` (seed line, torch 2.4.1)" in said


def test_an_image_that_fits_every_gpu_is_let_through():
    needs = gpu_fit.ImageGpuNeeds.of_variant(make("cu121", "pip", "2.4.1", "3.11"))
    assert gpu_fit.refusal([ADA, HostGpu("NVIDIA H100 80GB HBM3", "580.65.06", "9.0")], needs, "amd64") == ""


def test_one_gpu_the_image_cannot_use_among_several_is_enough_to_refuse():
    needs = gpu_fit.ImageGpuNeeds.of_variant(make("cu121", "pip", "2.4.1", "3.11"))
    assert "RTX 5090" in gpu_fit.refusal([ADA, BLACKWELL], needs, "amd64")


def test_a_build_without_a_measured_list_is_judged_by_its_cuda_releases_oldest_gpu():
    volta = HostGpu("Tesla V100-SXM2-32GB", "580.82.07", "7.0")
    assert gpu_fit.problem(volta, "13.2", None) == ("needs a GPU of compute capability 7.5 or newer (this one is 7.0)")
    assert gpu_fit.problem(volta, "12.1", None) == ""  # [drivers] records no oldest GPU for 12.1


def test_an_unmeasured_build_is_never_suggested():
    suggested = gpu_fit.alternatives(HostGpu("NVIDIA H100 80GB HBM3", "580.65.06", "9.0"), "amd64")
    assert suggested and not any("11.8" in line for line in suggested)  # cu118's kernels are not measured


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('gpu_archs = { cu121 = ["sm_50"', 'gpu_archs = { cu126 = ["sm_50"', "'cu126' is not one of its platforms"),
        ('gpu_archs = { cu121 = ["sm_50"', 'gpu_archs = { cu121 = ["sm50"', "'sm50' is not an architecture"),
        ('gpu_archs = { cu121 = ["sm_50"', 'gpu_archs = { "cu121-" = ["sm_50"', "'cu121-' is not one of"),
    ],
)
def test_a_broken_kernel_list_is_refused_where_it_is_read(env_copy, old, new, message):
    assert message in refusal_of_edit(env_copy, "compat.toml", old, new)


def test_labels_naming_a_recipe_no_variant_has_give_no_measured_archs():
    """A foreign image's labels may name any recipe: none measured, never a KeyError."""
    labels = {
        "io.envkit.platform": "cu121",
        "io.envkit.recipe": "poetry",
        "org.opencontainers.image.version": "2.4.1",
    }
    needs = gpu_fit.ImageGpuNeeds.of_labels("someone/else:latest", labels)
    assert (needs.cuda, needs.archs) == ("12.1", None)
    pip = gpu_fit.ImageGpuNeeds.of_labels("ours", {**labels, "io.envkit.recipe": "pip"})
    assert pip.archs and "sm_90" in pip.archs
