"""`invoke publish` against real registries on 127.0.0.1 (Debian's
docker-registry), started by the tests: one without auth and one behind
htpasswd. They share one storage folder, so the second push of the same
layers finds them there instead of sending 3 GB again; every request of the
second still goes through its authentication."""

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import docker
import pytest
import requests

from envkit.catalog.selection import select
from envkit.core import engine
from envkit.core.settings import Settings
from envkit.images import build
from envkit.images.context import copy_context
from tests.helpers.registry import LocalRegistry, free_port
from tests.integration.session import CI_IMAGE_NAME, report_json, run_cli, start_cli

PATH = f"team/{CI_IMAGE_NAME}"
PASSWORD = "envkit-test-pw-5f1c9"  # must never appear in any output, label or file of ours


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    """The open registry's storage (the cu121 image's 3 GB), gone with the module: the tests after need the disk."""
    folder = tmp_path_factory.mktemp("registry-storage")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory, storage):
    registry = LocalRegistry(tmp_path_factory.mktemp("open-registry"), storage=storage).start()
    yield registry
    registry.close()


@pytest.fixture
def fresh_registry(tmp_path):
    registry = LocalRegistry(tmp_path / "fresh-registry").start()
    yield registry
    registry.close()


@pytest.fixture
def docker_config(tmp_path):
    """An empty Docker client config, so no test touches (or uses) the user's logins."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    return folder


def publish(kit_session, registry_host, *flags, env=None):
    return run_cli(
        kit_session, "publish", "--cuda", "12.1", "--registry", f"{registry_host}/team", *flags, env=env, timeout=3000
    )


def assert_failed_cleanly(result, *fragments):
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    for fragment in fragments:
        assert fragment in result.stderr, output
    assert "Traceback" not in output


@pytest.fixture(scope="module")
def published(kit_session, cu121_report, open_registry, tmp_path_factory, docker_client):
    """The session's tested cu121 image, published with no auth, then every
    local tag of it deleted and each pulled back from the registry."""
    config = tmp_path_factory.mktemp("docker-config-open")
    pins = tmp_path_factory.mktemp("pins-open") / "published.json"  # its own: later publishes move the session's
    result = publish(
        kit_session, open_registry.host, env={"DOCKER_CONFIG": str(config), "INVOKE_ENVKIT_PINS_FILE": str(pins)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((kit_session.reports / "publish" / "cu121-pip.json").read_text())
    report_sha256 = hashlib.sha256((kit_session.reports / "tests" / "cu121-pip.json").read_bytes()).hexdigest()
    repository = f"{open_registry.host}/{PATH}"
    release_id = docker_client.images.get(f"{repository}:{cu121_report.tags['moving']}").id
    for tag in cu121_report.tags.values():
        docker_client.images.remove(f"{repository}:{tag}", noprune=True)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(release_id)
    pulled = {tag: docker_client.images.pull(repository, tag=tag) for tag in cu121_report.tags.values()}
    yield {
        "output": result.stdout,
        "record": record,
        "repository": repository,
        "pulled": pulled,
        "release_id": release_id,
        "pins": pins,
        "report_sha256": report_sha256,  # of the report the release was published from
    }
    # The pulled release is the module's own image: what it holds beyond the session's image goes with it.
    for tag in pulled:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(f"{repository}:{tag}")


@pytest.mark.compat
def test_every_measured_tag_is_in_the_registry(published, cu121_report, open_registry):
    tags = cu121_report.tags
    digest = published["record"]["tags"][0]["digest"]
    signatures = digest.replace(":", "-")  # cosign's referrers tag: the signature and the attestations
    assert open_registry.tags(PATH) == sorted([*tags.values(), signatures + ".sbom", signatures])
    assert [row["tag"] for row in published["record"]["tags"]] == [tags["immutable"], tags["versioned"], tags["moving"]]
    digests = {row["digest"] for row in published["record"]["tags"]}
    assert len(digests) == 1 and re.fullmatch(r"sha256:[0-9a-f]{64}", digests.pop())
    for tag in tags.values():
        assert tag in published["output"]


@pytest.mark.compat
def test_pulled_back_by_every_tag_as_the_tested_layers(published, cu121_build, docker_client):
    tested = docker_client.images.get(cu121_build.image_id)
    digest = published["record"]["tags"][0]["digest"]
    for tag, image in published["pulled"].items():
        assert image.id == published["release_id"], tag
        assert image.attrs["RootFS"]["Layers"] == tested.attrs["RootFS"]["Layers"], tag
        assert f"{published['repository']}@{digest}" in image.attrs["RepoDigests"]


@pytest.mark.compat
def test_labels_record_every_measured_version(published, cu121_report, cu121_build):
    labels = next(iter(published["pulled"].values())).labels
    measured = cu121_report.measured
    assert labels["io.envkit.torch"] == measured.torch == "2.4.1+cu121"
    assert labels["io.envkit.torchvision"] == measured.torchvision
    assert labels["io.envkit.torchaudio"] == measured.torchaudio
    assert (labels["io.envkit.cuda"], labels["io.envkit.cudnn"]) == ("12.1", "9.1.0")
    assert labels["io.envkit.python"] == measured.python
    assert labels["io.envkit.os"] == "Debian GNU/Linux 12 (bookworm)"
    assert (labels["io.envkit.variant"], labels["io.envkit.recipe"]) == ("cu121-pip", "pip")
    assert labels["io.envkit.recipe.sha256"] == cu121_report.facts.recipe_sha256
    assert labels["io.envkit.tested.image"] == cu121_build.image_id
    assert labels["org.opencontainers.image.revision"] == cu121_report.facts.revision


def collect_env(image_id):
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image_id, "python", "-m", "torch.utils.collect_env"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def field(text, name):
    return re.search(rf"^{re.escape(name)}: (.*)$", text, re.MULTILINE)[1].strip()


def test_tags_and_labels_agree_with_collect_env(published, cu121_report):
    image = published["pulled"][cu121_report.tags["immutable"]]
    text = collect_env(image.id)
    labels, tags = image.labels, cu121_report.tags
    torch = field(text, "PyTorch version")
    cuda = field(text, "CUDA used to build PyTorch")
    python = field(text, "Python version").split()[0]
    assert torch == labels["io.envkit.torch"]
    assert cuda == labels["io.envkit.cuda"]
    assert python == labels["io.envkit.python"]
    assert field(text, "OS").startswith(labels["io.envkit.os"])
    # pip lists the wheels' metadata versions; PyPI's cu121 wheels carry no +cu121 there,
    # though their __version__ (what the labels record) does.
    for package in ("torchvision", "torchaudio"):
        listed = re.search(rf"^\[pip3\] {package}==(\S+)$", text, re.MULTILINE)[1]
        assert listed == labels[f"io.envkit.{package}"].split("+")[0], package
    release, platform = torch.split("+")[0], "cu" + cuda.replace(".", "")
    python_minor = ".".join(python.split(".")[:2])
    assert tags["versioned"] == f"{release}-{platform}-py{python_minor}-pip"
    assert tags["moving"] == f"{platform}-pip"
    cudnn = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            image.id,
            "python",
            "-c",
            "import torch; print(torch.backends.cudnn.version())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    cudnn_text = f"{int(cudnn) // 10000}.{int(cudnn) % 10000 // 100}.{int(cudnn) % 100}"
    assert cudnn_text == labels["io.envkit.cudnn"]
    assert tags["immutable"].startswith(f"{release}-{platform}-cudnn{cudnn_text}-py{python}-pip-")


def test_publish_all_publishes_the_tested_and_lists_the_rest(published, kit_session, open_registry, docker_config):
    result = run_cli(
        kit_session,
        "publish",
        "--all",
        "--registry",
        f"{open_registry.host}/team",
        env={"DOCKER_CONFIG": str(docker_config)},
        timeout=3000,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert published["record"]["tags"][0]["tag"] in result.stdout
    skipped = result.stdout.split("skipped (no passing test for the image under their tag):")[1]
    assert sorted(re.findall(r"^  (\S+(?: \+ \S+)*): ", skipped, re.MULTILINE)) == sorted(
        ["cpu-pip + cpu-pip-arm64", "cu118-pip", "cpu-conda", "cu118-conda", "cu121-conda"]
    )  # a release of two architectures is published, or skipped, as one


def test_htpasswd_registry_needs_the_right_login(published, kit_session, tmp_path, docker_config, storage):
    registry = LocalRegistry(tmp_path / "auth-registry", storage=storage, users={"ci": PASSWORD}).start()
    try:
        env = {"DOCKER_CONFIG": str(docker_config)}
        assert_failed_cleanly(
            publish(kit_session, registry.host, env=env),
            f"registry {registry.host} needs a login: run `docker login {registry.host}`.",
        )
        wrong = {"auths": {registry.host: {"auth": "Y2k6bm90LXRoZS1wYXNzd29yZA=="}}}  # ci:not-the-password
        (docker_config / "config.json").write_text(json.dumps(wrong))
        assert_failed_cleanly(
            publish(kit_session, registry.host, env=env),
            f"registry {registry.host} refused the credentials Docker has stored for it",
        )
        subprocess.run(
            [engine.docker_cli(), "login", registry.host, "--username", "ci", "--password-stdin"],
            input=PASSWORD,
            text=True,
            check=True,
            capture_output=True,
            env={"DOCKER_CONFIG": str(docker_config)},
        )
        result = publish(kit_session, registry.host, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        record = json.loads((kit_session.reports / "publish" / "cu121-pip.json").read_text())
        tags = record["tags"]
        sbom_tag = record["sbom"]["reference"].rsplit(":", 1)[1]  # pushed with the same login
        signatures = sbom_tag.removesuffix(".sbom")  # signed with the same login
        assert registry.tags(PATH, auth=("ci", PASSWORD)) == sorted(
            [*(row["tag"] for row in tags), sbom_tag, signatures]
        )
        assert PASSWORD not in result.stdout + result.stderr
        leaked = [
            path for path in kit_session.reports.rglob("*") if path.is_file() and PASSWORD.encode() in path.read_bytes()
        ]
        assert leaked == []
        inspect = subprocess.run(
            ["docker", "inspect", f"{registry.host}/{PATH}:{tags[-1]['tag']}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert PASSWORD not in inspect
    finally:
        registry.close()


def test_dry_run_pushes_nothing(kit_session, cu121_report, fresh_registry, docker_client):
    # Another name on the same image sorts first in its tag list: the plan must still name the variant's tag.
    docker_client.images.get(cu121_report.image_id).tag("aaa-another-name", "first")
    try:
        result = publish(kit_session, fresh_registry.host, "--dry-run")
    finally:
        docker_client.images.remove("aaa-another-name:first", noprune=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(f"would push {CI_IMAGE_NAME}:cu121-pip (sha256:")
    assert f"{fresh_registry.host}/{PATH}:{cu121_report.tags['immutable']}  (immutable)" in result.stdout
    assert "io.envkit.torch=2.4.1+cu121" in result.stdout
    assert fresh_registry.tags(PATH) == []


def test_untested_and_rebuilt_images_are_refused(
    kit_session, cu121_report, cu121_build, base_image, fresh_registry, tmp_path, docker_client, make_room
):
    make_room(1, warm=True)  # its rebuild, with an edited example
    reports = tmp_path / "reports"
    never = publish(kit_session, fresh_registry.host, env={"INVOKE_ENVKIT_REPORTS_DIR": str(reports)})
    assert_failed_cleanly(never, f"{CI_IMAGE_NAME}:cu121-pip (", "has never been tested: run `invoke test")

    # The tested image, then a build newer than its report to the same id (what a no-op rebuild gives):
    # the content is the tested content, and the test holds.
    (reports / "tests").mkdir(parents=True)
    (reports / "tests" / "cu121-pip.json").write_text(report_json(cu121_report))
    (reports / "builds").mkdir()
    (reports / "builds" / "cu121-pip.json").write_text(
        report_json(dataclasses.replace(cu121_build, finished_at="2099-01-01T00:00:00+00:00"))
    )
    shutil.copytree(kit_session.reports / "manifests", reports / "manifests")  # its test's SBOM
    rebuilt = publish(kit_session, fresh_registry.host, "--dry-run", env={"INVOKE_ENVKIT_REPORTS_DIR": str(reports)})
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith(f"would push {CI_IMAGE_NAME}:cu121-pip ({cu121_report.image_id[:19]})")

    # A real rebuild with an edited example: a new image id under the tag, tested never.
    settings = Settings.from_config(
        {
            "image_name": "torch-env-ci-untested",
            "base_image": base_image,
            "reports_dir": str(reports),
            "ca_cert": kit_session.env.get("INVOKE_ENVKIT_CA_CERT", ""),
        }
    )
    context = copy_context(tmp_path / "context")
    with (context / "examples" / "concepts.py").open("a") as handle:
        handle.write("\n# rebuilt, never tested\n")
    try:
        build.build_image(select("12.1"), settings, context=context)
        other = publish(
            kit_session,
            fresh_registry.host,
            env={"INVOKE_ENVKIT_REPORTS_DIR": str(reports), "INVOKE_ENVKIT_IMAGE_NAME": "torch-env-ci-untested"},
        )
        assert_failed_cleanly(other, "is not the image that was tested", "it was built after its last test")
    finally:
        docker_client.images.remove("torch-env-ci-untested:cu121-pip", noprune=True)
    assert fresh_registry.tags(PATH) == [] and fresh_registry.tags("team/torch-env-ci-untested") == []


def local_state(kit_session, docker_client):
    report = (kit_session.reports / "tests" / "cu121-pip.json").read_bytes()
    return docker_client.images.get(f"{CI_IMAGE_NAME}:cu121-pip").id, report


def test_unreachable_registry(kit_session, cu121_report, docker_client):
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    before = local_state(kit_session, docker_client)
    result = publish(kit_session, nowhere)
    assert_failed_cleanly(
        result,
        f"cannot push {nowhere}/{PATH}:{cu121_report.tags['immutable']}: registry {nowhere} "
        "is not reachable (connection refused). Nothing was pushed.",
    )
    assert local_state(kit_session, docker_client) == before


def test_an_immutable_tag_is_never_overwritten(kit_session, cu121_report, base_image, fresh_registry, docker_client):
    immutable = cu121_report.tags["immutable"]
    squatter = f"{fresh_registry.host}/{PATH}:{immutable}"
    docker_client.images.get(base_image).tag(squatter)
    try:
        subprocess.run(["docker", "push", squatter], check=True, capture_output=True, timeout=900)
    finally:
        docker_client.images.remove(squatter, noprune=True)
    before = local_state(kit_session, docker_client)
    result = publish(kit_session, fresh_registry.host)
    assert_failed_cleanly(
        result,
        f"immutable tag {fresh_registry.host}/{PATH}:{immutable} already exists in "
        f"registry {fresh_registry.host} with another image",
        "refusing to overwrite it. Nothing was pushed.",
    )
    assert fresh_registry.tags(PATH) == [immutable]
    assert local_state(kit_session, docker_client) == before


def _uploaded_bytes(uploads):
    """Bytes in the registry's upload folders now; the registry moves and
    deletes them as uploads finish, so a folder may vanish while it is read."""
    total = 0
    for folder, _, files in os.walk(uploads):  # os.walk skips what vanished under it
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += (Path(folder) / name).stat().st_size if name == "data" else 0
    return total


def _wait_for_an_upload_under_way(uploads, process, deadline_seconds=600):
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline and process.poll() is None:
        if _uploaded_bytes(uploads) > 20_000_000:  # some layer is well under way
            return
        time.sleep(0.5)


def _stop(process):
    """A publish this test started never outlives it (its push would hold the
    daemon's upload of those layers for the next test)."""
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=60)


def test_a_push_interrupted_halfway_is_not_success(kit_session, cu121_report, fresh_registry, docker_client):
    before = local_state(kit_session, docker_client)
    command = ["publish", "--cuda", "12.1", "--registry", f"{fresh_registry.host}/team"]
    process = start_cli(kit_session, *command)
    uploads = fresh_registry.storage / "docker" / "registry" / "v2" / "repositories" / PATH / "_uploads"
    try:
        _wait_for_an_upload_under_way(uploads, process)
        fresh_registry.stop()
        stdout, stderr = process.communicate(timeout=900)
    finally:
        _stop(process)
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    immutable = cu121_report.tags["immutable"]
    assert_failed_cleanly(
        result,
        f"push of {fresh_registry.host}/{PATH}:{immutable} to {fresh_registry.host} failed",
        "Tags pushed before it: none. The release is incomplete",
    )
    assert local_state(kit_session, docker_client) == before
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{fresh_registry.host}/{PATH}:{immutable}")
    fresh_registry.start()  # the same storage again: no tag made it
    assert fresh_registry.tags(PATH) == []


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_publish_interrupted_mid_push(kit_session, cu121_report, fresh_registry, docker_client, number):
    """Ctrl-C or SIGTERM while a layer uploads: exit 130/143, no tag in the
    registry (the immutable one goes first and never finished; the moving one
    never moved), no local tag for the registry, reports as they were."""
    before = local_state(kit_session, docker_client)
    process = start_cli(kit_session, "publish", "--cuda", "12.1", "--registry", f"{fresh_registry.host}/team")
    uploads = fresh_registry.storage / "docker" / "registry" / "v2" / "repositories" / PATH / "_uploads"
    try:
        _wait_for_an_upload_under_way(uploads, process)
        process.send_signal(number)
        _, stderr = process.communicate(timeout=120)
    finally:
        _stop(process)
    assert process.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130}[number], stderr
    assert "stopped, and cleaned up what this task had started" in stderr and "Traceback" not in stderr
    time.sleep(2)  # let the daemon notice the push was dropped
    assert fresh_registry.tags(PATH) == []
    assert [tag for image in docker_client.images.list() for tag in image.tags if fresh_registry.host in tag] == []
    assert local_state(kit_session, docker_client) == before


# The gate reads the test report (a build record no longer decides anything there: the image id does).
@pytest.mark.parametrize("kind", ["tests"], ids=["test-report"])
def test_a_report_cut_short_by_a_crash_is_one_message(kit_session, cu121_report, cu121_build, tmp_path, kind):
    reports = tmp_path / "reports"
    for folder, body in (("tests", cu121_report), ("builds", cu121_build)):
        (reports / folder).mkdir(parents=True)
        text = report_json(body)
        (reports / folder / "cu121-pip.json").write_text(text[: len(text) // 2] if folder == kind else text)
    result = publish(kit_session, "127.0.0.1:5999", "--dry-run", env={"INVOKE_ENVKIT_REPORTS_DIR": str(reports)})
    assert result.returncode == 2, result.stdout + result.stderr
    first, fix = result.stderr.strip().splitlines()
    assert first.startswith(f"{reports}/{kind}/cu121-pip.json: not valid JSON (EOF while parsing")
    assert fix.startswith("It is not a report this kit wrote (or a crash cut it short): delete it and run `invoke")
    assert "Traceback" not in result.stdout + result.stderr


def test_a_publish_interrupted_before_the_first_push(kit_session, cu121_report, docker_client):
    """SIGTERM while the registry is checked (it answers nothing): exit 143,
    nothing tagged for the registry, reports as they were."""
    import http.server
    import threading

    released, asked = threading.Event(), threading.Event()

    class Hanging(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.set()
            released.wait(120)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    before = local_state(kit_session, docker_client)
    try:
        process = start_cli(kit_session, "publish", "--cuda", "12.1", "--registry", f"{host}/team")
        assert asked.wait(120), "publish never asked the registry"  # past the gate, waiting on it
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        released.set()
        server.shutdown()
        server.server_close()
    assert process.returncode == 143, stderr
    assert "stopped, and cleaned up what this task had started" in stderr and "Traceback" not in stderr
    assert [tag for image in docker_client.images.list() for tag in image.tags if host in tag] == []
    assert local_state(kit_session, docker_client) == before


@pytest.mark.compat
def test_the_team_pulls_and_runs_the_pinned_digest(
    published, kit_session, cu121_report, docker_client, tmp_path, make_room
):
    """What a team member who never builds does: `invoke pull`, then `invoke
    run`, which uses exactly the digest `invoke publish` pinned."""
    make_room(0, pulls=1, warm=True)
    digest = published["record"]["tags"][0]["digest"]
    reference = f"{published['repository']}@{digest}"
    pin = json.loads(published["pins"].read_text())["cu121-pip"]
    assert pin["reference"] == reference
    assert pin["tags"] == [row["tag"] for row in published["record"]["tags"]]
    assert (pin["torch"], pin["cuda"], pin["python"]) == ("2.4.1+cu121", "12.1", cu121_report.measured.python)
    assert pin["tested_image"] == cu121_report.image_id
    docker_client.images.remove(published["release_id"], force=True)  # as on a machine that never had it
    pinned = {"INVOKE_ENVKIT_PINS_FILE": str(published["pins"])}

    pulled = run_cli(kit_session, "pull", "--cuda", "12.1", env=pinned)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert f"cu121-pip: {reference} (torch 2.4.1+cu121, CUDA 12.1" in pulled.stdout and "pulled" in pulled.stdout
    assert docker_client.images.get(reference).id == published["release_id"]
    again = run_cli(kit_session, "pull", "--all", env=pinned)
    assert again.returncode == 0 and "already here" in again.stdout

    ran = run_cli(
        kit_session, "run", "--cuda", "12.1", "--", "bash", "-c", 'echo "$ENVKIT_VARIANT $PYTORCH_VERSION"', env=pinned
    )
    assert ran.returncode == 0, ran.stderr
    assert f"{reference}: the team's image pinned in" in ran.stderr
    assert ran.stdout == "cu121-pip 2.4.1\n"

    by_tag = f"{published['repository']}:{cu121_report.tags['moving']}"
    labelled = run_cli(kit_session, "run", "--image", by_tag, "--", "true")
    assert labelled.returncode == 0, labelled.stderr
    assert f"tested by kit revision {cu121_report.facts.revision[:12]}" in labelled.stderr

    info = {row["variant"]: row for row in json.loads(run_cli(kit_session, "info", "--json", env=pinned).stdout)}
    assert info["cu121-pip"]["published"] == reference

    missing = run_cli(kit_session, "pull", "--cuda", "11.8", env=pinned)
    assert missing.returncode == 2 and "cu118-pip is not pinned" in missing.stderr


def test_the_release_verifies_with_stock_cosign(published, kit_session, cu121_report):
    """What an admission controller or a teammate checks by hand: the signature, the provenance (the
    kit's test verdict and report) and the SBOM, each with the team's public key alone."""
    reference = f"{published['repository']}@{published['record']['tags'][0]['digest']}"
    key = ["--key", str(kit_session.signing / "cosign.pub"), "--insecure-ignore-tlog=true"]
    signed = subprocess.run(["cosign", "verify", *key, reference], capture_output=True, text=True)
    assert signed.returncode == 0, signed.stderr
    claims = json.loads(signed.stdout)
    assert claims[0]["critical"]["image"]["docker-manifest-digest"] == reference.split("@")[1]
    statements = {}
    for kind in ("slsaprovenance1", "cyclonedx"):
        attested = subprocess.run(
            ["cosign", "verify-attestation", *key, "--type", kind, reference], capture_output=True, text=True
        )
        assert attested.returncode == 0, attested.stderr
        statements[kind] = json.loads(base64.b64decode(json.loads(attested.stdout.splitlines()[0])["payload"]))
    provenance = statements["slsaprovenance1"]["predicate"]
    report = provenance["runDetails"]["byproducts"][0]
    assert report["annotations"]["verdict"] == "passed"
    assert report["annotations"]["tested_image"] == cu121_report.image_id
    assert report["digest"]["sha256"] == published["report_sha256"]
    assert provenance["buildDefinition"]["externalParameters"]["variant"] == "cu121-pip"
    assert statements["cyclonedx"]["predicate"]["bomFormat"] == "CycloneDX"
    pulled = run_cli(kit_session, "pull", "--cuda", "12.1", env={"INVOKE_ENVKIT_PINS_FILE": str(published["pins"])})
    assert pulled.returncode == 0 and "attested as tested with a pass" in pulled.stdout, pulled.stderr


def test_a_pulled_image_is_tested_on_this_host(published, kit_session, tmp_path):
    """`invoke test --image REF`: e.g. a GPU host testing the image CI built."""
    reference = f"{published['repository']}@{published['record']['tags'][0]['digest']}"
    reports = tmp_path / "reports"
    result = run_cli(kit_session, "test", "--image", reference, env={"INVOKE_ENVKIT_REPORTS_DIR": str(reports)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    report = json.loads((reports / "tests" / "cu121-pip.json").read_text())
    assert report["image"] == reference and report["passed"]
    assert report["image_id"] == published["release_id"]
    both = run_cli(kit_session, "test", "--image", reference, "--cuda", "12.1")
    assert both.returncode == 2 and "leave out --cuda" in both.stderr


def test_the_sbom_is_pushed_with_the_image_and_recorded(published, cu121_report, open_registry, kit_session):
    digest = published["record"]["tags"][0]["digest"]
    tag = digest.replace(":", "-") + ".sbom"
    base = f"http://{open_registry.host}/v2/{PATH}"
    answer = requests.get(
        f"{base}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    manifest = answer.json()
    assert manifest["artifactType"] == "application/vnd.cyclonedx+json"
    assert manifest["subject"]["digest"] == digest
    image_manifest = requests.get(
        f"{base}/manifests/{digest}", headers={"Accept": manifest["subject"]["mediaType"]}, timeout=30
    )
    assert manifest["subject"]["size"] == len(image_manifest.content)
    [layer] = manifest["layers"]
    blob = requests.get(f"{base}/blobs/{layer['digest']}", timeout=30).content
    image_id = cu121_report.image_id
    local = kit_session.reports / "manifests" / f"cu121-pip-{image_id.split(':')[1][:12]}.cdx.json"
    assert blob == local.read_bytes()
    attached = published["record"]["sbom"]
    assert attached["reference"] == f"{published['repository']}:{tag}"
    assert attached["digest"] == answer.headers["Docker-Content-Digest"]
    assert attached["referrer"] is False  # distribution 2.8 has no referrers API: the tag is how it is found
    pin = json.loads(published["pins"].read_text())["cu121-pip"]
    assert pin["sbom"] == f"{published['repository']}@{attached['digest']}"
    assert f"SBOM: {attached['reference']}" in published["output"]


def test_the_rebuilt_packages_equal_the_published_ones(published, kit_session, tmp_path):
    """`invoke drift`, as the weekly job runs it: the session's build against
    the image pinned in env/published.json, from their two SBOMs."""
    pinned = {"INVOKE_ENVKIT_PINS_FILE": str(published["pins"])}
    result = run_cli(kit_session, "drift", "--cuda", "12.1", env=pinned)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "the same packages, the same versions" in result.stdout
    nothing = run_cli(kit_session, "drift", "--cuda", "cpu", "--if-published", env=pinned)
    assert nothing.returncode == 0 and "nothing published" in nothing.stdout
    refused = run_cli(kit_session, "drift", "--cuda", "cpu", env=pinned)
    assert refused.returncode == 2 and "has no published image" in refused.stderr


def test_the_dev_image_goes_through_the_same_gate_with_dev_tags(
    published, cu121_dev_report, kit_session, open_registry, docker_config, tmp_path
):
    """Last in this module: its tags join the shared storage. The runtime
    image's layers are already in the registry, so only the dev layers go.
    The pin it records is what `invoke devcontainer` then writes."""
    pins = published["pins"]
    result = run_cli(
        kit_session, "publish", "--cuda", "12.1", "--dev", "--registry", f"{open_registry.host}/team",
        env={"DOCKER_CONFIG": str(docker_config), "INVOKE_ENVKIT_PINS_FILE": str(pins)}, timeout=3000,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    record = json.loads((kit_session.reports / "publish" / "cu121-pip-dev.json").read_text())
    dev_tags = cu121_dev_report.tags
    assert [row["tag"] for row in record["tags"]] == [dev_tags["immutable"], dev_tags["versioned"], dev_tags["moving"]]
    assert all(tag.endswith("-dev") for tag in dev_tags.values())
    signed = {row["digest"].replace(":", "-") for row in (*record["tags"], *published["record"]["tags"])}
    sboms = {name + ".sbom" for name in signed}
    runtime_tags = [row["tag"] for row in published["record"]["tags"]]
    assert open_registry.tags(PATH) == sorted([*runtime_tags, *dev_tags.values(), *sboms, *signed])
    pinned = json.loads(pins.read_text())
    assert pinned["cu121-pip"]["reference"] != pinned["cu121-pip-dev"]["reference"]
    assert pinned["cu121-pip-dev"]["reference"] == f"{published['repository']}@{record['tags'][0]['digest']}"
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    wrote = run_cli(
        kit_session, "devcontainer", "--workdir", str(workspace), env={"INVOKE_ENVKIT_PINS_FILE": str(pins)}
    )
    assert wrote.returncode == 0, wrote.stderr
    config = (workspace / ".devcontainer" / "cu121-pip" / "devcontainer.json").read_text()
    assert json.loads(config.split("\n", 2)[2])["image"] == pinned["cu121-pip-dev"]["reference"]
    untested = run_cli(kit_session, "publish", "--cuda", "cpu", "--dev", "--registry", f"{open_registry.host}/team")
    assert untested.returncode != 0 and "torch-env-ci:cpu-pip-dev: no such image" in untested.stderr
