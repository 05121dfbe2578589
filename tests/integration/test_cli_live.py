"""The command line against a real engine: the errors that need one, and the
GPU path (which needs a GPU host with the NVIDIA container toolkit)."""

import pytest

from envkit.catalog.selection import select
from envkit.checks import testrun
from envkit.checks.container import TEST_LABEL
from envkit.core import capabilities, engine, gpus
from envkit.core.settings import Settings
from tests.integration.session import CI_IMAGE_NAME, CU121_PROBE, run_cli
from tests.unit.test_cli import assert_clean_failure


def test_testing_an_image_that_was_never_built(kit_session, docker_client):
    result = run_cli(kit_session, "test", "--cuda", "11.8", env={"INVOKE_ENVKIT_IMAGE_NAME": "envkit-never-built"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "no image envkit-never-built:cu118-pip: build it first with `invoke build --cuda 11.8`."
    )
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.compat
def test_arch_all_on_each_store(kit_session, docker_client):
    """A local image index where the store holds one (the containerd store: test_arm64_image.py builds one);
    on the classic store, a refusal that names the per-architecture builds, before anything starts."""
    never = {"INVOKE_ENVKIT_IMAGE_NAME": "envkit-never-built"}
    if capabilities.store_of(docker_client.info()) == capabilities.CONTAINERD:
        result = run_cli(kit_session, "test", "--cuda", "cpu", "--arch", "all", env=never)
        assert_clean_failure(
            result,
            "no image envkit-never-built:cpu-pip-multiarch: make it with `invoke build --cuda cpu --arch all`.",
        )
        return
    for task in ("build", "test"):
        result = run_cli(kit_session, task, "--cuda", "cpu", "--arch", "all", env=never)
        assert_clean_failure(result, "--arch all makes one local image index, which only the containerd image store")
        assert "(`invoke build --cuda cpu --arch amd64`, `invoke build --cuda cpu --arch arm64`)" in result.stderr
    assert not docker_client.images.list("envkit-never-built")


@pytest.mark.compat
def test_missing_base_image_says_how_to_make_one(kit_session, docker_client, make_room):
    make_room(1, warm=True)  # the kit checks the room before BuildKit looks for the base
    result = run_cli(
        kit_session,
        "build",
        "--cuda",
        "12.1",
        "--base-image",
        "envkit-no-such-base:1",
        env={"INVOKE_ENVKIT_IMAGE_NAME": "envkit-never-built"},
    )
    assert result.returncode == 1
    command = "docker buildx" if engine.find_builder().is_buildx else "docker build"
    assert f"`{command}` failed with exit code 1 (its output is above)" in result.stderr
    assert "build one with `invoke base` and pass --base-image torch-env-base:bookworm" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not docker_client.images.list("envkit-never-built")  # nothing half-tagged


def gpu_host(docker_client):
    return bool(gpus.host_gpus()) and gpus.has_gpu_runtime(docker_client)


def test_gpus_all_without_a_gpu_runtime_is_a_clear_error(docker_client, cu121_build):
    if gpu_host(docker_client):
        pytest.skip("this host has GPUs and the NVIDIA container toolkit: --gpus all works here")

    def probe_containers():
        return {box.id for box in docker_client.containers.list(all=True, filters={"label": [TEST_LABEL, CU121_PROBE]})}

    before = probe_containers()
    with pytest.raises(testrun.UsageError, match=r"cannot give containers GPUs .* --gpus none"):
        testrun.run_tests(select("12.1"), Settings(image_name=CI_IMAGE_NAME), gpus="all")
    # The container Docker created before the GPU request failed is gone too.
    assert probe_containers() == before


def test_gpu_checks_pass_on_a_gpu_host(docker_client, cu121_build, kit_session):
    if not gpu_host(docker_client):
        pytest.skip(
            "no GPU here (no nvidia-smi GPU, or no NVIDIA container toolkit): the GPU checks "
            "(examples/smoke.py --gpu) run on a GPU host instead"
        )
    report = testrun.run_tests(
        select("12.1"), Settings(image_name=CI_IMAGE_NAME, reports_dir=str(kit_session.reports)), gpus="all"
    )
    gpu_checks = [c for c in report.checks if c.name.startswith("smoke:gpu") or c.name == "smoke:compile_gpu"]
    assert report.passed and len(gpu_checks) == 4, report.checks
    assert report.measured is not None and report.measured.cuda_available and report.measured.gpu_count >= 1
