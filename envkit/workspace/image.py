"""Which image `invoke run`/`shell` use, said in one line: `--image REF`; else
the variant's digest pinned in envkit.pins_file, once it is here (`invoke
pull`, or the machine that published it); else the local build."""

from __future__ import annotations

from dataclasses import dataclass

import docker
from docker.models.images import Image

from envkit.catalog.variants import Variant, arches
from envkit.core import engine
from envkit.core.errors import UsageError
from envkit.core.files import display
from envkit.core.settings import Settings
from envkit.images import emulation
from envkit.images.build import image_tag
from envkit.release import trust
from envkit.release.pins import PinnedImage, read_pins
from envkit.release.publish import TESTED_LABEL


@dataclass(frozen=True)
class Chosen:
    reference: str
    image: Image
    origin: str  # why this image, for the one line the user sees

    @property
    def user(self) -> str:
        return str(self.image.attrs["Config"].get("User") or "")

    def emulation_note(self, client: docker.DockerClient) -> str:
        """What the user should know when the image is not of the engine's architecture."""
        built_for = self.image.attrs.get("Architecture", "")
        native = emulation.engine_arch(client)
        if not built_for or built_for == native:
            return ""
        if built_for not in arches():
            return f"; linux/{built_for}: an architecture the kit builds nothing for, which may not run here"
        problem = emulation.emulator_problem(built_for, native)
        return (
            f"; linux/{built_for}: {problem}"
            if problem
            else f"; linux/{built_for}, emulated here under QEMU (6-10x slower)"
        )


def provenance_of(image: Image) -> str:
    """What the labels `invoke publish` set say about who tested the image."""
    labels = image.labels
    if TESTED_LABEL not in labels:
        return "no envkit release labels: not an image `invoke publish` pushed"
    revision = labels.get("org.opencontainers.image.revision", "unknown")[:12] or "unknown"
    return (
        f"tested by kit revision {revision} at {labels.get('io.envkit.tested.at', 'an unrecorded time')}; "
        f"torch {labels.get('io.envkit.torch')}, CUDA {labels.get('io.envkit.cuda')}, "
        f"Python {labels.get('io.envkit.python')}"
    )


def to_use(client: docker.DockerClient, reference: str, settings: Settings) -> tuple[str, str]:
    """`--image REF` (checked by the task) as the reference to use, and what verifying it said: a local
    image as it is; a registry image verified against the trust policy, by the digest that verified."""
    verified = trust.for_use(client, reference, settings)
    return (verified.reference, f"; {verified.line()}") if verified else (reference, "")


def given(client: docker.DockerClient, reference: str, settings: Settings) -> Chosen:
    """`--image REF`, pulled (by the digest that verified) when it is not here."""
    use, said = to_use(client, reference, settings)
    image = engine.local_image(client, use) or engine.pull(client, use, settings.docker_client)
    return Chosen(use, image, provenance_of(image) + said)


def for_variant(client: docker.DockerClient, variant: Variant, settings: Settings) -> Chosen:
    pinned: PinnedImage | None = read_pins(settings.pins_path).get(variant.name)
    pins_file = display(settings.pins_path)
    if pinned and (image := engine.local_image(client, pinned.reference)):
        verified = trust.verify_on(client, pinned.reference, settings)
        origin = f"the team's image pinned in {pins_file}; {pinned.summary()}; {verified.line()}"
        return Chosen(pinned.reference, image, origin)
    tag = image_tag(variant, settings)
    if image := engine.local_image(client, tag):
        note = f"; not the team's pinned image (`invoke pull {variant.flags()}` gets it)" if pinned else ""
        return Chosen(tag, image, f"a local build{note}")
    if pinned:
        raise UsageError(
            f"{variant.name}: the team's image is not here yet. Get it with `invoke pull {variant.flags()}` "
            f"({pinned.reference}), or build one with `invoke build {variant.flags()}`."
        )
    raise UsageError(
        f"{variant.name}: no image here and none pinned in {pins_file}. Build it with "
        f"`invoke build {variant.flags()}`, or run a published one with --image REF."
    )
