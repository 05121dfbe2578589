"""The variant data and the compatibility table agree with each other and
with what the mission promises."""

import re

import pytest

from envkit import ROOT
from envkit.catalog.data_files import Pins
from envkit.catalog.variants import (
    compat,
    cuda_platform,
    declared,
    default_pins,
    make,
    platform_cuda,
    reference,
    siblings,
)
from envkit.recipes.files import is_hash_locked

DIGEST = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


def test_six_variants_cpu_cu118_cu121_times_pip_conda_and_cpu_pip_on_arm64():
    names = sorted(variant.name for variant in declared() if variant.arch == "amd64")
    assert names == sorted(f"{p}-{r}" for p in ("cpu", "cu118", "cu121") for r in ("pip", "conda"))
    [arm64] = [variant for variant in declared() if variant.arch != "amd64"]
    assert (arm64.name, arm64.docker_platform, arm64.lock_file) == (
        "cpu-pip-arm64",
        "linux/arm64",
        "env/pip/cpu-arm64.txt",
    )
    assert [v.name for v in siblings(arm64)] == ["cpu-pip", "cpu-pip-arm64"]  # one multi-arch tag
    assert [v.name for v in siblings(make("cu121", "pip", "2.4.1", "3.11"))] == ["cu121-pip"]


def test_default_pins_are_the_mission_set():
    assert default_pins() == Pins(torch="2.4.1", torchvision="0.19.1", torchaudio="2.4.1", python="3.11")


@pytest.mark.parametrize("variant", declared(), ids=lambda v: v.name)
def test_declared_variant_is_valid_in_the_table(variant):
    release = compat()[variant.torch]
    assert (variant.torchvision, variant.torchaudio) == (release.torchvision, release.torchaudio)
    assert variant.platform in release.platforms
    assert variant.python in release.pythons
    if variant.recipe == "conda":
        assert variant.cuda is None or variant.cuda in release.conda_cuda


@pytest.mark.parametrize("variant", declared(), ids=lambda v: v.name)
def test_variant_files_exist_and_bases_are_pinned_by_digest(variant):
    assert (ROOT / variant.input_file).is_file()
    if variant.recipe == "pip":
        assert (ROOT / variant.lock_file).is_file()
    assert (ROOT / variant.dockerfile).is_file()
    assert DIGEST.match(variant.base_image), variant.base_image


def test_only_the_recipes_from_pypi_are_hash_locked():
    # The pytorch index and the conda channels are unreachable where the recipes were written.
    locked = {v.name for v in declared() if (ROOT / v.lock_file).is_file() and is_hash_locked(ROOT / v.lock_file)}
    assert locked == {"cu121-pip", "cpu-pip-arm64"}


def test_pip_indexes_follow_pypis_default_build():
    urls = {v.name: (v.index_url, v.extra_index_urls) for v in declared() if v.recipe == "pip"}
    assert urls == {
        "cu121-pip": ("https://pypi.org/simple", ()),
        "cu118-pip": ("https://download.pytorch.org/whl/cu118", ("https://pypi.org/simple",)),
        "cpu-pip": ("https://download.pytorch.org/whl/cpu", ("https://pypi.org/simple",)),
        "cpu-pip-arm64": ("https://pypi.org/simple", ()),  # PyPI's aarch64 build is the CPU one
    }


@pytest.mark.parametrize(
    ("args", "name", "stem", "index", "base"),
    [
        (
            ("cu121", "pip", "2.5.1", "3.11"),
            "cu121-pip-torch2.5.1",
            "cu121-torch2.5.1",
            "https://download.pytorch.org/whl/cu121",
            "python:3.11-slim-bookworm@",
        ),
        (
            ("cu124", "pip", "2.5.1", "3.11"),
            "cu124-pip-torch2.5.1",
            "cu124-torch2.5.1",
            "https://pypi.org/simple",
            "python:3.11-slim-bookworm@",
        ),
        (
            ("cu128", "pip", "2.9.1", "3.12"),
            "cu128-pip-torch2.9.1-py3.12",
            "cu128-torch2.9.1-py3.12",
            "https://pypi.org/simple",
            "",
        ),
        (
            ("cu121", "conda", "2.5.1", "3.11"),
            "cu121-conda-torch2.5.1",
            "cu121-torch2.5.1",
            "",
            "mambaorg/micromamba:1.5.8@",
        ),
    ],
)
def test_a_variant_outside_the_defaults_needs_only_data(args, name, stem, index, base):
    variant = make(*args)
    assert (variant.name, variant.stem, variant.index_url, variant.default) == (name, stem, index, False)
    assert variant.base_image.startswith(base) if base else variant.base_image == ""
    assert variant.lock_file.startswith(f"env/{variant.recipe}/{stem}.")
    assert variant.torchvision == compat()[variant.torch].torchvision


def test_flags_select_the_variant_again():
    assert make("cu121", "conda", "2.5.1", "3.11").flags() == "--cuda 12.1 --recipe conda --torch 2.5.1"
    assert make("cpu", "pip", "2.4.1", "3.12").flags() == "--cuda cpu --python 3.12"
    assert declared()[2].flags() == "--cuda 12.1"


def test_the_reference_of_a_release_is_its_pypi_build():
    assert reference(make("cu118", "pip", "2.4.1", "3.11")).name == "cu121-pip"
    assert reference(make("cu118", "pip", "2.7.1", "3.11")).name == "cu126-pip-torch2.7.1"


def test_table_covers_torch_2_0_to_2_15():
    releases = list(compat())
    assert releases[0] == "2.0.0" and releases[-1] == "2.15.0"
    assert len(releases) == 28


@pytest.mark.parametrize("release", compat().values(), ids=lambda r: r.torch)
def test_table_rows_are_well_formed(release):
    assert release.platforms[0] == "cpu"
    assert all(re.fullmatch(r"cu\d{3}", p) for p in release.platforms[1:])
    assert release.pypi_default in release.platforms
    assert all(re.fullmatch(r"3\.\d+t?", p) for p in release.pythons)
    assert all(platform_cuda(p) for p in release.platforms[1:])
    # The pytorch conda channel stopped at 2.5.1 (pytorch/pytorch#138506).
    major_minor = tuple(int(x) for x in release.torch.split(".")[:2])
    assert bool(release.conda_cuda) == (major_minor <= (2, 5))


def test_pypi_default_of_the_default_pins_is_cu121():
    # The reason cu121 can be hash-locked from PyPI.
    assert compat()["2.4.1"].pypi_default == "cu121"
    assert compat()["2.5.0"].pypi_default == "cu124"


@pytest.mark.parametrize(
    ("flag", "platform"),
    [
        ("cpu", "cpu"),
        ("11.8", "cu118"),
        ("12.1", "cu121"),
        ("13.0", "cu130"),
        ("12", None),
        ("gpu", None),
        ("", None),
        ("cu121", None),
        ("12.1.0", None),
    ],
)
def test_cuda_flag_to_platform(flag, platform):
    assert cuda_platform(flag) == platform
    if platform:
        assert (platform_cuda(platform) or "cpu") == flag
