"""`invoke base` decisions, without running debootstrap."""

import pytest

from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.images import base


def test_debootstrap_command():
    settings = Settings(base_mirror="http://mirror.example/debian", base_suite="bookworm")
    assert base.debootstrap_command(settings, base.Path("/tmp/root")) == [
        "debootstrap",
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
    }
    assert 'LABEL io.envkit.base.suite="trixie"' in base.import_changes(settings)
    assert 'CMD ["bash"]' in base.import_changes(settings)


def test_needs_root(monkeypatch):
    monkeypatch.setattr(base.os, "geteuid", lambda: 1000)
    with pytest.raises(UsageError, match="needs root: run it as root"):
        base.build_base(Settings())


def test_needs_debootstrap(monkeypatch):
    monkeypatch.setattr(base.os, "geteuid", lambda: 0)
    monkeypatch.setattr(base.shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="debootstrap is not installed: `apt-get install debootstrap`"):
        base.build_base(Settings())
