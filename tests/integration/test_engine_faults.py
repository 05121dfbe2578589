"""Faults of the engine and of concurrency, against the real engine: the
daemon going away in the middle of a build, too little disk, and tasks of
different variants running at once over one reports folder."""

import contextlib
import json
import os
import re
import shutil
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from envkit import ROOT
from tests.helpers.checkout import Watched, copy_repo, invoke_in
from tests.integration.session import CI_IMAGE_NAME, run_cli
from tests.unit.test_cli import assert_clean_failure

DOCKER_SOCKET = "/var/run/docker.sock"


class DaemonSocket:
    """A unix socket forwarding to the real daemon's: what the kit sees as
    "the daemon". `cut()` closes it and every connection through it, exactly
    as a daemon that stops does for its clients; the real daemon runs on."""

    def __init__(self, path):
        self.path = str(path)
        self.open = []
        self.listener = None

    def start(self):
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            daemon = socket.socket(socket.AF_UNIX)
            daemon.connect(DOCKER_SOCKET)
            self.open += [client, daemon]
            for source, sink in ((client, daemon), (daemon, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self):
        self.listener.close()
        for connection in self.open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()
        os.unlink(self.path)

    @property
    def host(self):
        return f"unix://{self.path}"


@pytest.mark.cold_builds
def test_the_daemon_going_away_mid_build(kit_session, cu121_build, base_image, docker_client, tmp_path, make_room):
    make_room(1)
    name = "torch-env-ci-daemon-gone"
    docker_client.images.get(cu121_build.image_id).tag(name, "cu121-pip")
    daemon = DaemonSocket(tmp_path / "docker.sock").start()
    reports = tmp_path / "reports"
    env = {**kit_session.env, "DOCKER_HOST": daemon.host, "INVOKE_ENVKIT_IMAGE_NAME": name}
    env["INVOKE_ENVKIT_REPORTS_DIR"] = str(reports)
    try:
        argv = [sys.executable, "-m", "invoke", "build", "--cuda", "12.1", "--base-image", base_image, "--no-cache"]
        watched = Watched(argv, ROOT, env)
        watched.wait_for("env_layers install", timeout=300)  # a layer of the environment going in
        time.sleep(3)
        daemon.cut()
        result = watched.finish(timeout=300)
        assert_clean_failure(result, "The Docker daemon stopped answering during the build", code=1)
        assert f"The previous image keeps its tag {name}:cu121-pip" in result.stderr
        assert docker_client.images.get(f"{name}:cu121-pip").id == cu121_build.image_id
        # The daemon is back: the same build runs again and succeeds. The cut build's steps took
        # some of the room the first make_room found, and the kit asks a whole build's room again.
        make_room(1, warm=True)
        back = DaemonSocket(tmp_path / "docker.sock").start()
        try:
            again = invoke_in(ROOT, "build", "--cuda", "12.1", "--base-image", base_image, env=env, timeout=1800)
        finally:
            back.cut()
        assert again.returncode == 0, again.stderr
        # (The same id as before on a clean checkout; a dirty one labels the build with its time.)
        record = json.loads((reports / "builds" / "cu121-pip.json").read_text())
        assert docker_client.images.get(f"{name}:cu121-pip").id == record["image_id"]
    finally:
        docker_client.images.remove(f"{name}:cu121-pip", noprune=True)


def test_too_little_disk_is_refused_before_the_build(kit_session, base_image, docker_client, tmp_path):
    repo = copy_repo(tmp_path / "kit")
    data = repo / "env" / "variants.toml"
    data.write_text(re.sub(r"(?m)^cuda = \d+$", "cuda = 100000", data.read_text()))  # on every store
    env = {**kit_session.env, "INVOKE_ENVKIT_IMAGE_NAME": "envkit-no-room"}
    result = invoke_in(repo, "build", "--cuda", "12.1", "--base-image", base_image, env=env)
    root = docker_client.info()["DockerRootDir"]
    free = shutil.disk_usage(root).free / 1e9
    assert_clean_failure(result, f"GB free under {root}; building cu121-pip needs about 100000 GB")
    assert f"only {free:.0f}" in result.stderr or f"only {free:.1f}" in result.stderr
    assert "`docker builder prune`" in result.stderr
    assert result.stdout == "" and docker_client.images.list("envkit-no-room") == []


@pytest.mark.cold_builds
def test_two_variants_built_and_tested_at_once(kit_session, cu121_report, cu121_build, base_image, tmp_path, make_room):
    """Two builds of different variants at once (torch 2.4.0, locked from
    PyPI in a copy of the kit, beside cu121-pip under an image name of its
    own), and `invoke test` of the session's image beside them, all over one
    reports folder: each record, report and manifest names its own variant's
    image, and none is corrupt."""
    import docker

    make_room(2)  # the session's steps may be gone from BuildKit's cache by now: both builds cold
    client = docker.from_env()
    reports = tmp_path / "reports"
    env = {**kit_session.env, "INVOKE_ENVKIT_REPORTS_DIR": str(reports)}
    repo = copy_repo(tmp_path / "kit")
    locked = invoke_in(repo, "lock", "--cuda", "12.1", "--torch", "2.4.0", env=env, timeout=600)
    assert locked.returncode == 0, locked.stderr
    beside = {**env, "INVOKE_ENVKIT_IMAGE_NAME": f"{CI_IMAGE_NAME}-beside"}
    with ThreadPoolExecutor(3) as pool:
        futures = {
            "other": pool.submit(
                invoke_in, repo, "build", "--cuda", "12.1", "--torch", "2.4.0", "--base-image", base_image,
                env=env, timeout=3600,
            ),
            "beside": pool.submit(invoke_in, ROOT, "build", "--cuda", "12.1", "--base-image", base_image, env=beside),
            "tested": pool.submit(run_cli, kit_session, "test", "--cuda", "12.1", env=env, timeout=3600),
        }  # fmt: skip
        results = {name: future.result() for name, future in futures.items()}
    try:
        for name, result in results.items():
            assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
        records = {path.stem: json.loads(path.read_text()) for path in (reports / "builds").glob("*.json")}
        assert set(records) == {"cu121-pip", "cu121-pip-torch2.4.0"}
        for record in records.values():
            assert client.images.get(record["tag"]).id == record["image_id"], record
        assert records["cu121-pip"]["tag"] == f"{CI_IMAGE_NAME}-beside:cu121-pip"
        assert records["cu121-pip-torch2.4.0"]["tag"] == f"{CI_IMAGE_NAME}:cu121-pip-torch2.4.0"
        report = json.loads((reports / "tests" / "cu121-pip.json").read_text())
        assert report["passed"] and report["image_id"] == cu121_build.image_id
        manifests = sorted(path.name for path in (reports / "manifests").glob("*.md"))
        assert manifests == [f"cu121-pip-{cu121_build.image_id.split(':')[1][:12]}.md"]
        assert sorted(path.name for path in reports.rglob(".*")) == []  # no temporary file left
    finally:
        for tag in (f"{CI_IMAGE_NAME}:cu121-pip-torch2.4.0", f"{CI_IMAGE_NAME}-beside:cu121-pip"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(tag, noprune=tag.endswith("-beside:cu121-pip"))
