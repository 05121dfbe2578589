"""The variant data and the compatibility table agree with each other and
with what the mission promises."""

import re

import pytest

from envkit.variants import ROOT, compat, cuda_platform, declared, default_pins, platform_cuda

DIGEST = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


def test_six_variants_cpu_cu118_cu121_times_pip_conda():
    names = sorted(variant.name for variant in declared())
    assert names == sorted(f"{p}-{r}" for p in ("cpu", "cu118", "cu121") for r in ("pip", "conda"))


def test_default_pins_are_the_mission_set():
    assert default_pins() == {"torch": "2.4.1", "torchvision": "0.19.1", "torchaudio": "2.4.1", "python": "3.11"}


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
    assert variant.path().is_file()
    assert (ROOT / variant.dockerfile).is_file()
    assert DIGEST.match(variant.base_image), variant.base_image


def test_only_the_pypi_cu121_recipe_is_hash_locked():
    # The pytorch index and the conda channels are unreachable where the recipes were written.
    assert {v.name for v in declared() if v.hash_locked} == {"cu121-pip"}


def test_pip_index_urls():
    urls = {v.platform: v.index_url for v in declared() if v.recipe == "pip"}
    assert urls == {
        "cu121": "https://pypi.org/simple",
        "cu118": "https://download.pytorch.org/whl/cu118",
        "cpu": "https://download.pytorch.org/whl/cpu",
    }


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
