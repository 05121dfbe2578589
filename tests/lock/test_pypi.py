"""The real thing: the cu121 lock regenerates bit-identically from its
inputs on PyPI (uv's --exclude-newer pins the moment PyPI is read at)."""

from pathlib import Path

import pytest

from envkit import ROOT
from tests.helpers import copy_repo, invoke_in

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.mark.network
def test_cu121_lock_regenerates_bit_identically_from_pypi(tmp_path):
    repo = copy_repo(tmp_path / "kit")
    ca = ["--ca-cert", str(HOST_CA_BUNDLE)] if HOST_CA_BUNDLE.is_file() else []
    result = invoke_in(repo, "lock", "--cuda", "12.1", *ca)
    assert result.returncode == 0, result.stderr
    for name in ("cu121.txt", "cu121.shared.txt"):
        assert (repo / "env" / "pip" / name).read_bytes() == (ROOT / "env" / "pip" / name).read_bytes(), name
