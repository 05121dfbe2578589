"""Finding a BuildKit-capable client and a reachable daemon, with stand-in
docker clients (real executables) and a socket where no daemon listens."""

import socket

import docker
import pytest
import requests

from envkit.core import engine
from envkit.core.errors import KitError, UsageError
from envkit.core.signals import interruptible
from tests.helpers.fake_docker import make_fake_docker


@pytest.fixture
def only_path(monkeypatch, tmp_path):
    """PATH holds only the folders a test puts there; no fallback folders."""
    monkeypatch.setattr(engine, "FALLBACK_DIRS", ())

    def set_path(*folders):
        monkeypatch.setenv("PATH", ":".join(str(f) for f in folders))

    return set_path


def test_buildx_plugin_is_preferred(tmp_path, only_path):
    client = make_fake_docker(tmp_path / "new", "28.2.2", buildx=True)
    only_path(tmp_path / "new")
    builder = engine.find_builder()
    assert builder.command() == [str(client), "buildx", "build", "--load"]
    assert not builder.reproducible  # a builder that does not say its BuildKit version


# What `docker buildx inspect` prints: buildx 0.12+ says "BuildKit version", older ones "Buildkit".
INSPECT_NEW = (
    "Name:          builder\nDriver:        docker-container\nNodes:\nName:             builder0\n"
    "Status:           running\nBuildKit version: v0.13.2\nPlatforms:        linux/amd64\n"
)
INSPECT_OLD = (
    "Name:   default\nDriver: docker\n\nNodes:\nName:      default\nStatus:    running\n"
    "Buildkit:  v0.11.7-0.20230525183624-798ad6b0ce9f\n"
)


@pytest.mark.parametrize(
    ("inspect", "version", "reproducible"),
    [(INSPECT_NEW, (0, 13), True), (INSPECT_OLD, (0, 11), False), ("Name: x\n", None, False)],
    ids=["buildkit-0.13", "buildkit-0.11", "unsaid"],
)
def test_reproducible_builds_where_buildx_drives_buildkit_013_or_newer(
    tmp_path, only_path, inspect, version, reproducible
):
    client = make_fake_docker(tmp_path / "new", "28.2.2", buildx=True, inspect=inspect)
    only_path(tmp_path / "new")
    builder = engine.find_builder()
    assert (builder.buildkit, builder.reproducible) == (version, reproducible)
    expected_output = ["--output", "type=docker,rewrite-timestamp=true"] if reproducible else ["--load"]
    assert builder.command() == [str(client), "buildx", "build", *expected_output]


def test_client_without_buildx_is_skipped_for_a_builtin_buildkit_one(tmp_path, only_path):
    make_fake_docker(tmp_path / "new", "28.2.2")
    old = make_fake_docker(tmp_path / "old", "20.10.24+dfsg1")
    only_path(tmp_path / "new", tmp_path / "old")
    builder = engine.find_builder()
    assert builder.command() == [str(old), "build"]
    assert builder.env == {"DOCKER_BUILDKIT": "1"}
    assert not builder.reproducible


def test_fallback_dir_is_searched_after_path(tmp_path, only_path, monkeypatch):
    make_fake_docker(tmp_path / "new", "28.2.2")
    old = make_fake_docker(tmp_path / "debian", "20.10.24+dfsg1")
    only_path(tmp_path / "new")
    monkeypatch.setattr(engine, "FALLBACK_DIRS", (str(tmp_path / "debian"),))
    assert engine.find_builder().prefix == (str(old), "build")


def test_no_buildkit_client_is_a_clear_error(tmp_path, only_path):
    make_fake_docker(tmp_path / "new", "28.2.2")
    only_path(tmp_path / "new")
    with pytest.raises(UsageError) as raised:
        engine.find_builder()
    message = str(raised.value)
    assert message.startswith(f"no BuildKit-capable docker client (tried: {tmp_path}/new/docker)")
    assert "buildx" in message and "docker.io" in message


def test_configured_client_is_the_only_one_tried(tmp_path, only_path):
    make_fake_docker(tmp_path / "good", "20.10.24")
    configured = make_fake_docker(tmp_path / "configured", "27.0.0")
    only_path(tmp_path / "good")
    with pytest.raises(UsageError, match=r"tried: .*/configured/docker"):
        engine.find_builder(str(configured))


def test_no_docker_at_all(tmp_path, only_path):
    only_path(tmp_path)
    with pytest.raises(UsageError, match="tried: none found on PATH"):
        engine.find_builder()


def test_unreachable_daemon_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    with pytest.raises(UsageError) as raised:
        engine.connect()
    message = str(raised.value)
    assert message.startswith(f"the Docker daemon is not reachable at unix://{tmp_path}/no-daemon.sock")
    assert "sudo systemctl start docker" in message and "dockerd" in message


def test_a_daemon_that_stops_answering_ends_the_task_in_one_line(tmp_path):
    # A socket that accepts and never answers: the SDK's read times out; the
    # task says who did not answer and exits 1, with no traceback.
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)
    client = docker.DockerClient(base_url=f"unix://{path}", timeout=1, version="1.44")

    @interruptible
    def task():
        client.containers.create("torch-env:cu121-pip")

    with pytest.raises(KitError) as raised:
        task()
    listener.close()
    assert raised.value.code == 1
    assert str(raised.value).startswith("the Docker daemon did not answer in time: it may be busy")


class _SlowDaemon:
    """A client whose daemon makes the container but whose answer never
    comes (what a create under a busy containerd store did)."""

    def __init__(self):
        self.made, self.removed = [], []
        self.containers = self
        self.api = self

    def create(self, image, argv, name, **options):
        self.made.append(name)
        raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=120)")

    def remove_container(self, name, force):
        self.removed.append((name, force))


def test_a_create_whose_answer_never_came_leaves_no_container():
    daemon = _SlowDaemon()
    with pytest.raises(requests.exceptions.ReadTimeout):
        engine.create_container(daemon, "torch-env:cu121-pip", ["sleep", "infinity"], labels={"io.envkit.test": "1"})
    assert len(daemon.made) == 1 and daemon.made[0].startswith("envkit-")
    assert daemon.removed == [(daemon.made[0], True)]
