"""Fixtures the unit tests share."""

import shutil

import pytest

from envkit import ROOT
from envkit.catalog import advisories, data_files


def _forget_data_files():
    for reader in (data_files.variants_file, data_files.compat_file, advisories.advisories):
        reader.cache_clear()


@pytest.fixture
def env_copy(tmp_path, monkeypatch):
    """A copy of env/ the kit reads its data files from, for a test to edit;
    what was read before or during the test is forgotten on both sides."""
    folder = tmp_path / "env"
    shutil.copytree(ROOT / "env", folder)
    monkeypatch.setattr(data_files, "ENV_DIR", folder)
    _forget_data_files()
    yield folder
    _forget_data_files()
