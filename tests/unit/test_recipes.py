"""The pinned recipes in env/, checked statically: the ones that cannot be
built here (pytorch index, conda channels) are proven as far as files allow."""

import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envkit.recipes import read_conda, read_pip
from envkit.variants import ROOT, declared

PIP = [v for v in declared() if v.recipe == "pip"]
CONDA = [v for v in declared() if v.recipe == "conda"]
TORCH_FAMILY = {"torch", "torchvision", "torchaudio"}
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


def by_platform(platform):
    return next(v for v in PIP if v.platform == platform)


def shared(versions):
    """The packages every platform shares: not torch itself, not its CUDA libraries."""
    return {
        n: v for n, v in versions.items() if n not in TORCH_FAMILY and not n.startswith("nvidia-") and n != "triton"
    }


@pytest.mark.parametrize("variant", PIP, ids=lambda v: v.name)
def test_pip_recipe_pins_every_package_exactly(variant):
    recipe = read_pip(variant.path())
    assert not recipe.loose, recipe.loose
    assert len(recipe.pins) > 10
    local = "" if variant.index_url == "https://pypi.org/simple" else f"+{variant.platform}"
    assert recipe.versions()["torch"] == f"{variant.torch}{local}"
    assert recipe.versions()["torchvision"] == f"{variant.torchvision}{local}"
    assert recipe.versions()["torchaudio"] == f"{variant.torchaudio}{local}"


@pytest.mark.parametrize("variant", PIP, ids=lambda v: v.name)
def test_hash_locked_flag_matches_the_file(variant):
    pins = read_pip(variant.path()).pins.values()
    if variant.hash_locked:
        assert all(pin.hashes and all(SHA256.match(h) for h in pin.hashes) for pin in pins)
    else:
        assert not any(pin.hashes for pin in pins)


@pytest.mark.parametrize("variant", PIP, ids=lambda v: v.name)
def test_pip_recipe_names_its_index_so_plain_pip_can_install_it(variant):
    options = read_pip(variant.path()).options
    if variant.index_url == "https://pypi.org/simple":
        assert options == []  # PyPI is pip's default, and a configured mirror still applies
    else:
        assert options == [f"--index-url {variant.index_url}", "--extra-index-url https://pypi.org/simple"]


@pytest.mark.parametrize("platform", ["cpu", "cu118"])
def test_unlocked_recipes_share_the_cu121_lock_versions(platform):
    locked = shared(read_pip(by_platform("cu121").path()).versions())
    assert shared(read_pip(by_platform(platform).path()).versions()) == locked


def test_cu121_lock_holds_the_cuda_12_1_libraries_torch_pins():
    versions = read_pip(by_platform("cu121").path()).versions()
    assert versions["nvidia-cuda-runtime-cu12"] == "12.1.105"
    assert versions["nvidia-cudnn-cu12"] == "9.1.0.70"
    assert versions["triton"] == "3.0.0"


def test_cu118_recipe_holds_cuda_11_libraries_only():
    nvidia = {n: v for n, v in read_pip(by_platform("cu118").path()).versions().items() if n.startswith("nvidia-")}
    assert nvidia and all(name.endswith("-cu11") for name in nvidia)
    assert nvidia["nvidia-cuda-runtime-cu11"] == "11.8.89"
    assert nvidia["nvidia-cudnn-cu11"] == "9.1.0.70"


def test_cpu_recipe_has_no_cuda_libraries_and_no_triton():
    names = read_pip(by_platform("cpu").path()).versions()
    assert not [n for n in names if n.startswith("nvidia-") or n == "triton"]


def test_cu121_lock_input_pins_the_data_versions():
    """The lock's input names the torch family at exactly the data's pins."""
    variant = by_platform("cu121")
    wanted = {"torch": variant.torch, "torchvision": variant.torchvision, "torchaudio": variant.torchaudio}
    found = {}
    for line in (ROOT / "env/pip/cu121.in").read_text().splitlines():
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            if requirement.name in wanted:
                found[requirement.name] = str(requirement.specifier)
    assert found == {name: f"=={version}" for name, version in wanted.items()}


def test_lock_adds_setuptools_for_torch_compile():
    # torch.utils.cpp_extension imports setuptools; torch 2.4.1 declares it only for Python >= 3.12.
    for variant in PIP:
        assert "setuptools" in read_pip(variant.path()).versions()


def test_installer_recipe_is_hash_locked():
    recipe = read_pip(ROOT / "env/pip/installer.txt")
    assert list(recipe.pins) == ["uv"] and recipe.pins["uv"].hashes


@pytest.mark.parametrize("variant", CONDA, ids=lambda v: v.name)
def test_conda_recipe_pins_exactly_with_the_data_channels(variant):
    recipe = read_conda(variant.path())
    assert recipe.channels == [*variant.channels, "nodefaults"]
    assert recipe.pins["python"] == variant.python
    assert recipe.pins["pytorch"] == variant.torch
    assert recipe.pins["torchvision"] == variant.torchvision
    assert recipe.pins["torchaudio"] == variant.torchaudio
    # MKL 2024.1 broke the pytorch channel's builds (pytorch/pytorch#123097).
    assert recipe.pins["mkl"] == "2024.0"
    if variant.cuda:
        assert recipe.pins["pytorch-cuda"] == variant.cuda
        assert "cpuonly" not in recipe.unpinned
    else:
        assert "pytorch-cuda" not in recipe.pins
        assert "cpuonly" in recipe.unpinned


@pytest.mark.parametrize("variant", CONDA, ids=lambda v: v.name)
def test_conda_recipe_takes_the_torch_family_from_the_pytorch_channel(variant):
    text = variant.path().read_text()
    for package in ("pytorch", "torchvision", "torchaudio"):
        assert f"- pytorch::{package}=" in text
    assert re.search(r"- pytorch::(pytorch-cuda=|cpuonly)", text)


def test_recipe_reader_handles_comments_options_and_continuations(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text(
        "# header\n--index-url https://example.invalid/simple\nTyping_Extensions==4.1.0 \\\n"
        "    --hash=sha256:" + "a" * 64 + " \\\n    --hash=sha256:" + "b" * 64 + "\n    # via torch\n"
        "numpy>=2  # loose\ntorch==2.4.1+cpu\n"
    )
    recipe = read_pip(path)
    assert recipe.options == ["--index-url https://example.invalid/simple"]
    assert recipe.versions() == {canonicalize_name("typing-extensions"): "4.1.0", "torch": "2.4.1+cpu"}
    assert recipe.pins["typing-extensions"].hashes == ("sha256:" + "a" * 64, "sha256:" + "b" * 64)
    assert recipe.loose == ["numpy>=2"]
