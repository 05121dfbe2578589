"""`invoke pull`: fetch the team's images, exactly the digests pinned in
envkit.pins_file, so that `invoke run`/`shell` use them."""

from __future__ import annotations

from envkit.catalog.variants import Variant, declared_images, host_arch, siblings
from envkit.core import capabilities, engine
from envkit.core.errors import UsageError
from envkit.core.files import display
from envkit.core.settings import Settings
from envkit.release import trust
from envkit.release.pins import PinnedImage, read_pins


def for_this_machine(variant: Variant) -> Variant:
    """Of a variant's architectures, the one this machine runs natively, else the first."""
    family = siblings(variant)
    return next((v for v in family if v.arch == host_arch()), family[0])


def pinned_variants(variants: list[Variant] | None, settings: Settings) -> list[tuple[Variant, PinnedImage]]:
    """The pins to pull: the variants asked for (each must be pinned), or every
    pinned one, each in the architecture this machine runs natively where it has one."""
    pins, pins_file = read_pins(settings.pins_path), display(settings.pins_path)
    if variants is None:
        here = [variant for variant in declared_images() if variant == for_this_machine(variant)]
        chosen = [(variant, pins[variant.name]) for variant in here if variant.name in pins]
        if not chosen:
            raise UsageError(f"nothing is pinned in {pins_file} yet: `invoke publish` pins what it pushes.")
        return chosen
    missing = [variant.name for variant in variants if variant.name not in pins]
    if missing:
        have = ", ".join(sorted(pins)) or "none"
        raise UsageError(
            f"{', '.join(missing)} is not pinned in {pins_file} (pinned: {have}); "
            "publish it first, or run a published image with `invoke run --image REF`."
        )
    return [(variant, pins[variant.name]) for variant in variants]


def pull_variants(variants: list[Variant] | None, settings: Settings) -> list[str]:
    """Pull each pinned image not here yet; one line per variant."""
    chosen = pinned_variants(variants, settings)
    client = engine.connect()
    store = capabilities.engine_facts(client).store
    lines = []
    for variant, pinned in chosen:
        verified = trust.verify_on(client, pinned.reference, settings)
        image = engine.local_image(client, pinned.reference)
        if image is None:
            engine.check_free_disk(client, variant.pull_disk_gb(store), f"pulling {variant.name}")
            image = engine.pull(client, pinned.reference, settings.docker_client)
            state = "pulled"
        else:
            state = "already here"
        lines.append(
            f"{variant.name}: {pinned.reference} ({pinned.summary()}), image {str(image.id)[:19]}, {state}; "
            + verified.line()
        )
    return lines
