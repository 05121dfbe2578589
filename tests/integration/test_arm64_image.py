"""The linux/arm64 CPU image, built and tested on this x86_64 machine under
QEMU: the session's one arm64 build (tests/integration/conftest.py, arm64_chain), shared
by every test here; then published, with a small amd64 image the test builds,
as one multi-arch tag to a real registry, and pulled back for each platform."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import subprocess
from datetime import UTC, datetime

import docker
import pytest
import requests

from envkit import ROOT
from envkit.catalog.selection import select
from envkit.catalog.variants import siblings
from envkit.checks import tags
from envkit.core import capabilities, engine, report_files
from envkit.core.report_files import sbom_path
from envkit.core.settings import Settings
from envkit.images import multiplatform
from envkit.release.registry import DOCKER_MANIFEST_LIST, INDEX_TYPES, MANIFEST_TYPES
from tests.helpers.checkout import invoke_in
from tests.helpers.registry import LocalRegistry
from tests.integration.session import CI_IMAGE_NAME, invoke_cli, report_json, run_cli
from tests.unit.test_cli import assert_clean_failure

pytestmark = pytest.mark.arm64

PROBE = "import platform, torch; print(torch.__version__, torch.cuda.is_available(), platform.machine())"


def test_the_base_and_the_image_say_arm64(arm64_build, docker_client):
    base = docker_client.images.get(Settings().base_image_tag() + "-arm64")
    assert (base.attrs["Architecture"], base.labels["io.envkit.base.arch"]) == ("arm64", "arm64")
    image = docker_client.images.get(arm64_build.image_id)
    assert (image.attrs["Architecture"], image.attrs["Os"]) == ("arm64", "linux")
    assert (image.labels["io.envkit.arch"], image.labels["io.envkit.variant"]) == ("arm64", "cpu-pip-arm64")
    assert arm64_build.tag == f"{CI_IMAGE_NAME}:cpu-pip-arm64"
    assert arm64_build.recipe == "env/pip/cpu-arm64.txt"


def test_every_check_passes_under_emulation(arm64_report, kit_session):
    failed = [check for check in arm64_report.checks if not check.passed]
    assert arm64_report.passed and not failed, failed
    names = {check.name for check in arm64_report.checks}
    assert {"verify_install", "pins", "first_program", "concepts", "smoke:compile_cpu", "inventory"} <= names
    measured = arm64_report.measured
    assert (measured.torch, measured.cuda_compiled, measured.machine) == ("2.4.1", None, "aarch64")
    assert "-pip-arm64-" in arm64_report.tags["immutable"]
    assert (arm64_report.tags["versioned"], arm64_report.tags["moving"]) == ("2.4.1-cpu-py3.11-pip", "cpu-pip")
    manifest = (kit_session.reports / "manifests").glob(f"cpu-pip-arm64-{arm64_report.image_id[7:19]}.md")
    assert "| machine | aarch64 |" in next(manifest).read_text()


def test_invoke_run_says_it_runs_emulated_and_python_runs_on_aarch64(arm64_report, kit_session):
    probe = f"{PROBE}; import os; print(os.environ.get('QEMU_CPU'))"
    result = invoke_cli(kit_session, "run", "--cuda", "cpu", "--arch", "arm64", "--", "python", "-c", probe)
    # QEMU's default model (512-bit SVE) gives torch.compile wrong answers: the kit names a 128-bit one.
    assert result.stdout.strip().splitlines()[-2:] == ["2.4.1 False aarch64", "neoverse-n2"]
    assert "linux/arm64, emulated here under QEMU (6-10x slower)" in result.stderr


def test_doctor_names_what_would_run_emulated(kit_session, make_room):
    make_room(0, pulls=1, warm=True)  # doctor exits 1 with less than a pull's room, which blocks all work
    result = invoke_cli(kit_session, "doctor")
    assert "cpu-pip-arm64 (linux/arm64) would run emulated under QEMU" in result.stdout


def test_a_base_of_another_architecture_is_refused_before_building(arm64_build, base_image, kit_session, docker_client):
    result = run_cli(kit_session, "build", "--cuda", "cpu", "--arch", "arm64", "--base-image", base_image)
    assert_clean_failure(
        result,
        f"--base-image {base_image} is linux/amd64, and cpu-pip-arm64 is linux/arm64: give a base of its "
        "architecture (`invoke base --arch arm64` makes one).",
    )
    assert docker_client.images.get(f"{CI_IMAGE_NAME}:cpu-pip-arm64").id == arm64_build.image_id


AMD64_STAND_IN = """FROM {base}
LABEL io.envkit.variant=cpu-pip io.envkit.arch=amd64
RUN echo "an amd64 stand-in for cpu-pip, whose torch comes from download.pytorch.org" > /stand-in
"""


@pytest.fixture
def multiarch_kit(tmp_path, kit_session, arm64_report, base_image, docker_client):
    """A kit session of its own (reports, pins, image name) holding the real,
    tested arm64 image and its report, and a small amd64 image standing in for
    cpu-pip on amd64: its torch comes from download.pytorch.org, which this
    machine cannot reach, so a CI runner builds and tests the real one. The
    stand-in is tested by no `invoke test` here: the fixture writes its report
    from the arm64 one (the amd64 machine, its own id and tags), as that
    runner's test would, so that publish's gate passes it."""
    name = "torch-env-multiarch"
    settings = Settings(reports_dir=str(tmp_path / "reports"), image_name=name)
    docker_client.images.get(arm64_report.image_id).tag(name, "cpu-pip-arm64")
    report, sbom = (
        report_files.test_report_path(settings, "cpu-pip-arm64"),
        sbom_path(settings, "cpu-pip-arm64", arm64_report.image_id),
    )
    report.parent.mkdir(parents=True)
    report.write_text(report_json(arm64_report))
    sbom.parent.mkdir(parents=True)
    shutil.copy(sbom_path(Settings(reports_dir=str(kit_session.reports)), "cpu-pip-arm64", arm64_report.image_id), sbom)
    amd64 = buildkit_image(docker_client, AMD64_STAND_IN.format(base=base_image), f"{name}:cpu-pip", tmp_path)
    env = {
        **kit_session.env,
        "INVOKE_ENVKIT_REPORTS_DIR": settings.reports_dir,
        "INVOKE_ENVKIT_IMAGE_NAME": name,
        "INVOKE_ENVKIT_PINS_FILE": str(tmp_path / "published.json"),
        "DOCKER_CONFIG": str(tmp_path),
    }
    kit = dataclasses.make_dataclass("Kit", ["settings", "env", "amd64", "name"])(settings, env, amd64, name)
    yield kit  # a test that builds the stand-in again sets kit.amd64 to it
    docker_client.images.remove(f"{name}:cpu-pip-arm64", noprune=True)
    for tested in (arm64_report.image_id, amd64.id, kit.amd64.id):  # the releases publish labelled
        for release in docker_client.images.list(filters={"label": f"io.envkit.tested.image={tested}"}):
            docker_client.images.remove(release.id, force=True)
    for stand_in in {amd64.id, kit.amd64.id}:  # on the containerd store, one whose tag moved is gone already
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(stand_in, force=True)


def buildkit_image(docker_client, dockerfile, tag, folder):
    """An image built as the kit builds, with BuildKit and no attestation: an index BuildKit assembles from it
    keeps its manifest as it is (an image of the legacy builder's would get another)."""
    context = folder / f"context-{tag.replace(':', '-').replace('/', '-')}"
    context.mkdir(exist_ok=True)  # built again under the same tag: the new Dockerfile replaces the old
    (context / "Dockerfile").write_text(dockerfile)
    argv = [engine.docker_cli(), "buildx", "build", "--provenance=false", "--sbom=false", "--load", "--tag", tag]
    subprocess.run([*argv, str(context)], capture_output=True, text=True, check=True)
    return docker_client.images.get(tag)


def stand_in_tested(kit, arm64_report):
    """The stand-in's report, as its runner's `invoke test` would write it."""
    report = dataclasses.replace(
        arm64_report,
        variant="cpu-pip",
        image=f"{kit.name}:cpu-pip",
        image_id=kit.amd64.id,
        image_created=kit.amd64.attrs["Created"],
        measured=dataclasses.replace(arm64_report.measured, machine="x86_64", torch="2.4.1+cpu"),
        started_at=datetime.now(UTC).isoformat(timespec="microseconds"),  # after the stand-in was built
    )
    report = dataclasses.replace(report, tags=tags.compute(tags.Measurement.from_report(report)))
    report_files.test_report_path(kit.settings, "cpu-pip").write_text(report_json(report))
    shutil.copy(
        sbom_path(kit.settings, "cpu-pip-arm64", arm64_report.image_id),
        sbom_path(kit.settings, "cpu-pip", kit.amd64.id),
    )
    return report


def manifest(registry, repository, tag, accept):
    answer = requests.get(
        f"http://{registry.host}/v2/{repository}/manifests/{tag}", headers={"Accept": accept}, timeout=30
    )
    return answer.status_code, answer.headers.get("Docker-Content-Digest"), answer.json() if answer.ok else None


def test_one_multi_arch_tag_for_both_architectures(multiarch_kit, arm64_report, docker_client, tmp_path):
    kit, registry = multiarch_kit, LocalRegistry(tmp_path / "registry").start()
    repository, host_repository = f"team/{multiarch_kit.name}", f"{registry.host}/team/{multiarch_kit.name}"
    try:
        publish = ["publish", "--cuda", "cpu", "--registry", f"{registry.host}/team"]
        untested = invoke_in_kit(kit, *publish)
        assert_clean_failure(untested, "has never been tested", code=1)
        assert requests.get(f"http://{registry.host}/v2/_catalog", timeout=30).json()["repositories"] == []

        alone = invoke_in_kit(kit, *publish, "--arch", "arm64")  # one architecture: its immutable tag only
        assert alone.returncode == 0, alone.stdout + alone.stderr
        assert "went out under its immutable tag only" in alone.stdout
        assert manifest(registry, repository, "cpu-pip", INDEX_TYPES)[0] == 404

        amd64_report = stand_in_tested(kit, arm64_report)
        both = invoke_in_kit(kit, *publish)
        assert both.returncode == 0, both.stdout + both.stderr
        pins = json.loads((tmp_path / "published.json").read_text())
        digests = {}
        for report, variant, arch in ((amd64_report, "cpu-pip", "amd64"), (arm64_report, "cpu-pip-arm64", "arm64")):
            status, digest, _ = manifest(registry, repository, report.tags["immutable"], MANIFEST_TYPES)
            assert status == 200 and pins[variant]["reference"] == f"{host_repository}@{digest}"
            assert pins[variant]["arch"] == arch and pins[variant]["tested_image"] == report.image_id
            digests[arch] = digest
        for tag in ("cpu-pip", "2.4.1-cpu-py3.11-pip"):
            status, digest, body = manifest(registry, repository, tag, INDEX_TYPES)
            assert status == 200 and body["mediaType"] == DOCKER_MANIFEST_LIST
            assert {entry["platform"]["architecture"]: entry["digest"] for entry in body["manifests"]} == digests
            assert pins["cpu-pip"]["index"] == pins["cpu-pip-arm64"]["index"] == f"{host_repository}@{digest}"

        for platform, tested in (("linux/amd64", kit.amd64.id), ("linux/arm64", arm64_report.image_id)):
            docker_client.images.pull(host_repository, tag="cpu-pip", platform=platform)
            pulled = inspect_platform(docker_client, f"{host_repository}:cpu-pip", platform)
            assert pulled["Config"]["Labels"]["io.envkit.tested.image"] == tested
            assert pulled["Architecture"] == platform.split("/")[1]
        by_tag = docker_client.images.pull(host_repository, tag=arm64_report.tags["immutable"])
        assert by_tag.labels["io.envkit.tested.image"] == arm64_report.image_id
        inside = docker_client.containers.run(
            f"{host_repository}:cpu-pip", ["python", "-c", PROBE], platform="linux/arm64", remove=True
        )
        assert inside.decode().strip() == "2.4.1 False aarch64"
    finally:
        registry.close()  # and the tags pulled from it


def inspect_platform(docker_client, reference, platform):
    """One platform's image config: on the containerd store a pulled tag names the whole index (and the SDK
    inspects the host's platform of it), on the classic store the image last pulled for that tag."""
    if capabilities.store_of(docker_client.info()) != capabilities.CONTAINERD:
        return docker_client.images.get(reference).attrs
    argv = [engine.docker_cli(), "image", "inspect", "--platform", platform, reference]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)[0]


def invoke_in_kit(kit, *args):
    return invoke_in(ROOT, *args, env=kit.env, timeout=3000)


def test_one_local_index_tested_per_platform_and_published_as_it(
    multiarch_kit, arm64_report, docker_client, tmp_path, base_image
):
    """The containerd store's multi-platform image: the two architectures' images assembled into one local
    index (`invoke build --arch all`'s last step; the amd64 cpu-pip build itself needs download.pytorch.org),
    each platform tested from it, and the release published only while the index holds the tested images."""
    if capabilities.store_of(docker_client.info()) != capabilities.CONTAINERD:
        pytest.skip("a local image index needs the containerd image store (the classic store's refusal: test_cli_live)")
    kit, registry = multiarch_kit, LocalRegistry(tmp_path / "registry").start()
    group = siblings(select("cpu"))
    index_tag = f"{kit.name}:cpu-pip-multiarch"
    try:
        index = multiplatform.assemble(group, kit.settings)
        assert index.tag == index_tag and index.digest not in (kit.amd64.id, arm64_report.image_id)
        assert index.platforms == {"amd64": kit.amd64.id, "arm64": arm64_report.image_id}
        arm64_view = inspect_platform(docker_client, index_tag, "linux/arm64")
        assert (arm64_view["Id"], arm64_view["Architecture"]) == (arm64_report.image_id, "arm64")

        tested = invoke_in_kit(kit, "test", "--cuda", "cpu", "--arch", "all")
        # The stand-in holds no torch, so its platform fails; the real arm64 one passes, tested from the index.
        assert tested.returncode == 1, tested.stdout + tested.stderr
        amd64_run = json.loads((report_files.test_report_path(kit.settings, "cpu-pip")).read_text())
        arm64_run = json.loads((report_files.test_report_path(kit.settings, "cpu-pip-arm64")).read_text())
        assert (amd64_run["image_id"], amd64_run["passed"]) == (kit.amd64.id, False)
        assert (arm64_run["image_id"], arm64_run["passed"]) == (arm64_report.image_id, True)
        assert arm64_run["image"] == index_tag and arm64_run["measured"]["machine"] == "aarch64"
        arm64_table = tested.stdout.split("linux/arm64 (cpu-pip-arm64):\n", 1)[1]
        assert f"{index_tag} ({arm64_report.image_id[:19]}), GPUs: none: PASSED" in arm64_table

        stand_in_tested(kit, arm64_report)  # as the amd64 runner's test of the real image would
        publish = ["publish", "--cuda", "cpu", "--registry", f"{registry.host}/team"]
        published = invoke_in_kit(kit, *publish)
        assert published.returncode == 0, published.stdout + published.stderr
        assert f"from the local index {index_tag}: each of its platforms as tested" in published.stdout
        host_repository = f"{registry.host}/team/{kit.name}"
        for platform, image_id in (("linux/amd64", kit.amd64.id), ("linux/arm64", arm64_report.image_id)):
            docker_client.images.pull(host_repository, tag="cpu-pip", platform=platform)
            pulled = inspect_platform(docker_client, f"{host_repository}:cpu-pip", platform)
            assert pulled["Config"]["Labels"]["io.envkit.tested.image"] == image_id

        # amd64 built and tested again, the index left as it was: neither its test nor the release goes ahead.
        rebuilt = buildkit_image(
            docker_client,
            AMD64_STAND_IN.format(base=base_image) + "RUN echo again > /again\n",
            f"{kit.name}:cpu-pip",
            tmp_path,
        )
        stale = invoke_in_kit(kit, "test", "--cuda", "cpu", "--arch", "all")
        assert_clean_failure(stale, f"{index_tag} no longer holds the built images", code=2)
        assert f"linux/amd64: {kit.amd64.id[:19]}, not {kit.name}:cpu-pip ({rebuilt.id[:19]})" in stale.stderr
        kit.amd64 = rebuilt  # the fixture removes it, and the stand-in's report names it
        stand_in_tested(kit, arm64_report)
        refused = invoke_in_kit(kit, "publish", "--cuda", "cpu", "--registry", f"{registry.host}/other")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stdout + refused.stderr
        assert f"{index_tag}, the local index of this release, holds other images than the tested ones" in (
            refused.stderr
        )
        assert requests.get(f"http://{registry.host}/v2/other/{kit.name}/tags/list", timeout=30).status_code == 404
    finally:
        registry.close()
        if engine.local_image(docker_client, index_tag):
            docker_client.images.remove(index_tag)
