"""`invoke base` decisions, without running debootstrap."""

import pytest

from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.images import base, emulation


def test_debootstrap_command():
    settings = Settings(base_mirror="http://mirror.example/debian", base_suite="bookworm")
    assert base.debootstrap_command(settings, base.Path("/tmp/root")) == [
        "debootstrap",
        "--arch=amd64",
        "--variant=minbase",
        "--include=python3,python3-venv,ca-certificates",
        "bookworm",
        "/tmp/root",
        "http://mirror.example/debian",
    ]


def test_tag_and_labels_follow_suite_and_mirror():
    settings = Settings(base_mirror="http://mirror.example/debian", base_suite="trixie")
    assert settings.base_image_tag() == "torch-env-base:trixie"
    assert base.labels(settings) == {
        "io.envkit.base.suite": "trixie",
        "io.envkit.base.mirror": "http://mirror.example/debian",
        "io.envkit.base.packages": "python3,python3-venv,ca-certificates",
        "io.envkit.base.arch": "amd64",
    }
    assert base.base_tag(settings, "amd64") == "torch-env-base:trixie"
    assert base.base_tag(settings, "arm64") == "torch-env-base:trixie-arm64"


def test_an_arm64_base_says_arm64_in_its_config():
    """Docker 20.10's `docker import --platform` is ignored: the kit writes the
    config itself, and the architecture in it is the files' own."""
    settings = Settings(base_suite="bookworm")
    config = base.image_config(settings, "arm64", "sha256:" + "a" * 64, "2026-11-28T00:00:00Z")
    assert (config["architecture"], config["os"]) == ("arm64", "linux")
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]}
    assert config["config"]["Labels"]["io.envkit.base.arch"] == "arm64"
    assert "LANG=C.UTF-8" in config["config"]["Env"] and config["config"]["Cmd"] == ["bash"]
    assert "--arch=arm64" in config["history"][0]["created_by"]


def test_an_unknown_arch_is_refused_before_anything_runs(monkeypatch):
    monkeypatch.setattr(base.os, "geteuid", lambda: 0)
    with pytest.raises(
        UsageError, match=r"--arch 'riscv64': not an architecture images are built for; choose one of amd64, arm64"
    ):
        base.build_base(Settings(), arch="riscv64")


def test_a_foreign_arch_needs_qemu_registered(monkeypatch, tmp_path):
    monkeypatch.setattr(base.os, "geteuid", lambda: 0)
    monkeypatch.setattr(base.shutil, "which", lambda name: "/usr/sbin/debootstrap")
    monkeypatch.setattr(emulation, "BINFMT", tmp_path)
    monkeypatch.setattr(emulation, "host_arch", lambda: "amd64")
    with pytest.raises(UsageError, match=r"--arch arm64: .*no qemu-aarch64 in binfmt_misc. Install qemu-user-static"):
        base.build_base(Settings(), arch="arm64")
    (tmp_path / "qemu-aarch64").write_text("disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    assert emulation.emulator_problem("arm64") != ""
    (tmp_path / "qemu-aarch64").write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    assert emulation.emulator_problem("arm64") == ""
    assert emulation.emulator_problem("amd64") == ""  # the machine's own


def test_needs_root(monkeypatch):
    monkeypatch.setattr(base.os, "geteuid", lambda: 1000)
    with pytest.raises(UsageError, match="needs root: run it as root"):
        base.build_base(Settings())


def test_needs_debootstrap(monkeypatch):
    monkeypatch.setattr(base.os, "geteuid", lambda: 0)
    monkeypatch.setattr(base.shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="debootstrap is not installed: `apt-get install debootstrap`"):
        base.build_base(Settings())
