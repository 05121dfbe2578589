"""How `invoke lock` calls uv and orders its work, without running it."""

import dataclasses
from pathlib import Path

import pytest

from envkit.catalog.selection import select
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.recipes import lock, pip_lock

OUT = Path("/tmp/out.txt")


def test_the_pypi_reference_is_locked_as_pypi_stood_at_the_cut_off():
    argv = pip_lock.compile_command(select("12.1"), Settings(), OUT)
    assert argv[1:] == [
        "pip",
        "compile",
        "env/pip/cu121.in",
        "--generate-hashes",
        "--python-version",
        "3.11",
        "--python-platform",
        "x86_64-manylinux_2_28",
        "--index-url",
        "https://pypi.org/simple",
        "--no-emit-index-url",
        "--no-build",
        "--custom-compile-command",
        "invoke lock --cuda 12.1",
        "--output-file",
        "/tmp/out.txt",
        "--exclude-newer",
        "2026-11-27T00:00:00Z",
    ]


def test_a_pytorch_index_platform_takes_the_references_shared_versions():
    argv = pip_lock.compile_command(select("11.8"), Settings(), OUT)
    assert argv[argv.index("--index-url") + 1] == "https://download.pytorch.org/whl/cu118"
    assert argv[argv.index("--extra-index-url") + 1] == "https://pypi.org/simple"
    assert argv[argv.index("--index-strategy") + 1] == "unsafe-best-match"
    assert argv[argv.index("--constraints") + 1] == "env/pip/cu121.shared.txt"
    assert "--exclude-newer" not in argv  # download.pytorch.org records no upload times


def test_a_mirror_replaces_the_transport_not_the_recorded_index():
    settings = Settings.from_config({"mirrors": "https://pypi.org/simple=https://pypi.corp/simple"})
    argv = pip_lock.compile_command(select("12.1"), settings, OUT)
    assert argv[argv.index("--index-url") + 1] == "https://pypi.corp/simple"
    assert "--exclude-newer" not in argv  # a mirror may not record upload times
    assert pip_lock.inputs_digest(select("12.1")) == pip_lock.inputs_digest(select("12.1"))


def test_inputs_digest_covers_index_python_and_cut_off():
    variant = select("12.1")
    digest = pip_lock.inputs_digest(variant)
    assert pip_lock.inputs_digest(dataclasses.replace(variant, index_url="https://pypi.corp/simple")) != digest
    assert pip_lock.inputs_digest(dataclasses.replace(variant, python="3.12")) != digest


def test_a_new_variants_input_is_rendered_from_the_table():
    assert pip_lock.render_input(select("12.1", torch="2.5.1")) == (
        "# Input of env/pip/cu121-torch2.5.1.txt: `invoke lock --cuda 12.1 --torch 2.5.1` locks it.\n"
        "torch==2.5.1+cu121\ntorchvision==0.20.1+cu121\ntorchaudio==2.5.1+cu121\n-r common.in\n"
    )


def names(variants):
    return [variant.name for variant in variants]


def test_lock_without_cuda_takes_the_declared_platforms_reference_first():
    assert names(lock.targets(None, "pip", None, None)) == ["cu121-pip", "cpu-pip", "cu118-pip", "cpu-pip-arm64"]
    assert names(lock.targets("cpu", "pip", None, None, "arm64")) == ["cpu-pip-arm64"]
    with pytest.raises(UsageError, match="--arch arm64: give --cuda too"):
        lock.targets(None, "pip", None, None, "arm64")
    assert names(lock.dev_targets(None, "pip", None, None)) == ["cu121-pip-dev", "cpu-pip-dev", "cu118-pip-dev"]
    assert names(lock.targets(None, "conda", None, None)) == ["cpu-conda", "cu118-conda", "cu121-conda"]


def test_a_new_release_brings_its_pypi_build_along():
    assert names(lock.targets("11.8", "pip", "2.7.1", None)) == ["cu126-pip-torch2.7.1", "cu118-pip-torch2.7.1"]
    assert names(lock.targets(None, "pip", "2.9.1", None)) == [
        "cu128-pip-torch2.9.1",
        "cpu-pip-torch2.9.1",
        "cpu-pip-torch2.9.1-arm64",
    ]


def test_an_existing_reference_is_not_locked_again():
    assert names(lock.targets("11.8", "pip", None, None)) == ["cu118-pip"]


@pytest.mark.parametrize("cuda", ["12.4", "12.6", "12.8"])
def test_new_cuda_builds_need_only_data(cuda):
    # torch 2.7.1 / 2.9.1 list these builds in env/compat.toml: no code names them.
    torch = {"12.4": "2.5.1", "12.6": "2.7.1", "12.8": "2.9.1"}[cuda]
    [variant] = [v for v in lock.targets(cuda, "pip", torch, None) if v.cuda == cuda]
    assert variant.lock_file == f"env/pip/cu{cuda.replace('.', '')}-torch{torch}.txt"
    assert variant.index_url == "https://pypi.org/simple"  # each is PyPI's default build of its release
