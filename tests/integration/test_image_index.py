"""`--arch all`'s index on a real engine, from two small images (no torch):
what BuildKit made is kept byte for byte, and an index that is not the built
images is removed with one message. The index of real torch images, tested
and published: test_arm64_image.py."""

import subprocess

import pytest

from envkit.catalog.selection import select_all_arches
from envkit.core import capabilities, engine
from envkit.core.errors import KitError
from envkit.core.settings import Settings
from envkit.images import multiplatform

NAME = "envkit-ci-index"


@pytest.fixture
def small_images(tmp_path, docker_client):
    if capabilities.store_of(docker_client.info()) != capabilities.CONTAINERD:
        pytest.skip("a local image index needs the containerd image store (the classic store's refusal: test_cli_live)")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
    (tmp_path / "marker").write_text("envkit\n")
    yield tmp_path
    for tag in ("cpu-pip", "cpu-pip-arm64", "cpu-pip-multiarch"):
        if engine.local_image(docker_client, f"{NAME}:{tag}"):
            docker_client.images.remove(f"{NAME}:{tag}", force=True)


def buildx(context, tag, platform):
    argv = [engine.docker_cli(), "buildx", "build", "--provenance=false", "--sbom=false", "--load"]
    subprocess.run([*argv, "--platform", platform, "--tag", tag, str(context)], capture_output=True, check=True)


def test_the_index_holds_the_images_buildkit_made(small_images, docker_client):
    buildx(small_images, f"{NAME}:cpu-pip", "linux/amd64")
    buildx(small_images, f"{NAME}:cpu-pip-arm64", "linux/arm64")
    index = multiplatform.assemble(select_all_arches("cpu"), Settings(image_name=NAME))
    built = {
        arch: docker_client.images.get(f"{NAME}:{tag}").id
        for arch, tag in (("amd64", "cpu-pip"), ("arm64", "cpu-pip-arm64"))
    }
    assert index.platforms == built and index.tag == f"{NAME}:cpu-pip-multiarch"
    assert engine.platform_image(docker_client, index.tag, "linux/arm64").id == built["arm64"]


def test_an_index_that_is_not_the_built_images_is_removed(small_images, docker_client):
    # The legacy builder's image: BuildKit writes its manifest anew when it assembles the index.
    docker_client.images.build(path=str(small_images), tag=f"{NAME}:cpu-pip", rm=True, pull=False)
    buildx(small_images, f"{NAME}:cpu-pip-arm64", "linux/arm64")
    amd64 = docker_client.images.get(f"{NAME}:cpu-pip").id
    with pytest.raises(KitError, match="is not the built images, so it was removed") as refused:
        multiplatform.assemble(select_all_arches("cpu"), Settings(image_name=NAME))
    assert f"not {NAME}:cpu-pip ({amd64[:19]})" in str(refused.value)
    assert "linux/arm64" not in str(refused.value)  # BuildKit's own image is kept as it is
    assert engine.local_image(docker_client, f"{NAME}:cpu-pip-multiarch") is None
