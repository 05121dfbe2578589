"""`invoke build --dev`: a dev image is built only on a runtime image that
passed `invoke test`, and must be that image plus its own layers."""

from __future__ import annotations

import docker
from docker.models.images import Image

from envkit.catalog.variants import Variant
from envkit.core import engine
from envkit.core.errors import KitError, UsageError
from envkit.core.report_files import read_test_report
from envkit.core.settings import Settings


def tested_runtime(variant: Variant, tag: str, settings: Settings, client: docker.DockerClient) -> Image:
    """The local runtime image under `tag`, if its last test passed for its exact id."""
    runtime = variant.runtime
    image = engine.local_image(client, tag)
    if image is None:
        raise UsageError(
            f"no runtime image {tag}: the dev image is built on it. Build and test it first: "
            f"`invoke build {runtime.flags()}` then `invoke test {runtime.flags()}`."
        )
    report = read_test_report(settings, runtime.name)
    if report is None or report.image_id != image.id or not report.passed:
        why = "was never tested" if report is None or report.image_id != image.id else "failed its last test"
        raise UsageError(
            f"{tag} ({str(image.id)[:19]}) {why}: the dev image is built only on a tested runtime image; "
            f"run `invoke test {runtime.flags()}` first."
        )
    return image


def check_layered(dev: Image, runtime: Image) -> None:
    """The dev image's layers begin with exactly the runtime image's: it was
    built FROM that image, so every runtime file is as tested."""
    below = runtime.attrs["RootFS"]["Layers"]
    if dev.attrs["RootFS"]["Layers"][: len(below)] != below:
        raise KitError(
            f"{dev.tags[0] if dev.tags else dev.id} is not built on {str(runtime.id)[:19]}: "
            "the runtime image changed during the build; build it again."
        )
