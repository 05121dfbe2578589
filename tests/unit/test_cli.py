"""The real `invoke` command line on bad input: a clear message, a non-zero
exit, no traceback, and no docker build started. A stand-in docker client
(configured as envkit.docker_client and first on PATH) logs every call."""

import os

import pytest

from tests.helpers import make_fake_docker


@pytest.fixture
def fake_docker(tmp_path):
    client = make_fake_docker(tmp_path / "bin", "20.10.24+dfsg1")
    return {
        "client": client,
        "log": tmp_path / "bin" / "calls.log",
        "env": {
            "PATH": f"{client.parent}:{os.environ['PATH']}",
            "INVOKE_ENVKIT_DOCKER_CLIENT": str(client),
            # No daemon listens here, so nothing can reach a real one by accident.
            "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock",
        },
    }


def assert_clean_failure(result, message, code=2):
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert message in result.stderr, output
    assert "Traceback" not in output
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--cuda", "11.7"], "--cuda 11.7: torch 2.4.1 has no cu117 build; its builds are: cpu, 11.8, 12.1"),
        (["build", "--cuda", "12"], "--cuda '12': not a CUDA version"),
        (["build", "--cuda", "gpu"], "--cuda 'gpu': not a CUDA version"),
        (["build", "--cuda", ""], "--cuda '': an empty value; give one, or leave the flag out."),
        (["build"], "--cuda is required"),
        (["build", "--cuda", "12.1", "--recipe", "docker"], "--recipe 'docker': unknown recipe"),
        (["build", "--cuda", "12.1", "--torch", "2.7.0"], "torch 2.7.0 has no cu121 build"),
        (["build", "--cuda", "11.8", "--torch", "2.6.0", "--recipe", "conda"], "is not on the pytorch conda channel"),
        (["build", "--cuda", "12.1", "--python", "3.7"], "--python 3.7: torch 2.4.1 has no wheels for Python 3.7"),
        (
            ["build", "--cuda", "12.1", "--ca-cert", "/no/such/ca.pem"],
            "--ca-cert (or envkit.ca_cert) '/no/such/ca.pem': no such",
        ),
        (["test", "--cuda", "11.7"], "--cuda 11.7: torch 2.4.1 has no cu117 build"),
        (["test", "--cuda", "12.1", "--gpus", "some"], "--gpus 'some': choose one of auto, none, all."),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_bad_input_fails_before_any_docker_command(run_invoke, fake_docker, args, message):
    result = run_invoke(*args, env=fake_docker["env"])
    assert_clean_failure(result, message)
    assert not fake_docker["log"].exists(), fake_docker["log"].read_text()


# build probes the client before it connects; test needs no client at all.
@pytest.mark.parametrize(("task", "probes"), [("build", ["buildx version", "--version"]), ("test", [])])
def test_unreachable_daemon(run_invoke, fake_docker, task, probes):
    result = run_invoke(task, "--cuda", "12.1", env=fake_docker["env"])
    assert_clean_failure(result, "the Docker daemon is not reachable at unix://")
    assert "Start it (`sudo systemctl start docker`" in result.stderr
    calls = fake_docker["log"].read_text().splitlines() if fake_docker["log"].exists() else []
    assert calls == probes  # no build started


def test_no_buildkit_capable_client(run_invoke, fake_docker, tmp_path):
    modern = make_fake_docker(tmp_path / "modern", "28.2.2")
    env = {**fake_docker["env"], "INVOKE_ENVKIT_DOCKER_CLIENT": str(modern)}
    result = run_invoke("build", "--cuda", "12.1", env=env)
    assert_clean_failure(result, f"no BuildKit-capable docker client (tried: {modern})")
    calls = (tmp_path / "modern" / "calls.log").read_text().splitlines()
    assert calls == ["buildx version", "--version"]


def test_ca_cert_comes_from_config_file_then_environment_then_flag(run_invoke, fake_docker, tmp_path):
    # A user-level invoke.yaml (~/.invoke.yaml); a project-level one beside tasks.py ranks the same.
    (tmp_path / ".invoke.yaml").write_text("envkit:\n  ca_cert: /from/config.pem\n")
    env = {**fake_docker["env"], "HOME": str(tmp_path)}
    from_file = run_invoke("build", "--cuda", "12.1", env=env)
    assert_clean_failure(from_file, "'/from/config.pem': no such file")
    env["INVOKE_ENVKIT_CA_CERT"] = "/from/env.pem"
    assert_clean_failure(run_invoke("build", "--cuda", "12.1", env=env), "'/from/env.pem': no such file")
    from_flag = run_invoke("build", "--cuda", "12.1", "--ca-cert", "/from/flag.pem", env=env)
    assert_clean_failure(from_flag, "'/from/flag.pem': no such file")


def test_every_task_documents_every_flag(run_invoke):
    import inspect

    import tasks

    for name in tasks.ns.task_names:
        task = tasks.ns[name]
        # Invoke strips a trailing underscore (all_ is --all), in help keys too.
        parameters = {p.rstrip("_") for p in list(inspect.signature(task.body).parameters)[1:]}
        assert set(task.help) == parameters, f"invoke {name}: help for {sorted(set(task.help) ^ parameters)}"
        assert all(text.strip() for text in task.help.values()), name
        result = run_invoke("--help", name)
        assert result.returncode == 0, result.stderr
        options = [line for line in result.stdout.splitlines() if line.strip().startswith("-")]
        assert len(options) == len(parameters) and all(len(line.split(None, 2)) >= 3 for line in options), result.stdout
