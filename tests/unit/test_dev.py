"""The dev image's decisions without Docker: what a dev variant is, its lock
against the runtime lock, the guard that keeps the runtime packages as
tested, its tags, `invoke lab`'s choices and the devcontainer files."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest

from envkit import ROOT
from envkit.catalog.selection import select
from envkit.catalog.variants import declared, declared_images, has_dev, variants_file
from envkit.checks import tags
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.recipes import dev_lock
from envkit.recipes.files import is_hash_locked, read_header, read_pip, sealed, tamper_reason
from envkit.release.pins import PinnedImage
from envkit.workspace import caches, devcontainer, lab
from tests.helpers.checkout import env_layers

PIP_VARIANTS = [variant for variant in declared() if has_dev(variant)]  # pip, first architecture


def test_a_dev_variant_is_its_runtime_variant_on_the_dev_dockerfile():
    dev = select("12.1", dev=True)
    assert (dev.name, dev.flags(), dev.lock_file, dev.input_file) == (
        "cu121-pip-dev",
        "--cuda 12.1 --dev",
        "env/pip/cu121.dev.txt",
        "env/pip/dev.in",
    )
    assert dev.dockerfile == "docker/dev.Dockerfile" and dev.runtime == select("12.1")
    assert dev.runtime.dockerfile == "docker/pip.Dockerfile"
    assert [v.name for v in declared_images() if v.dev] == [f"{v.name}-dev" for v in PIP_VARIANTS]
    with pytest.raises(UsageError, match="dev images are built on pip variants"):
        select("12.1", "conda", dev=True)
    with pytest.raises(
        UsageError, match="--dev: dev images are built for amd64 only, not for cpu-pip-arm64; leave out --arch arm64"
    ):
        select("cpu", dev=True, arch="arm64")


@pytest.mark.parametrize("store", ["classic", "containerd"])
def test_a_dev_build_asks_room_for_its_layer_not_for_a_whole_torch_install(store):
    """It builds on the runtime image already there: its need is [disk] dev, on every store."""
    figures = variants_file().disk.on(store)
    assert select("12.1", dev=True).disk_gb(store) == figures.dev < figures.cuda == select("12.1").disk_gb(store)


@pytest.mark.parametrize("variant", PIP_VARIANTS, ids=lambda v: v.name)
def test_each_dev_lock_is_fresh_hash_locked_and_moves_no_runtime_pin(variant):
    dev = variant.with_dev()
    lock = ROOT / dev.lock_file
    assert tamper_reason(lock) == "" and is_hash_locked(lock)
    assert dev_lock.stale_reason(dev) == ""
    dev_pins = read_pip(lock).pins
    runtime = read_pip(ROOT / variant.lock_file).versions()
    assert {"jupyterlab", "ipykernel", "ipywidgets"} <= set(dev_pins)
    assert all(pin.hashes for pin in dev_pins.values())
    shared = set(dev_pins) & set(runtime)
    assert shared and all(dev_pins[name].version == runtime[name] for name in shared)
    assert not {"torch", "torchvision", "torchaudio"} & set(dev_pins)


def test_the_dev_lock_goes_stale_with_its_input_or_the_runtime_lock(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "env", tmp_path / "env")
    monkeypatch.setattr(dev_lock, "ROOT", tmp_path)
    dev = select("12.1", dev=True)
    assert dev_lock.stale_reason(dev) == ""
    runtime_lock = tmp_path / "env" / "pip" / "cu121.txt"
    edited = runtime_lock.read_text().replace("filelock==4.3.1", "filelock==4.3.0")
    runtime_lock.write_text(edited)  # edited by hand: the dev lock is not made from a tampered lock
    with pytest.raises(UsageError, match=r"env/pip/cu121.txt was edited after `invoke lock`.*refused as tampered"):
        dev_lock.stale_reason(dev)
    header = {key: value for key, value in (read_header(runtime_lock) or {}).items() if key not in ("hashes", "body")}
    runtime_lock.write_text(sealed(header, edited.partition("\n")[2], hashes=True))  # as `invoke lock` would
    assert "env/pip/cu121.txt changed" in dev_lock.stale_reason(dev)
    shutil.copy(ROOT / "env" / "pip" / "cu121.txt", runtime_lock)
    (tmp_path / "env" / "pip" / "dev.in").write_text("jupyterlab\n")
    assert dev_lock.stale_reason(dev)
    runtime_lock.unlink()
    with pytest.raises(UsageError, match=r"env/pip/cu121.txt does not exist: .* `invoke lock --cuda 12.1`"):
        dev_lock.stale_reason(dev)


def test_the_dev_lock_command_resolves_on_pypi_under_the_runtime_versions(tmp_path):
    dev = select("cpu", dev=True)
    argv = dev_lock.compile_command(dev, Settings(), tmp_path / "c.txt", tmp_path / "out.txt")
    assert argv[argv.index("--constraints") + 1] == str(tmp_path / "c.txt")
    assert argv[argv.index("--index-url") + 1] == "https://pypi.org/simple"
    assert argv[argv.index("--exclude-newer") + 1] == "2026-11-27T00:00:00Z"
    assert argv[argv.index("--custom-compile-command") + 1] == "invoke lock --cuda cpu --dev"
    assert "--extra-index-url" not in argv
    mirrored = Settings.from_config({"mirrors": "https://pypi.org/simple=https://mirror.example/pypi"})
    argv = dev_lock.compile_command(dev, mirrored, tmp_path / "c.txt", tmp_path / "out.txt")
    assert argv[argv.index("--index-url") + 1] == "https://mirror.example/pypi" and "--exclude-newer" not in argv
    constraints = dev_lock.runtime_constraints(dev)
    assert "torch==2.4.1+cpu\n" in constraints and "--hash" not in constraints


def _dist(site: Path, name: str, record: str) -> None:
    (site / f"{name}.dist-info").mkdir(parents=True)
    (site / f"{name}.dist-info" / "RECORD").write_text(record)


@pytest.fixture
def venv(tmp_path, monkeypatch):
    layers = env_layers("install")
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    _dist(site, "jinja2-3.1.6", "jinja2/__init__.py,sha256=a,10\n")
    _dist(site, "torch-2.4.1", "torch/__init__.py,sha256=b,10\n")
    monkeypatch.setattr(env_layers("places"), "VENV", tmp_path / "venv")
    return layers, site


def test_the_dev_layer_may_add_packages(venv, monkeypatch, capsys):
    layers, site = venv
    monkeypatch.setattr(layers, "install", lambda *args: _dist(site, "jupyterlab-4.6.6", "jupyterlab/x.py,,\n"))
    layers.install_dev(Path("/dev-lock.txt"))
    assert "the runtime's 2 distributions are unchanged" in capsys.readouterr().out


@pytest.mark.parametrize("change", ["reinstalled", "upgraded", "removed"])
def test_the_dev_layer_may_not_touch_a_runtime_package(venv, monkeypatch, change):
    layers, site = venv

    def install(*args):
        old = site / "jinja2-3.1.6.dist-info"
        if change == "reinstalled":
            (old / "RECORD").write_text("jinja2/__init__.py,sha256=other,10\n")
        else:
            shutil.rmtree(old)
        if change == "upgraded":
            _dist(site, "jinja2-3.1.7", "jinja2/__init__.py,sha256=c,10\n")

    monkeypatch.setattr(layers, "install", install)
    with pytest.raises(SystemExit, match=r"it changed the runtime environment \(jinja2-3\.1\.6\.dist-info\)"):
        layers.install_dev(Path("/dev-lock.txt"))


def test_every_tag_of_a_dev_image_ends_in_dev():
    measured = tags.Measurement(
        "2.4.1+cu121",
        "12.1",
        "9.1.0",
        "3.11.2",
        "pip",
        "2026-11-28T10:00:00Z",
        "abc1234def",
        "sha256:" + "e" * 64,
        machine="x86_64",
    )
    runtime, dev = tags.compute(measured), tags.compute(tags.Measurement(**{**measured.__dict__, "dev": True}))
    assert {kind: tag + "-dev" for kind, tag in runtime.items()} == dev
    assert dev["moving"] == "cu121-pip-dev"


def test_lab_ports_and_command():
    chosen = lab.host_port("auto")
    assert 0 < chosen < 65536
    assert lab.host_port("8899") == 8899
    for bad in ("0", "70000", "eighty", "", "-1"):
        with pytest.raises(UsageError, match="give `auto` \\(a free port\\) or a port number"):
            lab.host_port(bad)
    argv = lab.server_command(8899)
    assert argv[:2] == ["jupyter", "lab"] and "--ServerApp.root_dir=/workspace" in argv
    assert "--ServerApp.custom_display_url=http://127.0.0.1:8899/lab" in argv and "--ip=0.0.0.0" in argv


def test_lab_refuses_an_image_without_jupyterlab():
    runtime = SimpleNamespace(reference="torch-env:cu121-pip", image=SimpleNamespace(labels={"io.envkit.variant": "x"}))
    with pytest.raises(UsageError, match=r"is not a dev image .* `invoke build --dev`"):
        lab.start_lab(runtime, None, Settings(), None, 8888)  # type: ignore[arg-type]


def _parsed(path: Path) -> dict:
    """JSON with comments, as the devcontainer spec reads it (ours: whole-line comments only)."""
    return json.loads("\n".join(line for line in path.read_text().splitlines() if not line.startswith("//")))


def test_the_committed_devcontainers_are_the_data_s():
    assert devcontainer.write(ROOT, Settings(), check=True) == []
    written = sorted(str(path.relative_to(ROOT)) for path in (ROOT / ".devcontainer").rglob("*.json"))
    assert written == sorted(config.path for config in devcontainer.configs())
    assert written == sorted(
        [".devcontainer/devcontainer.json"]
        + [f".devcontainer/{v.name}/devcontainer.json" for v in PIP_VARIANTS]
        + [f".devcontainer/{v.name}-gpu/devcontainer.json" for v in PIP_VARIANTS if v.cuda]
    )


@pytest.mark.parametrize("config", devcontainer.configs(), ids=lambda c: c.path)
def test_each_devcontainer_runs_the_dev_image_as_the_caller_like_invoke_shell(config):
    made = _parsed(ROOT / config.path)
    assert made["image"] == f"torch-env:{config.variant.name}-dev"
    assert (made["remoteUser"], made["containerUser"], made["updateRemoteUserUID"]) == ("envkit", "envkit", True)
    assert made["workspaceFolder"] == "/workspace"
    assert made["workspaceMount"] == "source=${localWorkspaceFolder},target=/workspace,type=bind"
    assert made["runArgs"][:2] == ["--shm-size", "8g"] and made["init"] is True
    assert ("--gpus" in made["runArgs"]) == config.gpu == ("hostRequirements" in made)
    assert made["mounts"] == [f"source={devcontainer.CACHE_VOLUME},target={devcontainer.CACHE_ROOT},type=volume"]
    assert made["containerEnv"] == caches.environment(devcontainer.CACHE_ROOT)
    assert set(made["containerEnv"]) == {name for cache in caches.CACHES for name in cache.env}
    vscode = made["customizations"]["vscode"]
    assert vscode["extensions"] == ["ms-python.python", "ms-toolsai.jupyter"]
    assert vscode["settings"]["python.defaultInterpreterPath"] == "/opt/venv/bin/python"
    assert (ROOT / config.path).read_text().startswith(devcontainer.MARKER)


def test_the_devcontainer_user_and_cache_folder_are_the_dockerfiles():
    pip_dockerfile = (ROOT / "docker" / "pip.Dockerfile").read_text()
    assert f"ARG USER_NAME={devcontainer.IMAGE_USER}\n" in pip_dockerfile
    assert "VIRTUAL_ENV=/opt/venv" in pip_dockerfile
    dev_dockerfile = (ROOT / "docker" / "dev.Dockerfile").read_text()
    assert '"/home/${USER_NAME}/.cache/envkit"' in dev_dockerfile and "ARG USER_NAME=envkit" in dev_dockerfile


def test_a_published_dev_image_is_used_by_digest(tmp_path):
    pins = tmp_path / "published.json"
    reference = "ghcr.io/team/torch-env@sha256:" + "a" * 64
    pinned = PinnedImage(
        reference, ("cu121-pip-dev",), "2.4.1+cu121", "12.1", "3.11.2", "sha256:" + "1" * 64, "abc", "2026"
    )
    pins.write_text(json.dumps({"cu121-pip-dev": asdict(pinned)}))
    # the digest is made up: nothing could verify it (the refusal: tests/integration/test_signing.py)
    settings = Settings.from_config({"pins_file": str(pins), "shm_size": "32g", "unsigned": "allow"})
    devcontainer.write(tmp_path, settings)
    made = _parsed(tmp_path / ".devcontainer" / "cu121-pip-gpu" / "devcontainer.json")
    assert made["image"] == reference and made["runArgs"] == ["--shm-size", "32g", "--gpus", "all"]
    assert _parsed(tmp_path / ".devcontainer" / "cpu-pip" / "devcontainer.json")["image"] == "torch-env:cpu-pip-dev"


def test_a_devcontainer_file_the_kit_did_not_write_is_left_alone(tmp_path):
    theirs = tmp_path / ".devcontainer" / "cu118-pip" / "devcontainer.json"
    theirs.parent.mkdir(parents=True)
    theirs.write_text('{"image": "their-own"}\n')
    with pytest.raises(UsageError, match="was not written by `invoke devcontainer`; move it away first"):
        devcontainer.write(tmp_path, Settings())
    assert theirs.read_text() == '{"image": "their-own"}\n'
    assert sorted(p.name for p in (tmp_path / ".devcontainer").iterdir()) == ["cu118-pip"]  # nothing else written
    assert len(devcontainer.write(tmp_path, Settings(), check=True)) == len(devcontainer.configs())


def test_invoke_devcontainer_check_and_write(run_invoke, tmp_path):
    stale = run_invoke("devcontainer", "--check", "--workdir", str(tmp_path))
    assert stale.returncode == 1 and "not up to date with env/" in stale.stderr
    assert not (tmp_path / ".devcontainer").exists()
    wrote = run_invoke("devcontainer", "--workdir", str(tmp_path))
    assert wrote.returncode == 0 and wrote.stdout.startswith("wrote ")
    assert run_invoke("devcontainer", "--check", "--workdir", str(tmp_path)).returncode == 0
    assert "is up to date" in run_invoke("devcontainer", "--workdir", str(tmp_path)).stdout
    missing = run_invoke("devcontainer", "--workdir", str(tmp_path / "nope"))
    assert missing.returncode != 0 and "not a folder" in missing.stderr
    # a config saved again by a Windows editor as UTF-16, and one edited by hand: each is named with why
    saved = tmp_path / ".devcontainer" / "cu121-pip" / "devcontainer.json"
    saved.write_bytes(saved.read_text().encode("utf-16"))
    edited = tmp_path / ".devcontainer" / "devcontainer.json"
    edited.write_text(edited.read_text().replace("torch-env", "other-env"))
    stale = run_invoke("devcontainer", "--check", "--workdir", str(tmp_path))
    assert stale.returncode == 1 and "Traceback" not in stale.stderr
    utf16 = "it starts with a UTF-16 byte-order mark"
    assert f".devcontainer/cu121-pip/devcontainer.json (not UTF-8 text ({utf16}" in stale.stderr
    assert ".devcontainer/devcontainer.json (other text than env/ and the pins give)" in stale.stderr


def test_a_dev_build_refuses_a_tampered_stale_or_missing_dev_lock_first(tmp_path, monkeypatch):
    """Checked from the files alone, before the engine is asked anything."""
    from envkit.images import plan

    shutil.copytree(ROOT / "env", tmp_path / "env")
    monkeypatch.setattr(dev_lock, "ROOT", tmp_path)
    monkeypatch.setattr(plan, "ROOT", tmp_path)
    dev = select("12.1", dev=True)
    assert plan.make_dev(dev, Settings(), "torch-env:cu121-pip").recipe_file == "env/pip/cu121.dev.txt"
    lock = tmp_path / dev.lock_file
    lock.write_text(lock.read_text().replace("jupyterlab==4.6.6", "jupyterlab==4.6.5"))
    with pytest.raises(UsageError, match=r"refused as tampered\. Regenerate it with `invoke lock --cuda 12\.1 --dev`"):
        plan.make_dev(dev, Settings(), "torch-env:cu121-pip")
    shutil.copy(ROOT / dev.lock_file, lock)
    (tmp_path / "env" / "pip" / "dev.in").write_text("jupyterlab\nipympl\n")
    with pytest.raises(UsageError, match=r"is stale: env/pip/dev.in or env/pip/cu121.txt changed"):
        plan.make_dev(dev, Settings(), "torch-env:cu121-pip")
    lock.unlink()
    with pytest.raises(
        UsageError, match=r"has no lock yet \(env/pip/cu121.dev.txt\): .*`invoke lock --cuda 12\.1 --dev`"
    ):
        plan.make_dev(dev, Settings(), "torch-env:cu121-pip")
    with pytest.raises(UsageError, match="--extra-index-url: the dev layer comes from PyPI"):
        plan.make_dev(dev, Settings.from_config({"extra_index_url": "https://x.example/simple"}), "torch-env:cu121-pip")
