"""The pinned recipes in env/, checked statically: the ones that cannot be
built here (pytorch index, conda channels) are proven as far as files allow."""

import re

import pytest
from packaging.utils import canonicalize_name

from envkit import ROOT
from envkit.catalog.variants import declared
from envkit.recipes import conda_lock, pip_lock
from envkit.recipes.files import is_hash_locked, read_conda, read_header, read_pip, tamper_reason

PIP = [v for v in declared() if v.recipe == "pip"]
CONDA = [v for v in declared() if v.recipe == "conda"]
TORCH_FAMILY = {"torch", "torchvision", "torchaudio"}
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


def by_platform(platform):
    return next(v for v in PIP if v.platform == platform)


def lock_of(variant):
    return ROOT / variant.lock_file


def shared(versions):
    """The packages every platform shares: not torch itself, not its CUDA libraries."""
    return {
        n: v for n, v in versions.items() if n not in TORCH_FAMILY and not n.startswith("nvidia-") and n != "triton"
    }


@pytest.mark.parametrize("variant", PIP, ids=lambda v: v.name)
def test_pip_recipe_pins_every_package_exactly(variant):
    recipe = read_pip(lock_of(variant))
    assert not recipe.loose, recipe.loose
    assert len(recipe.pins) > 10
    local = "" if variant.index_url == "https://pypi.org/simple" else f"+{variant.platform}"
    assert recipe.versions()["torch"] == f"{variant.torch}{local}"
    assert recipe.versions()["torchvision"] == f"{variant.torchvision}{local}"
    assert recipe.versions()["torchaudio"] == f"{variant.torchaudio}{local}"


@pytest.mark.parametrize("variant", PIP, ids=lambda v: v.name)
def test_a_recipe_is_hash_locked_all_through_or_not_at_all(variant):
    pins = read_pip(lock_of(variant)).pins.values()
    if is_hash_locked(lock_of(variant)):
        assert all(pin.hashes and all(SHA256.match(h) for h in pin.hashes) for pin in pins)
    else:
        assert not any(pin.hashes for pin in pins)


@pytest.mark.parametrize("variant", PIP, ids=lambda v: v.name)
def test_pip_recipe_names_its_index_so_plain_pip_can_install_it(variant):
    options = read_pip(lock_of(variant)).options
    if not variant.extra_index_urls:
        assert options == []  # PyPI is pip's default, and a configured mirror still applies
    else:
        assert options == [f"--index-url {variant.index_url}", "--extra-index-url https://pypi.org/simple"]


@pytest.mark.parametrize("platform", ["cpu", "cu118"])
def test_unlocked_recipes_share_the_cu121_lock_versions(platform):
    locked = shared(read_pip(lock_of(by_platform("cu121"))).versions())
    assert shared(read_pip(lock_of(by_platform(platform))).versions()) == locked


def test_cu121_lock_holds_the_cuda_12_1_libraries_torch_pins():
    versions = read_pip(lock_of(by_platform("cu121"))).versions()
    assert versions["nvidia-cuda-runtime-cu12"] == "12.1.105"
    assert versions["nvidia-cudnn-cu12"] == "9.1.0.70"
    assert versions["triton"] == "3.0.0"


def test_cu118_recipe_holds_cuda_11_libraries_only():
    nvidia = {n: v for n, v in read_pip(lock_of(by_platform("cu118"))).versions().items() if n.startswith("nvidia-")}
    assert nvidia and all(name.endswith("-cu11") for name in nvidia)
    assert nvidia["nvidia-cuda-runtime-cu11"] == "11.8.89"
    assert nvidia["nvidia-cudnn-cu11"] == "9.1.0.70"


def test_cpu_recipe_has_no_cuda_libraries_and_no_triton():
    names = read_pip(lock_of(by_platform("cpu"))).versions()
    assert not [n for n in names if n.startswith("nvidia-") or n == "triton"]


@pytest.mark.parametrize("variant", declared(), ids=lambda v: v.name)
def test_inputs_are_the_data_rendered(variant):
    """Every input names exactly the data's versions: it is what `invoke lock` would write."""
    render = pip_lock.render_input if variant.recipe == "pip" else conda_lock.render_input
    assert (ROOT / variant.input_file).read_text() == render(variant)


def test_cu121_lock_is_fresh_and_records_its_inputs():
    variant = by_platform("cu121")
    header = read_header(lock_of(variant))
    assert header is not None and header.pop("body").startswith("sha256:")
    assert header == {
        "inputs": pip_lock.inputs_digest(variant),
        "python": "3.11",
        "index": "https://pypi.org/simple",
        "hashes": "yes",
    }
    assert pip_lock.stale_reason(variant) == "" and tamper_reason(lock_of(variant)) == ""


def test_the_shared_file_holds_the_reference_locks_shared_versions():
    reference_versions = read_pip(lock_of(by_platform("cu121"))).versions()
    shared = read_pip(ROOT / pip_lock.shared_file(by_platform("cu118"))).versions()
    assert shared == {
        name: version
        for name, version in reference_versions.items()
        if name not in TORCH_FAMILY and not name.startswith("nvidia-") and name != "triton"
    }


def test_hand_pinned_recipes_carry_no_header_until_locked():
    # cu118/cpu were pinned by hand (their index is unreachable here): nothing recorded to compare.
    for platform in ("cu118", "cpu"):
        assert read_header(lock_of(by_platform(platform))) is None
        assert pip_lock.stale_reason(by_platform(platform)) == ""


def test_lock_adds_setuptools_for_torch_compile():
    # torch.utils.cpp_extension imports setuptools; torch 2.4.1 declares it only for Python >= 3.12.
    for variant in PIP:
        assert "setuptools" in read_pip(lock_of(variant)).versions()


def test_installer_recipe_is_hash_locked():
    recipe = read_pip(ROOT / "env/pip/installer.txt")
    assert list(recipe.pins) == ["uv"] and recipe.pins["uv"].hashes


@pytest.mark.parametrize("variant", CONDA, ids=lambda v: v.name)
def test_conda_recipe_pins_exactly_with_the_data_channels(variant):
    recipe = read_conda(ROOT / variant.input_file)
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
    text = (ROOT / variant.input_file).read_text()
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
