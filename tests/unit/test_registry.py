"""Registry addresses, when plain HTTP is used, and where logins come from."""

import base64
import json
from types import SimpleNamespace

import pytest

from envkit.core.references import RegistryTarget
from envkit.release.registry import is_insecure, stored_credentials


@pytest.mark.parametrize(
    ("value", "host", "namespace"),
    [
        ("127.0.0.1:5000/team", "127.0.0.1:5000", "team"),
        ("registry.example.com/ml/envs", "registry.example.com", "ml/envs"),
        ("localhost/team", "localhost", "team"),
        ("ghcr.io/our-org", "ghcr.io", "our-org"),
    ],
)
def test_target(value, host, namespace):
    target = RegistryTarget.parse(value)
    assert (target.host, target.namespace) == (host, namespace)
    assert target.repository("torch-env") == f"{host}/{namespace}/torch-env"


@pytest.mark.parametrize(
    "value",
    [
        "team",
        "127.0.0.1:5000",
        "127.0.0.1:5000/",
        "registry/team",
        "ghcr.io/Team",
        "ghcr.io/team//x",
        "",
        "host:99999/ns",
        "host:abc/ns",
        "host:0/ns",
        "ex ample.com/ns",
    ],
)
def test_bad_target(value):
    with pytest.raises(ValueError, match="expected HOST\\[:PORT\\]/NAMESPACE"):
        RegistryTarget.parse(value)


def engine_with_insecure(*hosts):
    configs = {host: {"Secure": False} for host in hosts}
    return SimpleNamespace(info=lambda: {"RegistryConfig": {"IndexConfigs": configs}})


@pytest.mark.parametrize(
    ("host", "insecure"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("localhost", True),
        ("[::1]:5000", True),
        ("registry.example.com", False),
        ("10.0.0.5:5000", False),
        ("mirror.lan:5000", True),
    ],
)
def test_plain_http_only_where_the_daemon_uses_it(host, insecure):
    assert is_insecure(engine_with_insecure("mirror.lan:5000"), host) is insecure


def test_logins_come_from_dockers_own_config(tmp_path, monkeypatch):
    auth = base64.b64encode(b"ci-user:s3cret").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"127.0.0.1:5000": {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert stored_credentials("127.0.0.1:5000") == ("ci-user", "s3cret")
    assert stored_credentials("127.0.0.1:6000") is None
