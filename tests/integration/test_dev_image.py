"""The dev image and the two ways into it that are not a shell, against the
real engine: the session's tested cu121 image plus its dev layer; `invoke
lab` driven as JupyterLab in a browser drives it (REST and the kernel's
websocket, messages built by jupyter_client); the devcontainer started and
entered by the real @devcontainers/cli. The last two as a host user the
image has never heard of."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import docker

from envkit import ROOT
from envkit.core import engine
from envkit.workspace.devcontainer import CACHE_VOLUME
from envkit.workspace.lab import status
from envkit.workspace.session import RUN_LABEL
from tests.integration.conftest import STRANGER_UID
from tests.integration.session import CI_IMAGE_NAME, run_cli
from tests.jupyter_remote import RemoteKernel

DEV_TAG = f"{CI_IMAGE_NAME}:cu121-pip-dev"
DEVCONTAINER_CLI = ROOT / ".ci" / "node_modules" / ".bin" / "devcontainer"
URL_LINE = re.compile(r"JupyterLab: (http://127\.0\.0\.1:(\d+))/lab\?token=([0-9a-f]{48})")


def _row(report, name):
    return next(row for row in report.checks if row.name == name)


def test_the_dev_image_is_the_tested_runtime_image_plus_its_layer(
    cu121_dev_report, cu121_dev_build, cu121_report, cu121_build, docker_client
):
    assert cu121_dev_report.passed, [row for row in cu121_dev_report.checks if not row.passed]
    names = [row.name for row in cu121_dev_report.checks]
    assert names == [row.name for row in cu121_report.checks] + ["jupyterlab", "notebook"]
    assert re.fullmatch(
        r"7 cells on the python3 kernel: learned y = 2\.0\d\dx \+ 1\.0\d\d .*",
        _row(cu121_dev_report, "notebook").detail,
    )
    assert _row(cu121_dev_report, "jupyterlab").detail.startswith("JupyterLab 4.")
    # Its tags are the runtime image's kinds, each ending in -dev.
    runtime_tags, dev_tags = cu121_report.tags, cu121_dev_report.tags
    assert dev_tags["moving"] == runtime_tags["moving"] + "-dev"
    assert dev_tags["versioned"] == runtime_tags["versioned"] + "-dev"
    assert dev_tags["immutable"].endswith(cu121_dev_report.image_id.split(":")[1][:12] + "-dev")
    # Built FROM exactly the tested runtime image: its layers first, its every package unchanged.
    dev = docker_client.images.get(DEV_TAG)
    runtime = docker_client.images.get(cu121_build.image_id)
    assert dev.id == cu121_dev_build.image_id == cu121_dev_report.image_id
    below = runtime.attrs["RootFS"]["Layers"]
    assert dev.attrs["RootFS"]["Layers"][: len(below)] == below
    assert dev.labels["io.envkit.runtime-image"] == runtime.id == cu121_report.image_id
    assert dev.labels["io.envkit.variant"] == "cu121-pip-dev"
    runtime_packages, dev_packages = set(cu121_report.facts.packages), set(cu121_dev_report.facts.packages)
    assert runtime_packages < dev_packages
    assert {"jupyterlab", "ipykernel", "ipywidgets"} <= {line.split("==")[0].lower() for line in dev_packages}
    dev_size = engine.unpacked_size(docker_client, dev)
    grew = (dev_size - engine.unpacked_size(docker_client, runtime)) / 1e6
    print(f"dev image {dev_size / 1e9:.2f} GB = runtime + {grew:.0f} MB; built in {cu121_dev_build.seconds} s")


def test_a_dev_build_needs_a_tested_runtime_image_and_a_pip_variant(
    kit_session, cu121_dev_build, tmp_path, docker_client
):
    before = docker_client.images.get(DEV_TAG).id
    cases = {
        (("build", "--cuda", "12.1", "--dev"), ("INVOKE_ENVKIT_REPORTS_DIR", str(tmp_path))): (
            "was never tested: the dev image is built only on a tested runtime image; "
            "run `invoke test --cuda 12.1` first"
        ),
        (("build", "--cuda", "12.1", "--recipe", "conda", "--dev"), ()): "dev images are built on pip variants",
        (("build", "--cuda", "12.1", "--dev", "--base-image", "debian:12"), ()): "leave out --base-image",
        (("test", "--dev", "--image", DEV_TAG), ()): "leave out --cuda, --recipe, --dev",
    }
    for (args, env), message in cases.items():
        result = run_cli(kit_session, *args, env=dict([env]) if env else None)
        assert result.returncode != 0, (args, result.stdout)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    assert docker_client.images.get(DEV_TAG).id == before


def _lab_containers(docker_client):
    return docker_client.containers.list(all=True, filters={"label": RUN_LABEL})


def test_lab_serves_the_dev_image_as_the_caller_and_ctrl_c_removes_it(stranger, cu121_dev_build, docker_client):
    with tempfile.TemporaryFile("w+") as log:  # Jupyter's own log: too much for a pipe nobody reads
        _serve_and_interrupt(log, stranger, docker_client)
    assert not _lab_containers(docker_client)


def _serve_and_interrupt(log, stranger, docker_client):
    (stranger.folder / "data.txt").write_text("from the host\n")
    started = time.monotonic()
    process = subprocess.Popen(
        stranger.invoke_command("lab", "--cuda", "12.1", "--workdir", str(stranger.folder)),
        cwd=stranger.folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job: Ctrl-C reaches all of it
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        ready = time.monotonic() - started
        match = URL_LINE.fullmatch(line.strip())
        log.seek(0)
        assert match, f"{line!r}\n{log.read()[-3000:]}"
        url, port, token = match[1], match[2], match[3]
        print(f"invoke lab printed its URL after {ready:.1f} s")
        assert status(url, token) == 200
        assert status(url, None) == 403 and status(url, "0" * 48) == 403
        [container] = _lab_containers(docker_client)
        assert container.attrs["NetworkSettings"]["Ports"]["8888/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": port}]
        assert container.image.id == docker_client.images.get(DEV_TAG).id
        with RemoteKernel(url, token) as kernel:
            state, printed = kernel.run(
                "import os, torch\n"
                "print(torch.__version__, os.getuid(), os.getcwd())\n"
                "open('from-the-kernel.txt', 'w').write(open('data.txt').read())"
            )
            assert (state, printed.split()) == ("ok", ["2.4.1+cu121", str(STRANGER_UID), "/workspace"]), printed
            failed, said = kernel.run("1 / 0")
            assert failed == "error" and "ZeroDivisionError" in said
        made = stranger.folder / "from-the-kernel.txt"
        assert made.read_text() == "from the host\n" and made.stat().st_uid == STRANGER_UID
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C at the terminal sends
        process.communicate(timeout=60)
    log.seek(0)
    said = log.read()
    assert process.returncode == 130, said[-2000:]
    assert "interrupted (SIGINT): stopped, and cleaned up" in said and "Traceback" not in said


def test_lab_refuses_bad_requests_and_starts_nothing(kit_session, cu121_dev_build, cu121_build, docker_client):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = {
            ("--cuda", "12.1", "--port", str(port)): f"port {port} is in use",
            ("--cuda", "12.1", "--port", "eighty"): "give `auto` (a free port) or a port number",
            ("--cuda", "12.1", "--port", "70000"): "give `auto` (a free port) or a port number",
            ("--image", f"{CI_IMAGE_NAME}:cu121-pip"): "is not a dev image",
            ("--cuda", "12.1", "--recipe", "conda"): "dev images are built on pip variants",
            ("--cuda", "12.1", "--workdir", "/nonexistent/folder"): "not a folder",
        }
        for flags, message in cases.items():
            result = run_cli(kit_session, "lab", *flags)
            assert result.returncode != 0, (flags, result.stdout)
            assert message in result.stderr, (flags, result.stderr)
            assert "Traceback" not in result.stderr
    assert not _lab_containers(docker_client)


def _devcontainers(docker_client, folder: Path):
    return docker_client.containers.list(all=True, filters={"label": f"devcontainer.local_folder={folder}"})


def test_the_devcontainer_cli_runs_the_dev_image_as_the_caller(stranger, cu121_dev_build, docker_client):
    assert DEVCONTAINER_CLI.exists(), "the devcontainer CLI is missing: run .ci/setup (npm ci --prefix .ci)"
    shutil.copytree(ROOT / "examples", stranger.folder / "examples", dirs_exist_ok=True)
    subprocess.run(["chown", "-R", f"{STRANGER_UID}:{STRANGER_UID}", str(stranger.folder)], check=True)
    wrote = stranger.invoke("devcontainer", "--workdir", str(stranger.folder))
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    config = stranger.folder / ".devcontainer" / "cu121-pip" / "devcontainer.json"
    # The CLI builds the uid-changing layer: give it the client the kit builds with (buildx where there is one).
    client = engine.find_builder().prefix[0]
    where = ["--workspace-folder", str(stranger.folder), "--config", str(config), "--docker-path", client]
    volume_existed = any(v.name == CACHE_VOLUME for v in docker_client.volumes.list())
    try:
        up = stranger.run(stranger.command(str(DEVCONTAINER_CLI), "up", *where), timeout=900)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        outcome = json.loads(up.stdout.strip().splitlines()[-1])
        assert (outcome["outcome"], outcome["remoteUser"], outcome["remoteWorkspaceFolder"]) == (
            "success",
            "envkit",
            "/workspace",
        )
        # The CLI's own image (the uid changed to the caller's) is the dev image plus one layer.
        started = docker_client.containers.get(outcome["containerId"])
        dev_layers = docker_client.images.get(DEV_TAG).attrs["RootFS"]["Layers"]
        assert started.image.attrs["RootFS"]["Layers"][: len(dev_layers)] == dev_layers
        script = (
            "python examples/first_program.py && id -u && touch made-in-the-devcontainer "
            '&& mkdir -p "$HF_HOME/hub" && touch "$HF_HOME/hub/probe" && echo "cache-owner=$(stat -c %u "$HF_HOME")" '
            "&& python -c 'import jupyterlab, torch; print(\"jupyterlab\", jupyterlab.__version__)'"
        )
        ran = stranger.run(stranger.command(str(DEVCONTAINER_CLI), "exec", *where, "bash", "-c", script), timeout=600)
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        lines = ran.stdout.splitlines()
        assert any(line.startswith("learned y = ") for line in lines) and "ok: loss fell" in ran.stdout
        assert str(STRANGER_UID) in lines and f"cache-owner={STRANGER_UID}" in lines
        made = stranger.folder / "made-in-the-devcontainer"
        assert (made.stat().st_uid, made.stat().st_gid) == (STRANGER_UID, STRANGER_UID)
    finally:
        for container in _devcontainers(docker_client, stranger.folder):
            image = container.image
            container.remove(force=True)
            if any(tag.startswith("vsc-") for tag in image.tags):  # the CLI's uid image, made for this folder
                docker_client.images.remove(image.id, force=True)
        if not volume_existed:
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.volumes.get(CACHE_VOLUME).remove(force=True)
    assert not _devcontainers(docker_client, stranger.folder)
