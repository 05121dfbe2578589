"""Each tagger on its own, and the tags they make: always from the
measurement, never from what a build was asked for."""

import dataclasses

import pytest

from envkit.checks import tags
from envkit.core.reports import TestReport
from envkit.core.validation import validate
from tests.helpers.reports import report_data

CU121 = tags.Measurement(
    torch="2.4.1+cu121",
    cuda="12.1",
    cudnn="9.1.0",
    python="3.11.2",
    recipe="pip",
    built="2026-11-27T15:26:00.375262232Z",
    revision="0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
    image_id="sha256:1afbe96d5f351c15511ead8fccbb606e17b6e7c7aa01a9e8c0da9412c30dd7b7",
    machine="x86_64",
)
CPU_CONDA = dataclasses.replace(CU121, torch="2.4.1", cuda=None, cudnn=None, python="3.11.10", recipe="conda")


@pytest.mark.parametrize(
    ("tagger", "measurement", "fragment"),
    [
        (tags.torch_release, CU121, "2.4.1"),
        (tags.torch_release, CPU_CONDA, "2.4.1"),
        (tags.platform, CU121, "cu121"),
        (tags.platform, dataclasses.replace(CU121, cuda="11.8"), "cu118"),
        (tags.platform, dataclasses.replace(CU121, cuda="12.4.1"), "cu124"),
        (tags.platform, CPU_CONDA, "cpu"),
        (tags.python_minor, CU121, "py3.11"),
        (tags.python_patch, CPU_CONDA, "py3.11.10"),
        (tags.cudnn, CU121, "cudnn9.1.0"),
        (tags.cudnn, CPU_CONDA, ""),
        (tags.recipe, CPU_CONDA, "conda"),
        (tags.build_date, CU121, "20261127"),
        (tags.revision, CU121, "0a1b2c3"),
        (tags.revision, dataclasses.replace(CU121, revision="0a1b2c3d4e5f-dirty"), "0a1b2c3-dirty"),
        (tags.revision, dataclasses.replace(CU121, revision="unknown"), "norev"),
        (tags.image, CU121, "1afbe96d5f35"),
        (tags.arch, CU121, "amd64"),
        (tags.arch, dataclasses.replace(CPU_CONDA, machine="aarch64"), "arm64"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_tagger(tagger, measurement, fragment):
    assert tagger(measurement) == fragment


def test_cu121_tags():
    assert tags.compute(CU121) == {
        "immutable": "2.4.1-cu121-cudnn9.1.0-py3.11.2-pip-amd64-20261127-0a1b2c3-1afbe96d5f35",
        "versioned": "2.4.1-cu121-py3.11-pip",
        "moving": "cu121-pip",
    }


def test_cpu_conda_tags_have_no_cudnn_fragment():
    assert tags.compute(CPU_CONDA) == {
        "immutable": "2.4.1-cpu-py3.11.10-conda-amd64-20261127-0a1b2c3-1afbe96d5f35",
        "versioned": "2.4.1-cpu-py3.11-conda",
        "moving": "cpu-conda",
    }


def test_the_architectures_share_all_tags_but_the_immutable_one():
    """An arm64 image of the same release: its own immutable tag, and the
    versioned and moving tags the multi-arch index of both goes out under."""
    amd64 = dataclasses.replace(CU121, torch="2.4.1+cpu", cuda=None, cudnn=None)
    arm64 = dataclasses.replace(amd64, torch="2.4.1", machine="aarch64", image_id="sha256:" + "b" * 64)
    assert tags.compute(arm64)["immutable"] == "2.4.1-cpu-py3.11.2-pip-arm64-20261127-0a1b2c3-bbbbbbbbbbbb"
    assert {k: v for k, v in tags.compute(arm64).items() if k != "immutable"} == {
        k: v for k, v in tags.compute(amd64).items() if k != "immutable"
    }


def test_an_unknown_architecture_is_never_tagged():
    with pytest.raises(ValueError, match=r"no architecture of env/variants.toml \[arches\] runs as 'riscv64'"):
        tags.compute(dataclasses.replace(CU121, machine="riscv64"))


def test_a_torch_that_is_not_the_pin_is_tagged_as_what_it_is():
    # pytorch#91097: a 1.13.1 tag held torch 1.13.0. The tag follows the measurement.
    assert tags.compute(dataclasses.replace(CU121, torch="2.4.0+cu121"))["versioned"] == "2.4.0-cu121-py3.11-pip"


def test_every_tag_fits_docker_rules_even_with_long_versions():
    longest = dataclasses.replace(
        CU121,
        torch="2.15.0.post10+cu132",
        cuda="13.2",
        cudnn="9.26.0.51",
        python="3.15.0rc1",
        revision="f" * 40 + "-dirty",
    )
    for tag in tags.compute(longest).values():
        assert tags.TAG_SYNTAX.fullmatch(tag) and len(tag) <= 128, tag


def test_an_invalid_fragment_is_refused():
    with pytest.raises(ValueError, match="not a valid Docker tag"):
        tags.compute(dataclasses.replace(CU121, recipe="pip conda"))


def test_measurement_from_a_report():
    data = report_data(
        image_id=CU121.image_id, image_created=CU121.built, facts={"recipe": "pip", "revision": CU121.revision}
    )
    assert tags.Measurement.from_report(validate(TestReport, data, "test", "")) == CU121
