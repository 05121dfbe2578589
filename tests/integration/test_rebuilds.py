"""Rebuilding: a warm rebuild reuses every layer, and a change to examples/
never reinstalls torch. Both build under their own image names, so the
session's image keeps its tag."""

import uuid

from envkit.catalog.selection import select
from envkit.core.settings import Settings
from envkit.images import build
from envkit.images.context import copy_context


def layers(docker_client, image_id):
    return docker_client.images.get(image_id).attrs["RootFS"]["Layers"]


def settings_for(kit_session, base_image, image_name):
    return Settings(
        image_name=image_name,
        base_image=base_image,
        reports_dir=str(kit_session.reports / image_name),
        ca_cert=kit_session.env.get("INVOKE_ENVKIT_CA_CERT", ""),
    )


def test_warm_rebuild_reuses_every_layer(docker_client, kit_session, base_image, cu121_build):
    settings = settings_for(kit_session, base_image, "torch-env-ci-rebuild")
    try:
        again = build.build_image(select("12.1"), settings)
        assert layers(docker_client, again.image_id) == layers(docker_client, cu121_build["image_id"])
    finally:
        docker_client.images.remove("torch-env-ci-rebuild:cu121-pip", noprune=True)


def test_editing_examples_keeps_the_torch_layer(docker_client, kit_session, base_image, cu121_build, tmp_path):
    copy_context(tmp_path)
    # A fresh edit each run: BuildKit's cache outlives the run, and a cache hit
    # on an edit seen before brings back that build's whole layer chain, which
    # an earlier --no-cache build (verify-repro) may have made differ from ours.
    with (tmp_path / "examples" / "concepts.py").open("a") as handle:
        handle.write(f"\n# an edit that must not reinstall torch: {uuid.uuid4()}\n")
    settings = settings_for(kit_session, base_image, "torch-env-ci-layers")
    try:
        edited = build.build_image(select("12.1"), settings, context=tmp_path)
        before = layers(docker_client, cu121_build["image_id"])
        after = layers(docker_client, edited.image_id)
        shared = next((i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b), len(before))
        # base, apt + user, installer recipe, recipe, the install itself: all reused.
        base_layers = len(layers(docker_client, base_image))
        assert shared >= base_layers + 4, (shared, base_layers)
        assert before != after  # and the examples did change
    finally:
        docker_client.images.remove("torch-env-ci-layers:cu121-pip", noprune=True)
