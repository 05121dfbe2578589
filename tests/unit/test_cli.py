"""The real `invoke` command line on bad input: a clear message, a non-zero
exit, no traceback, and no docker build started. A stand-in docker client
(configured as envkit.docker_client and first on PATH) logs every call."""

import os

import pytest

from envkit import ROOT
from tests.helpers.checkout import copy_repo, invoke_in
from tests.helpers.fake_docker import make_fake_docker


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
        (["lock", "--recipe", "poetry"], "--recipe 'poetry': unknown recipe; choose one of pip, conda."),
        (["lock", "--torch", "latest"], "--torch latest: not in the compatibility table (env/compat.toml)"),
        (["build", "--cuda", "12.1", "--torch", ""], "--torch '': an empty value; give one, or leave the flag out."),
        (["build", "--cuda", "12.1", "--python", ""], "--python '': an empty value"),
        (["build", "--cuda", "12.1", "--wheelhouse", ""], "--wheelhouse '': an empty value"),
        (["build", "--cuda", "12.1", "--base-image", ""], "--base-image '': an empty value"),
        (["wheelhouse", "--cuda", "12.1", "--dir", ""], "--dir '': an empty value"),
        (["build", "--cuda", "12.1", "--cuda", "11.8"], "--cuda is given twice to `invoke build`: give it once."),
        (["build", "-c", "12.1", "--cuda=11.8"], "--cuda is given twice to `invoke build`: give it once."),
        (["publish", "--cuda", "12.1", "--registry", "host:99999/ns"], "port 99999 is not between 1 and 65535"),
        (["publish", "--cuda", "12.1", "--registry", "host:abc/ns"], "'host:abc' is not a host name"),
        (["publish", "--cuda", "12.1"], "--registry is required: HOST[:PORT]/NAMESPACE"),
        (
            ["lock", "--cuda", "12.1", "--index-url", "notaurl"],
            "--index-url (or envkit.index_url) 'notaurl': not a URL",
        ),
        (["base", "--suite", "a b"], "--suite (or envkit.base_suite) 'a b': not a Debian suite name"),
        (
            ["build", "--cuda", "11.8", "--wheelhouse", "/nonexistent"],
            "env/pip/cu118.txt has no hashes. Lock it first with `invoke lock --cuda 11.8` where "
            "https://download.pytorch.org/whl/cu118 is reachable, then fill one with `invoke wheelhouse --cuda 11.8`.",
        ),
        (
            ["wheelhouse", "--cuda", "12.1", "--dir", "."],
            "a folder that is not a wheelhouse (no valid wheelhouse.json)",
        ),
        (["wheelhouse", "--cuda", "12.1", "--dir", "README.md"], "a file, not a folder"),
        (["build", "--cuda", "12.1", "--wheelhouse", "env"], "--wheelhouse {root}/env: not a wheelhouse (no valid"),
        (["publish", "--cuda", "12.1", "--registry", "h.io/t", "--ca-cert", "README.md"], "not a PEM certificate"),
        (["wheelhouse", "--cuda", "12.1", "--dir", "README.md/wheels"], "README.md is a file, not a folder."),
        # Found by the fuzz tests: a name longer than the file system allows was a traceback.
        (["wheelhouse", "--cuda", "12.1", "--dir", "x" * 300], "not a usable path (File name too long)."),
        (["build", "--cuda", "12.1", "--ca-cert", "x" * 300], "not a usable path (File name too long); pass"),
        (["bench", "--cuda", "12.1"], "(`docker builder prune --all`: every project's build cache"),
        (["bench", "--cuda", "12.1", "--runs", "0", "--empty-build-cache"], "--runs 0: give a number of runs from 1"),
        (["bench", "--cuda", "12.1", "--runs", "x", "--empty-build-cache"], "--runs 'x': give a number of runs"),
        (["bench", "--cuda", "12.1", "--runs", "21", "--empty-build-cache"], "--runs 21: give a number of runs"),
        (["build", "--cuda", "12.1", "--arch", "all"], "--arch all: cu121-pip is declared for amd64 only"),
        (["test", "--cuda", "12.1", "--arch", "all"], "--arch all: cu121-pip is declared for amd64 only"),
        (["build", "--cuda", "cpu", "--arch", "all", "--dev"], "--arch all: dev images are built for the first"),
        (["build", "--cuda", "cpu", "--arch", "all", "--wheelhouse", "x"], "--arch all: a wheelhouse holds one"),
        (["build", "--cuda", "cpu", "--arch", "al"], "--arch 'al': not an architecture images are built for"),
        (["test", "--image", "x:y", "--arch", "all"], "--image names the image, and its labels the variant"),
        (
            ["publish", "--cuda", "cpu", "--arch", "all", "--registry", "h.io/t"],
            "--arch all: without --arch, `invoke publish` publishes every architecture as one index.",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_bad_input_fails_before_any_docker_command(run_invoke, fake_docker, args, message):
    result = run_invoke(*args, env=fake_docker["env"])
    assert_clean_failure(result, message.replace("{root}", str(ROOT)))
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


def test_every_task_documents_every_flag():
    import contextlib
    import copy
    import inspect
    import io

    from invoke import Program

    import tasks

    for name in tasks.ns.task_names:
        task = tasks.ns[name]
        # Invoke strips a trailing underscore (all_ is --all), in help keys too.
        parameters = {p.rstrip("_") for p in list(inspect.signature(task.body).parameters)[1:]}
        assert set(task.help) == parameters, f"invoke {name}: help for {sorted(set(task.help) ^ parameters)}"
        assert all(text.strip() for text in task.help.values()), name
        shown = io.StringIO()  # `invoke --help NAME`, in-process: Invoke's own Program over tasks.py
        with contextlib.redirect_stdout(shown), pytest.raises(SystemExit) as done:
            # a copy: building its parser takes the help texts out of each task
            Program(namespace=copy.deepcopy(tasks.ns), version="0").run(["invoke", "--help", name])
        assert done.value.code in (0, None), shown.getvalue()
        options = [line for line in shown.getvalue().splitlines() if line.strip().startswith("-")]
        assert len(options) == len(parameters) and all(len(line.split(None, 2)) >= 3 for line in options), (
            shown.getvalue()
        )


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"INVOKE_ENVKIT_BASE_TAG": "torch-env-base:{sweet}"}, ["base"], "unknown field {sweet}: the only field is"),
        ({"INVOKE_ENVKIT_REGISTRY": "ghcr.io/Team"}, ["test", "--cuda", "12.1"], "'Team' is not a namespace"),
        ({"INVOKE_ENVKIT_MIRRORS": "pypi"}, ["lock"], "envkit.mirrors 'pypi': 'pypi' is not UPSTREAM=MIRROR"),
        (
            {"INVOKE_ENVKIT_REPORTS_DIR": "{tmp}/a-file/reports"},
            ["build", "--cuda", "12.1"],
            "is not a writable folder",
        ),
        ({"INVOKE_ENVKIT_CA_CERT": "{tmp}"}, ["lock", "--cuda", "12.1"], "a folder, not a file"),
        ({"INVOKE_ENVKIT_CA_CERT": "{tmp}/empty.pem"}, ["wheelhouse", "--cuda", "12.1"], "empty; pass the PEM bundle"),
        ({"INVOKE_ENVKIT_CA_CERT": "{tmp}/a-file"}, ["publish", "--cuda", "12.1"], "not a PEM certificate bundle"),
        (
            {"INVOKE_ENVKIT_SHM_SIZE": "lots"},
            ["run", "--", "true"],
            "--shm-size (or envkit.shm_size) 'lots': not a size",
        ),
        ({"INVOKE_ENVKIT_PINS_FILE": "{tmp}/a-file"}, ["pull", "--all"], "a-file: not valid JSON"),
        ({"INVOKE_ENVKIT_PINS_FILE": "{tmp}/none.json"}, ["pull", "--cuda", "12.1"], "cu121-pip is not pinned in"),
    ],
    ids=[
        "base_tag",
        "registry",
        "mirrors",
        "reports_dir",
        "ca-folder",
        "ca-empty",
        "ca-not-pem",
        "shm",
        "pins",
        "unpinned",
    ],
)
def test_bad_settings_fail_before_anything_starts(run_invoke, fake_docker, tmp_path, env, args, message):
    (tmp_path / "a-file").write_text("not a folder, not a certificate\n")
    (tmp_path / "empty.pem").write_text("")
    env = {key: value.replace("{tmp}", str(tmp_path)) for key, value in env.items()}
    result = run_invoke(*args, env={**fake_docker["env"], **env})
    assert_clean_failure(result, message)
    assert not fake_docker["log"].exists(), fake_docker["log"].read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("envkit: 5\n", "`envkit:` must be a mapping of settings, not 5"),
        ("envkit:\n  ca_cert: {a: 1}\n", "`envkit.ca_cert` must be a string"),
        ("envkt:\n  ca_cert: /x.pem\n", "unknown section `envkt` (did you mean `envkit:`?)"),
        ("envkit:\n  registy: ghcr.io/team\n", "unknown setting `envkit.registy`; did you mean `registry`?"),
    ],
    ids=["not-a-mapping", "not-a-string", "misspelled-section", "misspelled-key"],
)
def test_a_broken_user_invoke_yaml_is_one_message(run_invoke, fake_docker, tmp_path, text, message):
    # (A ~/.invoke.yaml that is not YAML at all is parsed by Invoke itself before
    # it loads tasks.py: that one is Invoke's traceback. See the project file below.)
    (tmp_path / ".invoke.yaml").write_text(text)
    result = run_invoke("build", "--cuda", "12.1", env={**fake_docker["env"], "HOME": str(tmp_path)})
    assert_clean_failure(result, message)
    assert f"{tmp_path}/.invoke.yaml: " in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("envkit: [1, 2\n", "invoke.yaml: not valid YAML (while parsing a flow sequence"),
        ("envkit: 5\n", "`envkit:` must be a mapping of settings, not 5"),
        ("builds:\n  x: 1\n", "unknown section `builds`; the kit's settings go under `envkit:`"),
    ],
    ids=["not-yaml", "not-a-mapping", "unknown-section"],
)
def test_a_broken_project_invoke_yaml_is_one_message(fake_docker, tmp_path, text, message):
    repo = copy_repo(tmp_path / "kit")
    (repo / "invoke.yaml").write_text(text)
    result = invoke_in(repo, "build", "--cuda", "12.1", env=fake_docker["env"])
    assert_clean_failure(result, message)
    assert not fake_docker["log"].exists()


def test_the_cuda_help_names_every_build_from_the_data(monkeypatch):
    """--cuda's help comes from env/variants.toml: each declared build and each line, never a stale literal."""
    import tasks
    from envkit.catalog.variants import cuda_flag, declared, lines

    text = tasks.cuda_help()
    for variant in declared():
        assert cuda_flag(variant.platform) in text
    for name, line in lines().items():
        assert f"the {name} line" in text and all(cuda_flag(platform) in text for platform in line.platforms)
    assert tasks.VARIANT_HELP["cuda"] == text
