"""Locks in practice: a tampered hash stops the build, drift fails `invoke
test`, two builds from scratch hold the same environment byte for byte, and
a wheelhouse builds the image with the network off."""

import json
import subprocess

import pytest

from envkit.catalog.selection import select
from envkit.checks import testrun
from envkit.core import capabilities
from envkit.core.errors import CommandFailed
from envkit.core.settings import Settings
from envkit.images import build
from envkit.images.context import copy_context
from envkit.images.repro import _LISTING, compare_listings
from tests.integration.session import CI_IMAGE_NAME, run_cli

# The cu121 wheelhouse: about 3 GB of wheels and debs in the test's folder, on the disk the build writes to.
WHEELHOUSE_GB = 4
FILELOCK_HASH = "79e43df8e9fe509cd83a3899a7c186c8077cbbe4d200a1ed3705c2f3bb6bc487"


def test_a_tampered_hash_fails_the_build_with_uvs_error(
    kit_session, base_image, cu121_build, tmp_path, docker_client, make_room
):
    make_room(1, warm=True)
    context = copy_context(tmp_path / "context")
    lock = context / "env" / "pip" / "cu121.txt"
    assert FILELOCK_HASH in lock.read_text()
    lock.write_text(lock.read_text().replace(FILELOCK_HASH, "0" * 64))
    settings = Settings.from_config(
        {
            "image_name": "torch-env-ci-tampered",
            "base_image": base_image,
            "reports_dir": str(tmp_path),
            "ca_cert": kit_session.env.get("INVOKE_ENVKIT_CA_CERT", ""),
        }
    )
    with pytest.raises(CommandFailed) as failed:
        build.build_image(select("12.1"), settings, context=context)
    assert "hash mismatch for `filelock==4.3.1`" in failed.value.tail.lower()
    assert "A package does not match its hash in env/pip/cu121.txt" in str(failed.value)
    assert not docker_client.images.list("torch-env-ci-tampered")  # nothing tagged


def test_drift_from_the_lock_fails_invoke_test_and_names_the_package(docker_client, cu121_build, tmp_path):
    rogue = "/opt/venv/lib/python3.11/site-packages/rogue_pkg-1.0.dist-info"
    container = docker_client.containers.run(
        cu121_build.image_id,
        [
            "sh",
            "-c",
            f"mkdir {rogue} && printf 'Metadata-Version: 2.1\\nName: rogue-pkg\\nVersion: 1.0\\n' > {rogue}/METADATA",
        ],
        user="0",
        detach=True,
        network_mode="none",
    )
    try:
        assert container.wait(timeout=60)["StatusCode"] == 0
        container.commit("torch-env-ci-drift", "cu121-pip")
    finally:
        container.remove(force=True)
    try:
        report = testrun.run_tests(
            select("12.1"), Settings(image_name="torch-env-ci-drift", reports_dir=str(tmp_path)), gpus="none"
        )
    finally:
        docker_client.images.remove("torch-env-ci-drift:cu121-pip", noprune=False)
    [drift] = [c for c in report.checks if c.name == "matches_recipe"]
    assert not drift.passed and drift.detail == "rogue-pkg 1.0 not in recipe"
    assert not report.passed and not report.tags


def test_the_whole_image_listing_sees_one_changed_time_and_nothing_of_the_container_s_own(base_image, docker_client):
    """What verify-repro lists where two digests differ: two containers of one image list the same file
    system (the mounts, /etc/hosts and the engine's marker are every container's own) but for what was
    changed in one of them."""

    def whole_listing(before: str) -> dict:
        script = f"{before}python3 -B -c '{_LISTING}' / --whole"
        output = docker_client.containers.run(base_image, ["sh", "-c", script], remove=True, network_mode="none")
        return json.loads(output)

    untouched, touched = whole_listing(""), whole_listing("touch -d @86400 /etc/issue && ")
    assert len(untouched) > 1000 and "etc/hosts" not in untouched and not any(p.startswith("proc/") for p in untouched)
    differences = compare_listings(untouched, touched)
    assert differences == [f"time differs: etc/issue ({untouched['etc/issue'][3]} / 86400000000000)"]


@pytest.mark.cold_builds
def test_two_builds_from_scratch_hold_identical_environments(
    kit_session, base_image, cu121_build, docker_client, make_room
):
    """Identical digests where the engine allows (BuildKit 0.13+: loaded with rewrite-timestamp on the classic
    store, through an OCI archive on the containerd store); identical environments everywhere."""
    make_room(2)
    builder = capabilities.builder_for(docker_client)
    result = run_cli(kit_session, "verify-repro", "--cuda", "12.1", "--base-image", base_image)
    summary = result.stdout.split("cu121-pip: two --no-cache builds")[-1]
    assert "identical (path, mode, sha256); package set identical" in summary, result.stdout[-3000:] + result.stderr
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    if builder.reproducible or builder.archive_reproducible:
        assert "image layer digests: identical" in summary and "image digests: identical (sha256:" in summary
    else:
        assert "image layer digests: differ" in summary
        assert "image digests differ, as expected of this builder:" in summary


@pytest.mark.cold_builds
def test_a_wheelhouse_builds_the_image_with_the_network_off(
    kit_session, base_image, cu121_build, tmp_path, docker_client, make_room
):
    make_room(1, extra_gb=WHEELHOUSE_GB)
    wheelhouse = tmp_path / "wheelhouse"
    theirs = tmp_path / "wheelhouse.partial" / "keep.txt"  # a user's folder where older kits staged theirs
    theirs.parent.mkdir()
    theirs.write_text("mine\n")
    filled = run_cli(kit_session, "wheelhouse", "--cuda", "12.1", "--base-image", base_image, "--dir", str(wheelhouse))
    assert filled.returncode == 0, filled.stderr
    assert len(list((wheelhouse / "wheels").glob("*.whl"))) == 29  # the lock's 28 and the installer
    assert list((wheelhouse / "debs").glob("g++_*.deb"))
    assert theirs.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wheelhouse", "wheelhouse.partial"]
    offline = {"INVOKE_ENVKIT_IMAGE_NAME": "torch-env-ci-offline"}
    built = run_cli(
        kit_session, "build", "--cuda", "12.1", "--base-image", base_image, "--wheelhouse", str(wheelhouse), env=offline
    )
    try:
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr
        for stage in ("system", "installer", "packages"):  # the wheelhouse's stages, never the index's
            assert f"[{stage}-wheelhouse " in built.stdout and f"[{stage}-index " not in built.stdout, stage
        assert "prefetch: " not in built.stdout  # nothing downloaded
        assert "env_layers install 6" in built.stdout
        tested = run_cli(kit_session, "test", "--cuda", "12.1", env=offline)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "PASSED" in tested.stdout
    finally:
        subprocess.run(["docker", "rmi", "torch-env-ci-offline:cu121-pip"], capture_output=True, check=False)


def test_a_wheelhouse_for_another_recipe_or_base_is_refused(kit_session, base_image, tmp_path):
    wheelhouse = tmp_path / "not-a-wheelhouse"
    wheelhouse.mkdir()
    result = run_cli(
        kit_session,
        "build",
        "--cuda",
        "12.1",
        "--base-image",
        base_image,
        "--wheelhouse",
        str(wheelhouse),
        env={"INVOKE_ENVKIT_IMAGE_NAME": "torch-env-ci-never"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"--wheelhouse {wheelhouse}: not a wheelhouse (no valid wheelhouse.json); make one "
        "with `invoke wheelhouse --cuda 12.1`."
    )
    assert CI_IMAGE_NAME  # the session's image is untouched: the check ran before docker
