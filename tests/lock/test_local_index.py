"""`invoke lock` against PEP 503 indexes the tests serve on 127.0.0.1: a
stand-in PyPI and a stand-in PyTorch index (cu118, cpu) with small wheels
built here. The kit reaches them through its mirror setting, exactly as a
team points it at Artifactory or devpi. Every command runs in a copy of the
kit, so the checkout's own locks are never touched."""

import hashlib
import json
import subprocess
import sys

import pytest

from envkit.recipes.files import parse_pip, read_header
from tests.helpers.checkout import copy_repo, invoke_in
from tests.helpers.fake_docker import make_fake_docker
from tests.helpers.index import LocalIndex
from tests.helpers.registry import free_port

CU11 = "nvidia-cuda-runtime-cu11==11.8.89"
CU12 = "nvidia-cuda-runtime-cu12==12.1.105"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    served = LocalIndex(tmp_path_factory.mktemp("index"))
    for version in ("1.0", "4.0"):  # PyPI's newest filelock is 4.0 ...
        served.add("pypi", "filelock", version)
    served.add("pytorch/cu118", "filelock", "5.0")  # ... a newer one on the PyTorch index must not win
    for name, version in (
        ("numpy", "1.26.0"),
        ("numpy", "2.0.0"),
        ("pip", "24.0"),
        ("setuptools", "70.0"),
        ("triton", "3.0.0"),
    ):
        served.add("pypi", name, version)
    served.add("pypi", "torch", "2.4.1", "filelock", "triton==3.0.0", CU12)
    served.add("pypi", "nvidia-cuda-runtime-cu12", "12.1.105")
    for flavour, cuda in (("", None), ("+cu118", "cu118"), ("+cpu", "cpu")):
        where = "pypi" if not flavour else f"pytorch/{cuda}"
        if flavour:
            extra = ("triton==3.0.0", CU11) if cuda == "cu118" else ()
            served.add(where, "torch", f"2.4.1{flavour}", "filelock", *extra)
        served.add(where, "torchvision", f"0.19.1{flavour}", "torch==2.4.1", "numpy")
        served.add(where, "torchaudio", f"2.4.1{flavour}", "torch==2.4.1")
    served.add("pytorch/cu118", "nvidia-cuda-runtime-cu11", "11.8.89")
    yield served.start()
    served.stop()


def mirrors(index):
    return {
        "INVOKE_ENVKIT_MIRRORS": f"https://pypi.org/simple={index.url('pypi')} "
        f"https://download.pytorch.org/whl={index.url('pytorch')}"
    }


@pytest.fixture(scope="module")
def locked(index, tmp_path_factory):
    """A kit copy in which `invoke lock` locked every declared pip variant afresh (--upgrade: the copy's
    locks pin PyPI's real files, which uv would keep where the stand-in serves the same version)."""
    repo = copy_repo(tmp_path_factory.mktemp("kit"))
    result = invoke_in(repo, "lock", "--upgrade", env=mirrors(index))
    assert result.returncode == 0, result.stderr
    return repo, result


def versions(repo, platform):
    return parse_pip((repo / "env" / "pip" / f"{platform}.txt").read_text()).versions()


def test_reference_first_then_the_pytorch_index_platforms(locked):
    _, result = locked
    assert [line for line in result.stdout.splitlines() if not line.startswith("  ")] == [
        "locked env/pip/cu121.txt",
        "locked env/pip/cpu.txt",
        "locked env/pip/cu118.txt",
        "locked env/pip/cpu-arm64.txt",
    ]


def test_each_platform_gets_its_own_torch_build(locked):
    repo, _ = locked
    assert versions(repo, "cu121")["torch"] == "2.4.1"
    assert versions(repo, "cu118")["torch"] == "2.4.1+cu118"
    assert versions(repo, "cu118")["nvidia-cuda-runtime-cu11"] == "11.8.89"
    assert "nvidia-cuda-runtime-cu12" in versions(repo, "cu121")
    assert not [name for name in versions(repo, "cpu") if name.startswith("nvidia-") or name == "triton"]


def test_shared_dependencies_agree_across_platforms(locked):
    repo, _ = locked
    shared = {"filelock", "numpy", "pip", "setuptools"}
    reference = {name: version for name, version in versions(repo, "cu121").items() if name in shared}
    assert reference == {"filelock": "4.0", "numpy": "2.0.0", "pip": "24.0", "setuptools": "70.0"}
    for platform in ("cu118", "cpu"):
        assert {n: v for n, v in versions(repo, platform).items() if n in shared} == reference, platform


def test_the_arm64_cpu_lock_is_pypis_torch_under_the_shared_versions(locked):
    """PyPI's aarch64 torch is the CPU build: the arm64 lock takes it from PyPI,
    with the reference's shared versions, and names no PyTorch index."""
    repo, _ = locked
    arm64 = versions(repo, "cpu-arm64")
    assert arm64["torch"] == "2.4.1" and arm64["torchvision"] == "0.19.1"
    assert {n: v for n, v in arm64.items() if n in ("filelock", "numpy", "pip", "setuptools")} == {
        "filelock": "4.0",
        "numpy": "2.0.0",
        "pip": "24.0",
        "setuptools": "70.0",
    }
    text = (repo / "env" / "pip" / "cpu-arm64.txt").read_text()
    assert "--index-url" not in text and "download.pytorch.org" not in text
    assert "invoke lock --cuda cpu --arch arm64" in text


def test_every_pin_carries_the_hash_of_the_file_the_index_serves(locked, index):
    repo, _ = locked
    served = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in index.folder.rglob("*.whl")}
    for platform in ("cu121", "cu118", "cpu"):
        for pin in parse_pip((repo / "env" / "pip" / f"{platform}.txt").read_text()).pins.values():
            assert pin.hashes, pin
            assert {h.removeprefix("sha256:") for h in pin.hashes} <= set(served.values()), pin


def test_locks_name_the_upstream_indexes_not_the_mirror(locked, index):
    repo, _ = locked
    cu118 = (repo / "env" / "pip" / "cu118.txt").read_text()
    assert "--index-url https://download.pytorch.org/whl/cu118\n--extra-index-url https://pypi.org/simple\n" in cu118
    assert "127.0.0.1" not in cu118 + (repo / "env" / "pip" / "cu121.txt").read_text()
    assert read_header(repo / "env" / "pip" / "cu118.txt")["index"] == "https://download.pytorch.org/whl/cu118"


def test_relocking_is_bit_identical(locked, index):
    repo, _ = locked
    before = {p.name: p.read_bytes() for p in (repo / "env" / "pip").glob("*.txt")}
    assert invoke_in(repo, "lock", env=mirrors(index)).returncode == 0
    assert {p.name: p.read_bytes() for p in (repo / "env" / "pip").glob("*.txt")} == before


def test_a_lock_installs_with_hash_checking_from_the_index(locked, index, tmp_path):
    repo, _ = locked
    # pip lets a requirements file's --index-url win over its command line: drop them to use the stand-ins.
    lock = tmp_path / "cu118.txt"
    lock.write_text(
        "".join(
            line
            for line in (repo / "env" / "pip" / "cu118.txt").read_text().splitlines(True)
            if not line.startswith("--")
        )
    )
    install = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--isolated",
        "--no-deps",
        "--require-hashes",
        "--target",
        str(tmp_path / "site"),
        "--index-url",
        index.url("pytorch/cu118"),
        "--extra-index-url",
        index.url("pypi"),
        "-r",
    ]
    ok = subprocess.run([*install, str(lock)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    tampered = tmp_path / "tampered.txt"
    text = lock.read_text()
    first_hash = text.split("--hash=sha256:")[1][:64]
    tampered.write_text(text.replace(first_hash, "0" * 64))
    refused = subprocess.run([*install, str(tampered)], capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.stderr


def fake_docker_env(tmp_path):
    client = make_fake_docker(tmp_path / "bin", "20.10.24+dfsg1")
    return {"INVOKE_ENVKIT_DOCKER_CLIENT": str(client), "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}, client


def test_a_stale_lock_is_refused_with_the_command_to_fix_it(locked, index, tmp_path):
    repo, _ = locked
    common = repo / "env" / "pip" / "common.in"
    original = common.read_text()
    env, client = fake_docker_env(tmp_path)
    try:
        common.write_text(original + "packaging\n")
        for platform, flag in (("cu121", "12.1"), ("cu118", "11.8")):
            result = invoke_in(repo, "build", "--cuda", flag, env=env)
            assert result.returncode == 2, result.stderr
            assert result.stderr.strip() == (
                f"env/pip/{platform}.txt is stale: its inputs changed since it was "
                f"locked. Regenerate it with `invoke lock --cuda {flag}`."
            )
        assert not (client.parent / "calls.log").exists()  # refused before any docker command
    finally:
        common.write_text(original)
    # The reference moving on makes its dependents stale too: they take its shared versions.
    shared = repo / "env" / "pip" / "cu121.shared.txt"
    shared.write_text(shared.read_text().replace("numpy==2.0.0", "numpy==1.26.0"))
    result = invoke_in(repo, "build", "--cuda", "11.8", env=env)
    assert "env/pip/cu118.txt is stale: its inputs changed" in result.stderr
    assert invoke_in(repo, "lock", env=mirrors(index)).returncode == 0  # and locking again mends all


def snapshot(repo):
    return {str(p.relative_to(repo)): p.read_bytes() for p in (repo / "env").rglob("*") if p.is_file()}


def test_an_unreachable_index_writes_nothing(locked):
    repo, _ = locked
    before = snapshot(repo)
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"INVOKE_ENVKIT_MIRRORS": f"https://pypi.org/simple={dead}/simple https://download.pytorch.org/whl={dead}"}
    result = invoke_in(repo, "lock", "--cuda", "11.8", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"cannot lock env/pip/cu118.txt: {dead}/cu118 is not reachable (connection refused); nothing was written."
    )
    assert snapshot(repo) == before


def test_a_failed_resolution_writes_nothing_not_even_the_new_input(locked, index):
    repo, _ = locked
    before = snapshot(repo)
    result = invoke_in(repo, "lock", "--cuda", "12.4", "--torch", "2.5.1", env=mirrors(index))
    assert result.returncode == 1
    assert result.stderr.startswith(
        "cannot lock env/pip/cu124-torch2.5.1.txt: uv pip compile failed; nothing was written."
    )
    assert "torch==2.5.1" in result.stderr  # uv's own words on what it could not find
    assert snapshot(repo) == before


def test_a_new_release_locks_its_pypi_build_first(locked, index):
    repo, _ = locked
    before = snapshot(repo)
    assert (repo / "env" / "pip" / "cu121.txt").exists()
    result = invoke_in(repo, "lock", "--cuda", "11.8", "--torch", "2.7.1", env=mirrors(index))
    assert result.returncode == 1  # the PyPI build of 2.7.1 (cu126) comes first, and the stand-in has none
    assert "cannot lock env/pip/cu126-torch2.7.1.txt: uv pip compile failed" in result.stderr
    assert snapshot(repo) == before


def test_lock_reports_use_no_mirror_credentials_or_urls(locked, index):
    repo, _ = locked
    header = read_header(repo / "env" / "pip" / "cu121.txt")
    assert header["inputs"].startswith("sha256:") and header["index"] == "https://pypi.org/simple"
    assert json.dumps(header).count("127.0.0.1") == 0


@pytest.fixture
def growing_index(tmp_path):
    """A stand-in PyPI with just what the cu121 lock needs; tests add releases to it."""
    served = LocalIndex(tmp_path / "index")
    for name, version in (("filelock", "4.0"), ("numpy", "2.0.0"), ("pip", "24.0"), ("setuptools", "70.0")):
        served.add("pypi", name, version)
    served.add("pypi", "triton", "3.0.0")
    served.add("pypi", "nvidia-cuda-runtime-cu12", "12.1.105")
    served.add("pypi", "torch", "2.4.1", "filelock", "triton==3.0.0", CU12)
    served.add("pypi", "torchvision", "0.19.1", "torch==2.4.1", "numpy")
    served.add("pypi", "torchaudio", "2.4.1", "torch==2.4.1")
    yield served.start()
    served.stop()


def test_a_release_appearing_later_moves_no_pin_until_upgrade_and_then_is_listed(growing_index, tmp_path):
    """The index's history is not append-only (a file may appear stamped before the cut-off after the lock
    was made): relocking keeps every pin its inputs allow; --upgrade resolves afresh and names what moved."""
    repo = copy_repo(tmp_path / "kit")
    env = {"INVOKE_ENVKIT_MIRRORS": f"https://pypi.org/simple={growing_index.url('pypi')}"}
    assert invoke_in(repo, "lock", "--cuda", "12.1", "--upgrade", env=env).returncode == 0
    lock = repo / "env" / "pip" / "cu121.txt"
    first = lock.read_bytes()
    growing_index.add("pypi", "filelock", "4.5")
    again = invoke_in(repo, "lock", "--cuda", "12.1", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["locked env/pip/cu121.txt"]
    assert lock.read_bytes() == first
    upgraded = invoke_in(repo, "lock", "--cuda", "12.1", "--upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.splitlines()[:2] == ["locked env/pip/cu121.txt", "  filelock 4.0 -> 4.5"]
    assert "the index now serves files stamped before the cut-off" in upgraded.stdout
    assert versions(repo, "cu121")["filelock"] == "4.5"


def test_a_relock_keeps_the_replaced_locks_versions_but_takes_the_hashes_the_index_serves(growing_index, tmp_path):
    """The checkout's cu121 lock names PyPI's files; this index serves other files for the same versions (a
    mirror of rebuilt wheels does too). The relock keeps torch 2.4.1 and lists only the served files' hashes."""
    repo = copy_repo(tmp_path / "kit")
    env = {"INVOKE_ENVKIT_MIRRORS": f"https://pypi.org/simple={growing_index.url('pypi')}"}
    result = invoke_in(repo, "lock", "--cuda", "12.1", env=env)
    assert result.returncode == 0, result.stderr
    served = {hashlib.sha256(path.read_bytes()).hexdigest() for path in growing_index.folder.rglob("*.whl")}
    pins = parse_pip((repo / "env" / "pip" / "cu121.txt").read_text()).pins
    assert pins["torch"].version == "2.4.1"
    for pin in pins.values():
        assert pin.hashes and {h.removeprefix("sha256:") for h in pin.hashes} <= served, pin


def test_a_cutoff_still_to_come_is_refused_before_anything_is_resolved(growing_index, tmp_path):
    repo = copy_repo(tmp_path / "kit")
    data = repo / "env" / "variants.toml"
    data.write_text(
        data.read_text().replace('exclude_newer = "2026-11-27T00:00:00Z"', 'exclude_newer = "2999-01-01T00:00:00Z"')
    )
    before = snapshot(repo)
    env = {"INVOKE_ENVKIT_MIRRORS": f"https://pypi.org/simple={growing_index.url('pypi')}"}
    for args in (("--cuda", "12.1"), ("--dev", "--cuda", "cpu")):
        result = invoke_in(repo, "lock", *args, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(
            "env/variants.toml [lock] exclude_newer is 2999-01-01T00:00:00Z, which has not come yet"
        )
        assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(repo) == before
