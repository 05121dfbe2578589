"""The build plan and the exact build commands, without running Docker."""

import dataclasses
from pathlib import Path

import pytest

from envkit import ROOT
from envkit.catalog.selection import select
from envkit.catalog.variants import declared
from envkit.core.engine import Builder
from envkit.core.errors import UsageError
from envkit.core.provenance import Provenance
from envkit.core.settings import Settings
from envkit.images import plan
from envkit.images.build import build_command, image_tag

BUILTIN = Builder(("/usr/bin/docker", "build"), {"DOCKER_BUILDKIT": "1"})
BUILDX = Builder(("docker", "buildx", "build"))
BUILDX_013 = Builder(("docker", "buildx", "build"), buildkit=(0, 13))
ORIGIN = Provenance(revision="abc123", created="2026-11-27T00:00:00+00:00", source="https://example.org/kit.git")
IID = Path("/tmp/iid")


def command(variant, settings=None, builder=BUILTIN, **kwargs):
    settings = settings or Settings()
    return build_command(
        builder, plan.make(variant, settings, kwargs.pop("wheelhouse", None)), settings, ORIGIN, IID, **kwargs
    )


def test_cu121_pip_command_in_full():
    assert command(select("12.1")) == [
        "/usr/bin/docker", "build",
        "--file", f"{ROOT}/docker/pip.Dockerfile",
        "--tag", "torch-env:cu121-pip",
        "--iidfile", "/tmp/iid",
        "--progress", "plain",
        "--build-arg", "BASE_IMAGE=python:3.11-slim-bookworm@sha256:"
        "a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b",
        "--build-arg", "TORCH_VERSION=2.4.1",
        "--build-arg", "TORCHVISION_VERSION=0.19.1",
        "--build-arg", "TORCHAUDIO_VERSION=2.4.1",
        "--build-arg", "PYTHON_VERSION=3.11",
        "--build-arg", "CUDA_VERSION=12.1",
        "--build-arg", "VARIANT=cu121-pip",
        "--build-arg", "RECIPE=pip",
        "--build-arg", "PLATFORM=cu121",
        "--build-arg", "SOURCE=https://example.org/kit.git",
        "--build-arg", "ARCH=amd64",
        "--build-arg", "MACHINE=x86_64",
        "--build-arg", "REVISION=abc123",
        "--build-arg", "CREATED=2026-11-27T00:00:00+00:00",
        "--build-arg", "REQUIREMENTS=env/pip/cu121.txt",
        "--build-arg", "REQUIRE_HASHES=true",
        "--build-arg", "INSTALL_FROM=index",
        str(ROOT),
    ]  # fmt: skip


def args_of(argv):
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--build-arg")


@pytest.mark.parametrize("variant", declared(), ids=lambda v: v.name)
def test_each_variant_passes_its_own_data(variant):
    argv = command(variant, builder=BUILDX)
    assert argv[:4] == ["docker", "buildx", "build", "--load"]
    assert argv[argv.index("--file") + 1] == str(ROOT / variant.dockerfile)
    assert argv[argv.index("--tag") + 1] == f"torch-env:{variant.name}"
    args = args_of(argv)
    assert args["BASE_IMAGE"] == variant.base_image
    assert args["CUDA_VERSION"] == (variant.cuda or "")
    assert (args["ARCH"], args["MACHINE"]) == (variant.arch, variant.arch_data.machine)
    assert "--platform" not in argv  # the engine's own architecture
    if variant.recipe == "pip":
        assert args["REQUIREMENTS"] == variant.lock_file
        # Hash-locked where the recipe comes from PyPI: cu121, and the arm64 CPU build.
        assert args["REQUIRE_HASHES"] == ("true" if variant.index_url == "https://pypi.org/simple" else "false")
        assert "INDEX_URL" not in args  # the recipe's own indexes, named in the file
    else:
        assert args["ENVIRONMENT"] == variant.input_file  # no explicit lock yet
        assert args["CONDA_OVERRIDE_CUDA"] == (variant.cuda or "")


def test_buildkit_013_builds_with_the_commit_time_and_rewritten_timestamps():
    argv = command(select("12.1"), builder=BUILDX_013)
    assert argv[:5] == ["docker", "buildx", "build", "--output", "type=docker,rewrite-timestamp=true"]
    assert "--load" not in argv
    assert args_of(argv)["SOURCE_DATE_EPOCH"] == "1795737600"  # ORIGIN's 2026-11-27T00:00:00Z
    assert "SOURCE_DATE_EPOCH" not in args_of(command(select("12.1"), builder=BUILDX))


@pytest.mark.parametrize(
    ("cache", "where"),
    [
        ("gha", "type=gha,scope=cu121-pip"),
        ("ghcr.io/team/torch-env-cache", "type=registry,ref=ghcr.io/team/torch-env-cache:cu121-pip"),
    ],
    ids=["actions-cache", "registry"],
)
def test_build_cache_is_kept_per_variant(cache, where):
    argv = command(select("12.1"), Settings(build_cache=cache), builder=BUILDX)
    assert argv[argv.index("--cache-from") + 1] == where
    assert argv[argv.index("--cache-to") + 1] == f"{where},mode=max"
    assert "--cache-from" not in command(select("12.1"), builder=BUILDX)


def test_build_cache_needs_buildx():
    with pytest.raises(UsageError, match="needs docker buildx"):
        command(select("12.1"), Settings(build_cache="gha"), builder=BUILTIN)


@pytest.mark.parametrize("value", ["ghcr.io/team/cache:tag", "GHA", "ghcr.io/team/cache@sha256:" + "0" * 64])
def test_build_cache_setting_is_checked(value):
    with pytest.raises(UsageError, match=r"envkit\.build_cache"):
        Settings.from_config({"build_cache": value})


def test_conda_cpu_command():
    args = args_of(command(select("cpu", "conda")))
    assert args["ENVIRONMENT"] == "env/conda/cpu.yml"
    assert args["CUDA_VERSION"] == "" and args["CONDA_OVERRIDE_CUDA"] == ""
    assert args["BASE_IMAGE"].startswith("mambaorg/micromamba:1.5.8@sha256:")


def test_ca_cert_is_a_secret_never_a_build_arg(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    argv = command(select("12.1"), Settings.from_config({"ca_cert": str(bundle)}))
    assert argv[argv.index("--secret") + 1] == f"id=ca,src={bundle}"
    assert not any("ca.pem" in value for value in args_of(argv).values())


def test_no_secret_without_a_ca_cert():
    assert "--secret" not in command(select("12.1"))


def test_base_image_override_image_name_and_no_cache():
    settings = Settings(base_image="torch-env-base:bookworm", image_name="team/torch")
    argv = command(select("cpu"), settings, no_cache=True)
    assert args_of(argv)["BASE_IMAGE"] == "torch-env-base:bookworm"
    assert argv[argv.index("--tag") + 1] == "team/torch:cpu-pip" == image_tag(select("cpu"), settings)
    assert argv[-2:] == ["--no-cache", str(ROOT)]


def test_mirrors_and_index_overrides_reach_the_build():
    mirrored = args_of(
        command(
            select("11.8"),
            Settings.from_config(
                {
                    "mirrors": "https://download.pytorch.org/whl=https://torch.corp/whl "
                    "https://pypi.org/simple=https://pypi.corp/simple"
                }
            ),
        )
    )
    assert (mirrored["INDEX_URL"], mirrored["EXTRA_INDEX_URL"]) == (
        "https://torch.corp/whl/cu118",
        "https://pypi.corp/simple",
    )
    flagged = args_of(
        command(
            select("12.1"),
            Settings.from_config(
                {"index_url": "http://10.0.0.2/simple", "extra_index_url": "http://a/simple http://b/simple"}
            ),
        )
    )
    assert (flagged["INDEX_URL"], flagged["EXTRA_INDEX_URL"]) == (
        "http://10.0.0.2/simple",
        "http://a/simple http://b/simple",
    )


def test_bad_mirror_setting():
    with pytest.raises(
        UsageError, match=r"^envkit.mirrors 'https://pypi.org/simple': 'https://pypi.org/simple' is not UP"
    ):
        command(select("12.1"), Settings.from_config({"mirrors": "https://pypi.org/simple"}))


def test_a_wheelhouse_build_installs_from_it_with_no_network():
    argv = command(select("12.1"), wheelhouse=Path("/wheels"))
    assert args_of(argv)["INSTALL_FROM"] == "wheelhouse"
    assert argv[argv.index("--network") + 1] == "none"


def test_wheelhouse_is_for_pip_only():
    with pytest.raises(UsageError, match="only pip recipes install from a wheelhouse"):
        plan.make(select("12.1", "conda"), Settings(), Path("/wheels"))


def test_note_only_for_recipes_without_hashes():
    assert plan.make(select("12.1"), Settings()).note() == ""
    note = plan.make(select("11.8"), Settings()).note()
    assert note == (
        "note: env/pip/cu118.txt pins every package exactly but is not hash-locked; lock it with "
        "`invoke lock --cuda 11.8` where https://download.pytorch.org/whl/cu118 is reachable"
    )
    assert (
        "`invoke lock --cuda cpu --recipe conda` where the conda channels"
        in plan.make(select("cpu", "conda"), Settings()).note()
    )


def test_a_variant_without_a_lock_names_the_command_that_writes_it():
    with pytest.raises(UsageError) as refused:
        plan.make(select("12.1", torch="2.5.1"), Settings())
    assert str(refused.value) == (
        "cu121-pip-torch2.5.1 has no lock yet (env/pip/cu121-torch2.5.1.txt): write it "
        "with `invoke lock --cuda 12.1 --torch 2.5.1`."
    )


def test_a_python_without_a_pinned_base_needs_base_image():
    variant = dataclasses.replace(select("12.1"), base_image="")
    with pytest.raises(
        UsageError, match=r"pins no pip base image for Python 3\.11: add one there, or pass --base-image"
    ):
        plan.make(variant, Settings())
    assert plan.make(variant, Settings(base_image="torch-env-base:bookworm")).base_image == "torch-env-base:bookworm"


FAILED_BUILD = """#4 [system 1/2] FROM docker.io/library/torch-env-base:bookworm
#4 CACHED

#11 [env-index 1/1] RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache     --mount=type=secret,id=ca ...
#11 0.512 Collecting uv==0.9.5
#11 3.101   Could not fetch URL https://pypi.org/simple/uv/: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed
#11 3.102 ERROR: No matching distribution found for uv==0.9.5
#11 ERROR: executor failed running [/bin/bash -o pipefail -c ...]: exit code: 1
------
 > [env-index 1/1] RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache ...:
------
executor failed running [/bin/bash -o pipefail -c ...]: exit code: 1"""


def test_a_failed_build_names_its_step_its_last_lines_and_the_fix():
    from envkit.core.errors import CommandFailed
    from envkit.images.build import _explained

    failure = CommandFailed(["/usr/bin/docker", "build"], 1, FAILED_BUILD, streamed=True)
    build_plan = plan.make(select("12.1"), Settings())
    message = str(_explained(failure, build_plan, Settings())).splitlines()
    assert message[0] == "`docker build` failed with exit code 1 (its output is above)"
    assert message[1].startswith("failed step: [env-index 1/1] RUN --mount=type=cache")
    assert message[2:5] == [
        "  Collecting uv==0.9.5",
        "    Could not fetch URL https://pypi.org/simple/uv/: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
        "verify failed",
        "  ERROR: No matching distribution found for uv==0.9.5",
    ]
    assert message[5] == "  executor failed running [/bin/bash -o pipefail -c ...]: exit code: 1"
    assert message[6].startswith("A TLS certificate was not trusted inside the build") and "--ca-cert" in message[6]


def test_another_architecture_is_built_for_its_platform():
    """An engine of another architecture runs the build's steps under QEMU: BuildKit is told the platform."""
    arm64 = select("cpu", arch="arm64")
    argv = command(arm64, emulated=True)
    assert argv[argv.index("--platform") + 1] == "linux/arm64"
    assert argv[argv.index("--tag") + 1] == "torch-env:cpu-pip-arm64"
    args = args_of(argv)
    assert (args["REQUIREMENTS"], args["ARCH"], args["MACHINE"]) == ("env/pip/cpu-arm64.txt", "arm64", "aarch64")
