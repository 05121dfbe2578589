"""Flags to variants: every valid combination is found, every invalid one is
an error that says what is valid instead."""

import dataclasses

import pytest

from envkit.catalog.selection import check_conda, select
from envkit.catalog.variants import compat
from envkit.core.errors import UsageError


@pytest.mark.parametrize(
    ("cuda", "recipe", "name"),
    [
        ("cpu", "pip", "cpu-pip"),
        ("11.8", "pip", "cu118-pip"),
        ("12.1", "pip", "cu121-pip"),
        ("cpu", "conda", "cpu-conda"),
        ("11.8", "conda", "cu118-conda"),
        ("12.1", "conda", "cu121-conda"),
    ],
)
def test_each_declared_variant_is_selected(cuda, recipe, name):
    assert select(cuda, recipe).name == name


def test_any_valid_combination_is_a_variant():
    variant = select("12.1", "pip", torch="2.5.1")
    assert (variant.name, variant.torchvision, variant.torchaudio) == ("cu121-pip-torch2.5.1", "0.20.1", "2.5.1")
    assert not variant.default


def test_explicit_default_pins_select_the_same_variant():
    assert select("12.1", "pip", torch="2.4.1", python="3.11") == select("12.1")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"cuda": "11.7"},
            "--cuda 11.7: torch 2.4.1 has no cu117 build; its builds are: cpu, 11.8, 12.1, 12.4.",
            id="cuda-11.7",
        ),
        pytest.param({"cuda": "12"}, "--cuda '12': not a CUDA version; use cpu or MAJOR.MINOR", id="cuda-12"),
        pytest.param({"cuda": "gpu"}, "--cuda 'gpu': not a CUDA version", id="cuda-gpu"),
        pytest.param({"cuda": ""}, "--cuda '': an empty value", id="cuda-empty"),
        pytest.param({"cuda": None}, "--cuda is required: one of cpu, 11.8, 12.1, 12.4", id="cuda-missing"),
        pytest.param(
            {"cuda": "12.1", "recipe": "poetry"},
            "--recipe 'poetry': unknown recipe; choose one of pip, conda.",
            id="recipe",
        ),
        pytest.param(
            {"cuda": "12.1", "torch": "2.4.9"}, "--torch 2.4.9: not in the compatibility table", id="torch-unknown"
        ),
        pytest.param(
            {"cuda": "12.1", "torch": "2.6.0"},
            "torch 2.6.0 has no cu121 build; its builds are: cpu, 11.8, 12.4, 12.6.",
            id="cu121-after-2.5",
        ),
        pytest.param({"cuda": "11.8", "torch": "2.8.0"}, "torch 2.8.0 has no cu118 build", id="cu118-after-2.7"),
        pytest.param(
            {"cuda": "12.1", "python": "3.13"},
            "--python 3.13: torch 2.4.1 has no wheels for Python 3.13; choose one of 3.8, 3.9, 3.10, 3.11, 3.12.",
            id="python",
        ),
        pytest.param(
            {"cuda": "12.6", "torch": "2.7.1", "recipe": "conda"},
            "torch 2.7.1 is not on the pytorch conda channel (its last release there is 2.5.1); use --recipe pip.",
            id="conda-after-2.5",
        ),
        pytest.param({"cuda": "11.7", "torch": "2.1.0"}, "torch 2.1.0 has no cu117 build", id="cu117-2.1"),
        pytest.param(
            {"cuda": "13.2", "python": "3.10"},
            "--python 3.10: torch 2.15.0 has no wheels for Python 3.10; choose one of 3.11,",
            id="current-line-python",
        ),
    ],
)
def test_invalid_flags_name_what_is_valid(kwargs, expected):
    with pytest.raises(UsageError) as raised:
        select(**kwargs)
    assert expected in str(raised.value)
    assert raised.value.code == 2


def test_conda_refuses_a_cuda_build_the_channel_lacks():
    # No row of the table has a pip-only CUDA build yet; a made-up one proves the rule.
    release = dataclasses.replace(compat()["2.0.0"], platforms=("cpu", "cu117", "cu118", "cu121"))
    with pytest.raises(UsageError, match=r"pytorch-cuda 11\.7, 11\.8 and cpuonly only"):
        check_conda(release, "cu121")
