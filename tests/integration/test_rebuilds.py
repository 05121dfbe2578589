"""Rebuilding: a warm rebuild reuses every layer, and a change to examples/
never reinstalls torch. Both build under their own image names, so the
session's image keeps its tag."""

import json
import uuid

import pytest

from envkit.catalog.selection import select
from envkit.core.settings import Settings
from envkit.images import build
from envkit.images.context import copy_context
from tests.integration.session import CI_IMAGE_NAME, run_cli

pytestmark = pytest.mark.compat


def layers(docker_client, image_id):
    return docker_client.images.get(image_id).attrs["RootFS"]["Layers"]


def settings_for(kit_session, base_image, image_name):
    return Settings.from_config(
        {
            "image_name": image_name,
            "base_image": base_image,
            "reports_dir": str(kit_session.reports / image_name),
            "ca_cert": kit_session.env.get("INVOKE_ENVKIT_CA_CERT", ""),
        }
    )


def test_warm_rebuild_reuses_every_layer(docker_client, kit_session, base_image, cu121_build, make_room):
    make_room(1, warm=True)  # the kit asks a whole build's room of every build
    settings = settings_for(kit_session, base_image, "torch-env-ci-rebuild")
    try:
        again = build.build_image(select("12.1"), settings)
        assert layers(docker_client, again.image_id) == layers(docker_client, cu121_build.image_id)
        # The same content is the same id on every store: no attestation wraps it in a new index.
        assert again.image_id == cu121_build.image_id
    finally:
        docker_client.images.remove("torch-env-ci-rebuild:cu121-pip", noprune=True)


def test_a_rebuild_with_nothing_changed_keeps_its_test_and_publishes(kit_session, base_image, cu121_report, make_room):
    """`invoke build` again, as a user would after a pull of the repository that changed nothing: the
    tested image comes back under the same id, its build record is newer, and the gate lets it out."""
    make_room(1, warm=True)
    rebuilt = run_cli(kit_session, "build", "--cuda", "12.1", "--base-image", base_image)
    assert rebuilt.returncode == 0, rebuilt.stdout[-2000:] + rebuilt.stderr
    record = json.loads((kit_session.reports / "builds" / "cu121-pip.json").read_text())
    assert record["image_id"] == cu121_report.image_id
    assert record["finished_at"] > cu121_report.started_at
    plan = run_cli(kit_session, "publish", "--cuda", "12.1", "--registry", "127.0.0.1:5000/team", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.startswith(f"would push {CI_IMAGE_NAME}:cu121-pip ({cu121_report.image_id[:19]}) as:")


def test_editing_examples_keeps_the_torch_layer(
    docker_client, kit_session, base_image, cu121_build, tmp_path, make_room
):
    make_room(1, warm=True)
    copy_context(tmp_path)
    # A fresh edit each run: BuildKit's cache outlives the run, and a cache hit
    # on an edit seen before brings back that build's whole layer chain, which
    # an earlier --no-cache build (verify-repro) may have made differ from ours.
    with (tmp_path / "examples" / "concepts.py").open("a") as handle:
        handle.write(f"\n# an edit that must not reinstall torch: {uuid.uuid4()}\n")
    settings = settings_for(kit_session, base_image, "torch-env-ci-layers")
    try:
        edited = build.build_image(select("12.1"), settings, context=tmp_path)
        before = layers(docker_client, cu121_build.image_id)
        after = layers(docker_client, edited.image_id)
        shared = next((i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b), len(before))
        # base, apt + user, installer recipe, recipe, the install itself: all reused.
        base_layers = len(layers(docker_client, base_image))
        assert shared >= base_layers + 4, (shared, base_layers)
        assert before != after  # and the examples did change
    finally:
        docker_client.images.remove("torch-env-ci-layers:cu121-pip", noprune=True)
