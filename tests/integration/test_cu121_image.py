"""The real cu121 pip image, built by `invoke build` on a base from `invoke
base` and tested by `invoke test`, checked again from inside."""

import json
import subprocess

import pytest

from envkit import ROOT
from envkit.catalog.selection import select
from envkit.checks.container import ProbeContainer
from envkit.core import engine, provenance
from envkit.recipes.files import read_pip
from tests.integration.session import CI_IMAGE_NAME

EXPECTED_CHECKS = {
    "verify_install",
    "pins",
    "first_program",
    "concepts",
    "pip_check",
    "matches_recipe",
    "smoke:nms",
    "smoke:pil_transforms",
    "smoke:numpy_bridge",
    "smoke:torchaudio_transform",
    "smoke:model_forward",
    "smoke:compile_cpu",
    "inventory",
}


@pytest.fixture
def box(docker_client, cu121_build):
    with ProbeContainer(docker_client, cu121_build.image_id, gpus=False) as container:
        yield container


pytestmark = pytest.mark.compat


def python_json(box, code):
    run = box.exec(["python", "-c", code], timeout=300)
    assert run.ok, run.stderr
    return json.loads(run.stdout)


def test_invoke_test_passed_every_check(cu121_report, cu121_build, docker_client):
    assert cu121_report.passed, [c for c in cu121_report.checks if not c.passed]
    assert {c.name for c in cu121_report.checks} >= EXPECTED_CHECKS
    assert cu121_report.image_id == cu121_build.image_id
    assert cu121_report.image == f"{CI_IMAGE_NAME}:cu121-pip"
    # The unpacked size on either store (the containerd store's inspect Size is the compressed layers').
    assert cu121_report.image_size == engine.unpacked_size(
        docker_client, docker_client.images.get(cu121_build.image_id)
    )


def test_versions_measured_inside_the_image(box, cu121_report):
    facts = python_json(
        box,
        (
            "import json, sys, torch, torchvision, torchaudio; print(json.dumps({"
            "'torch': torch.__version__, 'cuda': torch.version.cuda, 'cudnn': torch.backends.cudnn.version(), "
            "'python': list(sys.version_info[:2]), 'vision': torchvision.__version__, "
            "'audio': torchaudio.__version__}))"
        ),
    )
    assert facts["torch"].split("+")[0] == "2.4.1"
    assert facts["cuda"] == "12.1"
    assert facts["cudnn"] // 10000 == 9  # cuDNN 9 (90100 is 9.1.0)
    assert facts["python"] == [3, 11]
    assert (facts["vision"].split("+")[0], facts["audio"].split("+")[0]) == ("0.19.1", "2.4.1")
    measured = cu121_report.measured
    assert (measured.torch, measured.cuda_compiled, measured.cudnn) == (facts["torch"], "12.1", "9.1.0")


def test_pip_check_is_clean(box):
    run = box.exec(["python", "-m", "pip", "check"])
    assert run.ok and "No broken requirements found." in run.stdout, run.stdout + run.stderr


def test_every_installed_package_equals_the_lock(box):
    installed = python_json(
        box,
        (
            "import json, importlib.metadata as m; "
            "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): d.version for d in m.distributions()}))"
        ),
    )
    assert installed == read_pip(ROOT / select("12.1").lock_file).versions()


def test_image_user_workdir_env_and_labels(docker_client, cu121_build):
    config = docker_client.images.get(cu121_build.image_id).attrs["Config"]
    assert config["User"] == "1000:1000"
    assert config["WorkingDir"] == "/workspace"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert (env["PYTORCH_VERSION"], env["TORCHVISION_VERSION"], env["TORCHAUDIO_VERSION"]) == (
        "2.4.1",
        "0.19.1",
        "2.4.1",
    )
    assert env["VIRTUAL_ENV"] == "/opt/venv" and env["PATH"].startswith("/opt/venv/bin:")
    labels = config["Labels"]
    assert labels["io.envkit.variant"] == "cu121-pip"
    assert labels["io.envkit.recipe"] == "pip" and labels["io.envkit.platform"] == "cu121"
    assert labels["org.opencontainers.image.version"] == "2.4.1"
    assert labels["org.opencontainers.image.revision"] == provenance.current().revision
    assert labels["org.opencontainers.image.created"] not in ("", "unknown")
    assert labels["org.opencontainers.image.source"]
    assert labels["org.opencontainers.image.base.name"] == "torch-env-base:bookworm"


def test_the_recorded_size_is_what_the_files_take_unpacked_on_either_store(box, cu121_build):
    # The containerd store's inspect Size is its compressed layers' (about 55% of the files here); the build
    # record and the bench say the unpacked size on both stores. du: apparent bytes, the root file system only
    # (what the user may not read, such as /root, is a few kB).
    run = box.exec(["sh", "-c", "du -sbx / 2>/dev/null; true"])
    visible = int(run.stdout.split()[0])
    assert 0.95 <= visible / cu121_build.size_bytes <= 1.05, (visible, cu121_build.size_bytes)


def test_runs_as_the_non_root_user_with_a_writable_workspace(box):
    run = box.exec(["sh", "-c", "id -u && id -g && touch /workspace/probe && pwd"])
    assert run.ok and run.stdout.split() == ["1000", "1000", "/workspace"], run.stdout + run.stderr
    assert not box.exec(["touch", "/opt/venv/probe"]).ok  # the environment is read-only to the user


def test_ca_bundle_left_no_trace(docker_client, cu121_build, box):
    history = subprocess.run(
        ["docker", "history", "--no-trunc", cu121_build.image_id], capture_output=True, text=True, check=True
    ).stdout
    assert "BEGIN CERTIFICATE" not in history
    assert "ca-certificates.crt" not in history
    # Nothing is left where the secret was mounted (the classic store keeps the empty mount point, the
    # containerd store none); the apt setting that named it is gone.
    secrets = box.exec(["sh", "-c", "test ! -e /run/secrets || ls -A /run/secrets"])
    assert secrets.ok and secrets.stdout == "", secrets.stdout
    apt_settings = box.exec(["ls", "/etc/apt/apt.conf.d/"])
    assert apt_settings.ok and "99envkit-ca" not in apt_settings.stdout


def test_compiler_for_torch_compile_is_in_the_image(box):
    run = box.exec(["sh", "-c", "g++ --version | head -1"])
    assert run.ok and "g++" in run.stdout


def test_the_sbom_lists_exactly_the_image_packages_with_the_lock_hashes(box, cu121_report, kit_session):
    """Checked against other tools than the inventory check's: the lock,
    `pip freeze` (the report's facts) and dpkg's own status lines."""
    image_id = cu121_report.image_id
    path = kit_session.reports / "manifests" / f"cu121-pip-{image_id.split(':')[1][:12]}.cdx.json"
    document = json.loads(path.read_text())
    assert document["metadata"]["component"]["version"] == image_id
    components = document["components"]
    pypi = {c["name"]: c for c in components if c["purl"].startswith("pkg:pypi/")}
    lock = read_pip(ROOT / "env" / "pip" / "cu121.txt").pins
    assert {name: c["version"] for name, c in pypi.items()} == {name: pin.version for name, pin in lock.items()}
    frozen = dict(line.lower().split("==") for line in cu121_report.facts.packages)
    assert {name.replace("_", "-"): version for name, version in frozen.items()} == {
        name: c["version"] for name, c in pypi.items()
    }
    for name, component in pypi.items():
        [digest] = component["hashes"]
        assert f"sha256:{digest['content']}" in lock[name].hashes, name
    run = box.exec(["dpkg", "-l"], timeout=60)
    assert run.ok, run.stderr
    installed = {
        f"{cols[1].split(':')[0]}@{cols[2]}" for line in run.stdout.splitlines() if (cols := line.split())[:1] == ["ii"]
    }
    debian = {f"{c['name']}@{c['version']}" for c in components if c["purl"].startswith("pkg:deb/")}
    assert debian == installed
    assert len(components) == len(pypi) + len(debian)
