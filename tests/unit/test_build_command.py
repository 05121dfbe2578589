"""The exact build commands, without running Docker."""

from pathlib import Path

import pytest

from envkit.build import build_command, image_tag, lock_note
from envkit.engine import Builder
from envkit.errors import UsageError
from envkit.provenance import Provenance
from envkit.selection import select
from envkit.settings import Settings
from envkit.variants import ROOT, declared

BUILTIN = Builder(("/usr/bin/docker", "build"), {"DOCKER_BUILDKIT": "1"})
BUILDX = Builder(("docker", "buildx", "build", "--load"))
ORIGIN = Provenance(revision="abc123", created="2026-11-27T00:00:00+00:00", source="https://example.org/kit.git")
IID = Path("/tmp/iid")


def test_cu121_pip_command_in_full():
    argv = build_command(BUILTIN, select("12.1"), Settings(), ORIGIN, IID)
    assert argv == [
        "/usr/bin/docker",
        "build",
        "--file",
        f"{ROOT}/docker/pip.Dockerfile",
        "--tag",
        "torch-env:cu121-pip",
        "--iidfile",
        "/tmp/iid",
        "--progress",
        "plain",
        "--build-arg",
        "BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b",
        "--build-arg",
        "TORCH_VERSION=2.4.1",
        "--build-arg",
        "TORCHVISION_VERSION=0.19.1",
        "--build-arg",
        "TORCHAUDIO_VERSION=2.4.1",
        "--build-arg",
        "PYTHON_VERSION=3.11",
        "--build-arg",
        "CUDA_VERSION=12.1",
        "--build-arg",
        "VARIANT=cu121-pip",
        "--build-arg",
        "RECIPE=pip",
        "--build-arg",
        "PLATFORM=cu121",
        "--build-arg",
        "SOURCE=https://example.org/kit.git",
        "--build-arg",
        "REVISION=abc123",
        "--build-arg",
        "CREATED=2026-11-27T00:00:00+00:00",
        "--build-arg",
        "REQUIREMENTS=env/pip/cu121.txt",
        "--build-arg",
        "REQUIRE_HASHES=true",
        str(ROOT),
    ]


def args_of(argv):
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--build-arg")


@pytest.mark.parametrize("variant", declared(), ids=lambda v: v.name)
def test_each_variant_passes_its_own_data(variant):
    argv = build_command(BUILDX, variant, Settings(), ORIGIN, IID)
    assert argv[:4] == ["docker", "buildx", "build", "--load"]
    assert argv[argv.index("--file") + 1] == str(ROOT / variant.dockerfile)
    assert argv[argv.index("--tag") + 1] == f"torch-env:{variant.name}"
    args = args_of(argv)
    assert args["BASE_IMAGE"] == variant.base_image
    assert args["CUDA_VERSION"] == (variant.cuda or "")
    if variant.recipe == "pip":
        assert args["REQUIREMENTS"] == variant.file
        assert args["REQUIRE_HASHES"] == ("true" if variant.hash_locked else "false")
    else:
        assert args["ENVIRONMENT"] == variant.file
        assert args["CONDA_OVERRIDE_CUDA"] == (variant.cuda or "")


def test_conda_cpu_command():
    args = args_of(build_command(BUILTIN, select("cpu", "conda"), Settings(), ORIGIN, IID))
    assert args["ENVIRONMENT"] == "env/conda/cpu.yml"
    assert args["CUDA_VERSION"] == "" and args["CONDA_OVERRIDE_CUDA"] == ""
    assert args["BASE_IMAGE"].startswith("mambaorg/micromamba:1.5.8@sha256:")


def test_ca_cert_is_a_secret_never_a_build_arg(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    argv = build_command(BUILTIN, select("12.1"), Settings(ca_cert=str(bundle)), ORIGIN, IID)
    assert argv[argv.index("--secret") + 1] == f"id=ca,src={bundle}"
    assert not any("ca.pem" in value for value in args_of(argv).values())


def test_no_secret_without_a_ca_cert():
    assert "--secret" not in build_command(BUILTIN, select("12.1"), Settings(), ORIGIN, IID)


def test_missing_ca_cert_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        build_command(BUILTIN, select("12.1"), Settings(ca_cert=str(tmp_path / "nope.pem")), ORIGIN, IID)


def test_base_image_override_image_name_and_no_cache():
    settings = Settings(base_image="torch-env-base:bookworm", image_name="team/torch")
    argv = build_command(BUILTIN, select("cpu"), settings, ORIGIN, IID, no_cache=True)
    assert args_of(argv)["BASE_IMAGE"] == "torch-env-base:bookworm"
    assert argv[argv.index("--tag") + 1] == "team/torch:cpu-pip" == image_tag(select("cpu"), settings)
    assert argv[-2:] == ["--no-cache", str(ROOT)]


def test_lock_note_only_for_recipes_without_hashes():
    assert lock_note(select("12.1")) == ""
    note = lock_note(select("11.8"))
    assert note.startswith("note: env/pip/cu118.txt pins every package exactly but is not hash-locked")
    assert "--index-url https://download.pytorch.org/whl/cu118" in note
    assert "conda-lock -f env/conda/cpu.yml -p linux-64" in lock_note(select("cpu", "conda"))
    assert "\n" not in note
