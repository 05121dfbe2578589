"""Settings and config files, checked where they are read: every bad value is
one message that names the flag or key, the value and the fix."""

import inspect
from dataclasses import fields

import pytest
from invoke.config import Config

import tasks
from envkit.core.errors import InvalidValue, UsageError
from envkit.core.references import RegistryTarget
from envkit.core.settings import _FLAGS, Settings, Size, _flag, check_config_file

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "ca.pem").write_text(PEM)
    (tmp_path / "empty.pem").write_text("")
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("config", "flags", "message"),
    [
        ({}, {"ca_cert": "{tmp}/missing.pem"}, "--ca-cert (or envkit.ca_cert) '{tmp}/missing.pem': no such file"),
        ({}, {"ca_cert": "{tmp}/folder"}, "a folder, not a file"),
        ({}, {"ca_cert": "{tmp}/empty.pem"}, "'{tmp}/empty.pem': empty; pass the PEM bundle"),
        ({"ca_cert": "{tmp}/notes.txt"}, {}, "not a PEM certificate bundle"),
        ({"ca_cert": {"a": 1}}, {}, "envkit.ca_cert {'a': 1}: not a string; set it to one in invoke.yaml."),
        ({"image_name": 5}, {}, "envkit.image_name 5: not a string"),
        ({"registry": list(range(1000))}, {}, "envkit.registry [0, 1, 2, 3, 4, 5, ...]: not a string"),
        ({}, {"registry": "host:99999/ns"}, "port 99999 is not between 1 and 65535"),
        ({}, {"registry": "host:abc/ns"}, "'host:abc' is not a host name"),
        ({}, {"registry": "ghcr.io/Team"}, "'Team' is not a namespace"),
        ({}, {"index_url": "notaurl"}, "--index-url (or envkit.index_url) 'notaurl': not a URL"),
        ({}, {"index_url": "https://"}, "names no host"),
        ({}, {"extra_index_url": "https://ok.example/simple ftp://x"}, "ftp://x: not a URL"),
        ({"mirrors": "https://pypi.org/simple"}, {}, "is not UPSTREAM=MIRROR"),
        ({"mirrors": "https://pypi.org/simple=mirror"}, {}, "mirror: not a URL"),
        ({}, {"base_suite": "a b"}, "--suite (or envkit.base_suite) 'a b': not a Debian suite name"),
        ({}, {"base_mirror": "deb.debian.org"}, "--mirror (or envkit.base_mirror) 'deb.debian.org': not a URL"),
        ({"base_tag": "torch-env-base:{sweet}"}, {}, "envkit.base_tag 'torch-env-base:{sweet}': unknown field {sweet}"),
        ({"base_tag": "torch-env-base:{suite"}, {}, "not a template"),
        ({"base_tag": "Torch:{suite}"}, {}, "not an image reference"),
        ({"image_name": "torch-env:latest"}, {}, "a name without tag or digest"),
        ({}, {"base_image": "python:3.11 slim"}, "--base-image (or envkit.base_image) 'python:3.11 slim': not an"),
        ({}, {"ca_cert": ""}, "--ca-cert '': an empty value"),
        ({}, {"base_image": " "}, "--base-image ' ': an empty value"),
    ],
)
def test_bad_settings(files, config, flags, message):
    def fill(value):
        return value.replace("{tmp}", str(files)) if isinstance(value, str) else value

    with pytest.raises(UsageError) as error:
        Settings.from_config({k: fill(v) for k, v in config.items()}, **{k: fill(v) for k, v in flags.items()})
    assert fill(message) in str(error.value)


def test_good_settings_pass_and_flags_win(files):
    settings = Settings.from_config(
        {"ca_cert": str(files / "ca.pem"), "registry": "127.0.0.1:5000/team", "mirrors": ""},
        registry="registry.example.com:443/ml/envs",
        index_url="file:///srv/simple",
        base_image="python:3.11-slim-bookworm@sha256:" + "a" * 64,
    )
    assert settings.registry == RegistryTarget("registry.example.com:443", "ml/envs")
    assert settings.ca_cert == (files / "ca.pem").resolve()


def test_structured_settings_are_parsed_once_into_their_types():
    settings = Settings.from_config(
        {
            "shm_size": "8g",
            "mirrors": "https://pypi.org/simple/=https://pypi.corp/simple https://download.pytorch.org/whl=file:///w",
            "extra_index_url": "http://a/simple http://b/simple",
        }
    )
    assert settings.shm_size == Size("8g", 8 * 2**30)
    assert settings.mirrors == (
        ("https://pypi.org/simple", "https://pypi.corp/simple"),
        ("https://download.pytorch.org/whl", "file:///w"),
    )
    assert settings.extra_index_url == ("http://a/simple", "http://b/simple")
    assert (Settings().registry, Settings().shm_size, Settings().ca_cert) == (None, None, None)


def test_a_wrong_value_is_one_error_type_with_its_subject_value_problem_and_fix():
    with pytest.raises(InvalidValue) as error:
        Settings.from_config({"shm_size": "1m"})
    wrong = error.value
    assert (wrong.subject, wrong.value, wrong.problem, wrong.fix) == (
        "--shm-size (or envkit.shm_size)",
        "1m",
        "smaller than Docker's own 64m default",
        "give at least 64m",
    )
    assert (
        str(wrong) == "--shm-size (or envkit.shm_size) '1m': smaller than Docker's own 64m default; give at least 64m."
    )
    assert wrong.code == 2


def test_the_settings_named_as_flags_are_the_ones_a_task_takes():
    parameters = {name for task in tasks.ns.tasks.values() for name in inspect.signature(task.body).parameters}
    flags = {_flag(field.name) for field in fields(Settings)} & parameters
    assert {key for key in (field.name for field in fields(Settings)) if _flag(key) in flags} == _FLAGS


INVOKE_SECTIONS = set(Config.global_defaults())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("envkit: [1, 2\n", "not valid YAML (while parsing a flow sequence"),
        ("envkit: 5\n", "`envkit:` must be a mapping of settings, not 5"),
        ("envkit:\n  ca_cert: {a: 1}\n", "`envkit.ca_cert` must be a string, not {'a': 1}"),
        ("envkt:\n  ca_cert: x\n", "unknown section `envkt` (did you mean `envkit:`?)"),
        ("envkit:\n  ca_certs: x\n", "unknown setting `envkit.ca_certs`; did you mean `ca_cert`?"),
        ("builds:\n  x: 1\n", "unknown section `builds`; the kit's settings go under `envkit:`"),
        ("- envkit\n", "expected a mapping of sections"),
        ("\x00\xff", "not UTF-8 text (byte 0xff at line 1, column 2)"),
    ],
)
def test_bad_project_config_file(tmp_path, text, message):
    path = tmp_path / "invoke.yaml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(UsageError) as error:
        check_config_file(path, INVOKE_SECTIONS, project=True)
    assert message in str(error.value) and str(path) in str(error.value)


def test_a_user_config_may_hold_other_projects_sections(tmp_path):
    path = tmp_path / ".invoke.yaml"
    path.write_text("myproject:\n  x: 1\nrun:\n  echo: true\nenvkit:\n  ca_cert: /etc/ssl/certs/ca-certificates.crt\n")
    check_config_file(path, INVOKE_SECTIONS, project=False)
    path.write_text("envkitt:\n  ca_cert: x\n")
    with pytest.raises(UsageError, match="did you mean `envkit:`"):
        check_config_file(path, INVOKE_SECTIONS, project=False)
