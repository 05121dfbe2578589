"""The real thing: the locks from PyPI (cu121, the arm64 CPU one, the dev
layers) regenerate bit-identically from their inputs (uv's --exclude-newer
pins the moment PyPI is read at)."""

from pathlib import Path

import pytest

from envkit import ROOT
from tests.helpers.checkout import copy_repo, invoke_in

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.mark.network
def test_cu121_lock_regenerates_bit_identically_from_pypi(tmp_path):
    repo = copy_repo(tmp_path / "kit")
    ca = ["--ca-cert", str(HOST_CA_BUNDLE)] if HOST_CA_BUNDLE.is_file() else []
    result = invoke_in(repo, "lock", "--cuda", "12.1", *ca)
    assert result.returncode == 0, result.stderr
    for name in ("cu121.txt", "cu121.shared.txt"):
        assert (repo / "env" / "pip" / name).read_bytes() == (ROOT / "env" / "pip" / name).read_bytes(), name


@pytest.mark.network
def test_arm64_cpu_lock_regenerates_bit_identically_from_pypi(tmp_path):
    """PyPI's aarch64 wheels, for aarch64-manylinux_2_28: the CPU torch, no nvidia-* packages."""
    repo = copy_repo(tmp_path / "kit")
    ca = ["--ca-cert", str(HOST_CA_BUNDLE)] if HOST_CA_BUNDLE.is_file() else []
    result = invoke_in(repo, "lock", "--cuda", "cpu", "--arch", "arm64", *ca)
    assert result.returncode == 0, result.stderr
    lock = repo / "env" / "pip" / "cpu-arm64.txt"
    assert lock.read_bytes() == (ROOT / "env" / "pip" / "cpu-arm64.txt").read_bytes()
    assert "nvidia-" not in lock.read_text() and "triton" not in lock.read_text()


@pytest.mark.network
def test_every_dev_lock_regenerates_bit_identically_from_pypi(tmp_path):
    """`invoke lock --dev`: each pip variant's dev layer, resolved on PyPI
    under its runtime lock; the same bytes as committed."""
    repo = copy_repo(tmp_path / "kit")
    ca = ["--ca-cert", str(HOST_CA_BUNDLE)] if HOST_CA_BUNDLE.is_file() else []
    result = invoke_in(repo, "lock", "--dev", *ca)
    assert result.returncode == 0, result.stderr
    written = sorted(line.split()[-1] for line in result.stdout.splitlines())
    assert written == ["env/pip/cpu.dev.txt", "env/pip/cu118.dev.txt", "env/pip/cu121.dev.txt"]
    for name in written:
        assert (repo / name).read_bytes() == (ROOT / name).read_bytes(), name
    assert not list((repo / "env" / "pip").glob(".lock-*"))  # no scratch folder left


@pytest.mark.network
@pytest.mark.parametrize("torch", ["2.5.0", "2.15.0"])  # the oldest and newest PyPI defaults the issue names
def test_the_compat_table_agrees_with_pypis_wheels(torch):
    ca = ["--ca-cert", str(HOST_CA_BUNDLE)] if HOST_CA_BUNDLE.is_file() else []
    result = invoke_in(ROOT, "compat", "--torch", torch, *ca)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"torch {torch}: amd64 cu")


@pytest.mark.network
def test_a_table_row_the_wheels_contradict_fails_invoke_compat(tmp_path):
    repo = copy_repo(tmp_path / "kit")
    compat = repo / "env" / "compat.toml"
    compat.write_text(
        compat.read_text().replace('cuda_runtime = { cu132 = "13.2.86" }', 'cuda_runtime = { cu132 = "13.2.0" }')
    )
    ca = ["--ca-cert", str(HOST_CA_BUNDLE)] if HOST_CA_BUNDLE.is_file() else []
    result = invoke_in(repo, "compat", "--torch", "2.15.0", *ca)
    assert result.returncode == 1
    assert "disagrees: cuda_runtime.cu132 is 13.2.0, the wheel requires 13.2.86" in result.stdout
    assert "env/compat.toml disagrees with PyPI's wheels for torch 2.15.0." in result.stderr


@pytest.mark.network
@pytest.mark.parametrize(("torch", "cuda", "runtime"), [("2.5.0", "12.4", "12.4.127"), ("2.15.0", "13.2", "13.2.86")])
def test_invoke_lock_works_from_pypi_for_the_oldest_and_newest_defaults(tmp_path, torch, cuda, runtime):
    repo = copy_repo(tmp_path / "kit")
    ca = ["--ca-cert", str(HOST_CA_BUNDLE)] if HOST_CA_BUNDLE.is_file() else []
    result = invoke_in(repo, "lock", "--torch", torch, "--cuda", cuda, *ca)
    assert result.returncode == 0, result.stderr
    written = repo / result.stdout.split()[-1]
    text = written.read_text()
    assert f"torch=={torch} \\" in text
    assert f"nvidia-cuda-runtime{'-cu12' if cuda.startswith('12') else ''}=={runtime} \\" in text
