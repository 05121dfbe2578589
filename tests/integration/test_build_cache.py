"""A build whose cached download step left wheels on BuildKit's cache mount
that are no longer there: BuildKit empties its cache mounts on its own (its
garbage collection takes them first) and may keep the cached step. CI's
build of the current line failed so (`no prefetched wheel for
torch==2.15.0`); the install steps now fetch again what they miss."""

import re
import subprocess
import uuid

import pytest

from envkit.catalog.selection import select
from envkit.images import build
from envkit.images.context import copy_context
from tests.integration.test_rebuilds import settings_for

pytestmark = pytest.mark.cold_builds


def lose_kept_wheels(base_image, tmp_path, pattern):
    """What BuildKit's garbage collection leaves: the kit's cache mount without those wheels. (With the
    engine's default policy and a few tens of GB of disk, its collection may have taken them already.)"""
    folder = tmp_path / "forget"
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        "RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache "
        f"rm -fv /root/.cache/envkit-wheels/*/{pattern}\n"
    )
    argv = ["docker", "buildx", "build", "--no-cache", "--output", "type=cacheonly", "--progress", "plain", str(folder)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def wheels_installed(client, image_id):
    """The image's record of each wheel it was installed from: name, version, sha256, file."""
    return client.containers.run(
        image_id, ["cat", *(f"/opt/envkit/wheels/{n}.txt" for n in range(1, 7))], remove=True
    ).decode()


def test_install_steps_fetch_again_what_the_cache_mount_lost(
    docker_client, kit_session, base_image, tmp_path, make_room, capfd
):
    make_room(2)
    context = copy_context(tmp_path / "context")
    settings = settings_for(kit_session, base_image, "torch-env-ci-refetch")
    try:
        # This context's own first build: its download step is the cached one the second build reuses
        # (the session's image came from the checkout, whose steps the collection may have taken).
        first = build.build_image(select("12.1"), settings, context=context)
        before = wheels_installed(docker_client, first.image_id)  # read now: the tag moves to the next build
        lose_kept_wheels(base_image, tmp_path, "torch-2.4.1-*.whl")
        # An edit of the system step's script: every install step after it runs again, while the
        # download step (which mounts only env_layers and the installer) stays cached.
        with (context / "docker" / "system-packages.sh").open("a") as handle:
            handle.write(f"\n# an edit that reruns the install steps: {uuid.uuid4()}\n")
        capfd.readouterr()
        again = build.build_image(select("12.1"), settings, context=context)
        out = capfd.readouterr().out
        download = re.search(r"^#(\d+) \[layers 2/2\] RUN .*env_layers prefetch", out, re.MULTILINE)
        assert download and f"\n#{download[1]} CACHED" in out
        assert re.search(r"layer 4: torch==2\.4\.1\b.* no longer in BuildKit's cache \(emptied since the download", out)
        assert len(re.findall(r"^#\d+ \S+ layer [1-6]: \d+ packages", out, re.MULTILINE)) == 6  # every step ran
        assert "torch 2.4.1 " in before and wheels_installed(docker_client, again.image_id) == before
    finally:
        docker_client.images.remove("torch-env-ci-refetch:cu121-pip", noprune=True)
