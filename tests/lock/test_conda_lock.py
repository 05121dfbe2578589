"""`invoke lock --recipe conda` where no conda channel is in reach (as on our
machines), and how builds treat an explicit conda lock once one exists."""

import subprocess
import sys

import pytest

from envkit.recipes.files import sealed
from tests.helpers.checkout import copy_repo, invoke_in
from tests.helpers.fake_docker import make_fake_docker
from tests.helpers.registry import free_port

EXPLICIT = (
    "@EXPLICIT\nhttps://conda.anaconda.org/pytorch/linux-64/pytorch-2.4.1-py3.11_cuda12.1_cudnn9.1.0_0.tar.bz2#3e4a5b\n"
)


@pytest.fixture
def repo(tmp_path):
    return copy_repo(tmp_path / "kit")


def snapshot(repo):
    return {str(p.relative_to(repo)): p.read_bytes() for p in (repo / "env").rglob("*") if p.is_file()}


def lock_with_dead_channels(repo, *flags):
    """`invoke lock --recipe conda FLAGS` with every channel mirrored to a port where nothing listens."""
    dead = f"http://127.0.0.1:{free_port()}"
    before = snapshot(repo)
    result = invoke_in(
        repo, "lock", "--recipe", "conda", *flags, env={"INVOKE_ENVKIT_MIRRORS": f"https://conda.anaconda.org={dead}"}
    )
    assert snapshot(repo) == before  # nothing written, not even a new variant's input
    return result, dead


def test_unreachable_channels_write_nothing(repo):
    result, dead = lock_with_dead_channels(repo, "--cuda", "12.1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"cannot lock env/conda/cu121.linux-64.lock: {dead}/pytorch/linux-64 is not "
        "reachable (connection refused); nothing was written."
    )


def test_a_new_conda_variant_writes_no_input_when_its_lock_fails(repo):
    result, _ = lock_with_dead_channels(repo, "--cuda", "12.4", "--torch", "2.5.1")
    assert result.returncode == 1 and "cu124-torch2.5.1.linux-64.lock" in result.stderr
    assert not (repo / "env" / "conda" / "cu124-torch2.5.1.yml").exists()


def digest_in(repo):
    code = (
        "from envkit.recipes import conda_lock; from envkit.catalog import selection; "
        "print(conda_lock.inputs_digest(selection.select('12.1', 'conda')))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_builds_use_a_fresh_explicit_lock_and_refuse_a_stale_one(repo, tmp_path):
    client = make_fake_docker(tmp_path / "bin", "20.10.24+dfsg1")
    env = {"INVOKE_ENVKIT_DOCKER_CLIENT": str(client), "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    lock = repo / "env" / "conda" / "cu121.linux-64.lock"
    lock.write_text(sealed({"inputs": digest_in(repo), "platform": "linux-64"}, EXPLICIT, hashes=True))
    fresh = invoke_in(repo, "build", "--cuda", "12.1", "--recipe", "conda", env=env)
    assert "the Docker daemon is not reachable" in fresh.stderr  # past the plan: the lock was accepted
    environment = repo / "env" / "conda" / "cu121.yml"
    environment.write_text(environment.read_text().replace("mkl=2024.0", "mkl=2023.2"))
    stale = invoke_in(repo, "build", "--cuda", "12.1", "--recipe", "conda", env=env)
    assert stale.returncode == 2
    assert stale.stderr.strip() == (
        "env/conda/cu121.linux-64.lock is stale: its inputs changed since it was "
        "locked. Regenerate it with `invoke lock --cuda 12.1 --recipe conda`."
    )


def test_a_conda_variant_outside_the_defaults_needs_its_lock(repo, tmp_path):
    client = make_fake_docker(tmp_path / "bin", "20.10.24+dfsg1")
    result = invoke_in(
        repo,
        "build",
        "--cuda",
        "12.1",
        "--recipe",
        "conda",
        "--torch",
        "2.5.1",
        env={"INVOKE_ENVKIT_DOCKER_CLIENT": str(client)},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "cu121-conda-torch2.5.1 has no lock yet (env/conda/cu121-torch2.5.1.linux-64"
        ".lock): write it with `invoke lock --cuda 12.1 --recipe conda --torch 2.5.1`."
    )
