"""SIGTERM and SIGINT sent to the tasks that drive the engine, at points in
the middle of their work: each exits 143 or 130 with one line, stops its
children, removes the containers it started, leaves no scratch file (TMPDIR
points at a folder of the test's, empty afterwards), moves no tag and writes
no report. (`invoke lock` is covered in tests/lock, `invoke publish` in
test_publish.py.)"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envkit import ROOT
from envkit.checks.container import TEST_LABEL
from envkit.core.engine import HELPER_LABEL
from tests.helpers.checkout import Watched
from tests.integration.session import CI_IMAGE_NAME, CU121_PROBE

EXIT_CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}


@pytest.fixture
def scratch(tmp_path):
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


def start(kit_session, scratch, *args, **env):
    return Watched(
        [sys.executable, "-m", "invoke", *args],
        ROOT,
        {
            **kit_session.env,
            "TMPDIR": str(scratch),
            "INVOKE_ENVKIT_REPORTS_DIR": str(scratch.parent / "reports"),
            **env,
        },
    )


def interrupt(watched, number):
    try:
        watched.process.send_signal(number)
        result = watched.finish(timeout=120)
    finally:
        watched.kill()
    output = result.stdout + result.stderr
    assert result.returncode == EXIT_CODES[number], output[-3000:]
    assert "stopped, and cleaned up what this task had started" in result.stderr, output[-3000:]
    assert "Traceback" not in output
    return result


def assert_nothing_left(scratch, docker_client, *patterns):
    assert sorted(p.name for p in scratch.iterdir()) == [], "scratch files left behind"
    assert not (scratch.parent / "reports" / "tests").exists(), "a report was written"
    containers = docker_client.containers.list(all=True, filters={"label": [TEST_LABEL, CU121_PROBE]})
    containers += docker_client.containers.list(all=True, filters={"label": HELPER_LABEL})
    assert containers == [], "containers left behind"
    for pattern in patterns:
        found = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
        assert found == "", f"still running: {found}"
    mounts = Path("/proc/mounts").read_text()
    assert str(scratch) not in mounts, "mounts left behind"


def probe_running(docker_client):
    return bool(docker_client.containers.list(filters={"label": [TEST_LABEL, CU121_PROBE]}))


@pytest.mark.parametrize(
    ("point", "number"),
    [("as-the-container-starts", signal.SIGINT), ("during-the-checks", signal.SIGTERM)],
)
def test_interrupted_test(kit_session, cu121_build, docker_client, scratch, point, number):
    watched = start(kit_session, scratch, "test", "--cuda", "12.1")
    watched.wait_for(lambda: probe_running(docker_client), timeout=120)
    if point == "during-the-checks":
        time.sleep(6)  # verify_install done, first_program or smoke under way
    interrupt(watched, number)
    assert_nothing_left(scratch, docker_client)


@pytest.mark.cold_builds
@pytest.mark.parametrize(
    ("marker", "number"),
    [("load build definition", signal.SIGINT), ("env_layers install", signal.SIGTERM)],
    ids=["at-the-start", "while-installing"],
)
def test_interrupted_build_keeps_the_previous_image(
    kit_session, cu121_build, base_image, docker_client, scratch, marker, number, make_room
):
    make_room(1)  # the build checks for a whole build's room before it starts
    name = "torch-env-ci-interrupted"
    docker_client.images.get(cu121_build.image_id).tag(name, "cu121-pip")
    try:
        watched = start(
            kit_session,
            scratch,
            "build",
            "--cuda",
            "12.1",
            "--base-image",
            base_image,
            "--no-cache",
            INVOKE_ENVKIT_IMAGE_NAME=name,
        )
        watched.wait_for(marker, timeout=300)
        time.sleep(2)
        interrupt(watched, number)
        assert docker_client.images.get(f"{name}:cu121-pip").id == cu121_build.image_id
        assert_nothing_left(scratch, docker_client, f"--tag {name}:")
        assert not (scratch.parent / "reports" / "builds").exists()
    finally:
        docker_client.images.remove(f"{name}:cu121-pip", noprune=True)


def helper_running(docker_client):
    return bool(docker_client.containers.list(filters={"label": HELPER_LABEL}))


@pytest.mark.parametrize(
    ("point", "number"),
    [("while-pip-downloads", signal.SIGTERM), ("while-the-debian-packages-download", signal.SIGINT)],
)
def test_interrupted_wheelhouse_leaves_no_folder(
    kit_session, base_image, docker_client, scratch, tmp_path, point, number
):
    target = tmp_path / "wheels-here"
    watched = start(
        kit_session, scratch, "wheelhouse", "--cuda", "12.1", "--base-image", base_image, "--dir", str(target)
    )
    if point == "while-pip-downloads":
        watched.wait_for(lambda: any(tmp_path.glob(".wheels-here.partial-*/wheels/*")), timeout=300)
    else:  # every wheel is there; the helper container fetches the .debs
        watched.wait_for(lambda: helper_running(docker_client), timeout=900)
    interrupt(watched, number)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".wheels-here", "wheels-here"))) == []
    assert_nothing_left(scratch, docker_client, f"pip download.*{tmp_path}")


@pytest.mark.cold_builds
@pytest.mark.parametrize("point", ["during-the-first-build", "after-the-first-build"])
def test_interrupted_verify_repro(kit_session, base_image, docker_client, scratch, point, make_room):
    make_room(2)  # verify-repro asks room for both builds before it starts either
    watched = start(kit_session, scratch, "verify-repro", "--cuda", "12.1", "--base-image", base_image)
    if point == "during-the-first-build":
        watched.wait_for("[system-index", timeout=300)
    else:  # the first image is tagged; the second build has begun
        watched.wait_for(lambda: bool(docker_client.images.list(f"{CI_IMAGE_NAME}-repro-a")), timeout=1200)
    interrupt(watched, signal.SIGTERM if point == "after-the-first-build" else signal.SIGINT)
    assert docker_client.images.list(f"{CI_IMAGE_NAME}-repro-a") == []
    assert docker_client.images.list(f"{CI_IMAGE_NAME}-repro-b") == []
    assert_nothing_left(scratch, docker_client, f"--tag {CI_IMAGE_NAME}-repro")


@pytest.mark.parametrize(
    ("marker", "number"),
    [("I: Retrieving", signal.SIGINT), ("I: Installing core packages", signal.SIGTERM)],
    ids=["first-stage", "second-stage-with-proc-mounted"],
)
def test_interrupted_base(kit_session, docker_client, scratch, marker, number):
    tag = "envkit-interrupted-base:{suite}"
    watched = start(kit_session, scratch, "base", "--rebuild", INVOKE_ENVKIT_BASE_TAG=tag)
    watched.wait_for(marker, timeout=600)
    interrupt(watched, number)
    assert docker_client.images.list("envkit-interrupted-base") == []
    assert_nothing_left(scratch, docker_client, f"debootstrap.*{scratch}")
