"""`invoke publish`: which images go out together, gated before the first
push, and the pins written after. A variant built for several architectures
(env/variants.toml [[variants]] arch) goes out as one multi-arch tag; with
`--arch` one architecture's image goes out alone, under its immutable tag
only, since the shared tags belong to the index of them all."""

from __future__ import annotations

import docker

from envkit.catalog.variants import Variant, siblings
from envkit.checks import tags
from envkit.core import capabilities, engine
from envkit.core.errors import UsageError
from envkit.core.files import display
from envkit.core.references import RegistryTarget
from envkit.core.settings import Settings
from envkit.images.build import image_tag
from envkit.images.multiplatform import INSPECTS_PLATFORM, differences, index_tag, platforms
from envkit.release import gate, pins
from envkit.release.attach import Attached
from envkit.release.multiarch import publish_multiarch, shared_tags
from envkit.release.publish import Published, describe_push, publish
from envkit.release.registry import Registry, is_insecure
from envkit.release.signing import Signer, signer


def table(rows: list[Published], repository: str) -> str:
    width = max(len(row.tag) for row in rows)
    lines = [f"{repository}", f"  {'tag':<{width}}  {'digest':<71}  size"]
    lines += [
        f"  {row.tag:<{width}}  {row.digest:<71}  {row.size / 1e9:.2f} GB{'  ' + row.note if row.note else ''}"
        for row in rows
    ]
    return "\n".join(lines)


def release_groups(variants: list[Variant], one_arch: bool) -> list[tuple[Variant, ...]]:
    """Each release: a variant with its siblings on the other architectures,
    or (`--arch`) alone; each once, however often it was asked for."""
    groups: list[tuple[Variant, ...]] = []
    for variant in variants:
        group = (variant,) if one_arch else siblings(variant)
        if group not in groups:
            groups.append(group)
    return groups


def kinds_alone(variant: Variant) -> tuple[str, ...]:
    """The tags one image goes out under alone: all of them, or only its
    immutable one where the shared tags name a multi-arch index."""
    return tags.KINDS if len(siblings(variant)) == 1 else ("immutable",)


def check_compression(settings: Settings, client: docker.DockerClient) -> None:
    """zstd layers are pushed from the containerd store's own blobs; the classic store's push writes gzip."""
    if settings.publish_compression == "zstd" and capabilities.engine_facts(client).store != capabilities.CONTAINERD:
        raise UsageError(
            "envkit.publish_compression zstd: this engine keeps images in the classic store, whose pushes "
            "compress with gzip only. Publish from an engine with the containerd image store, or set it to gzip."
        )


def local_index(passed: list[gate.Approved], settings: Settings, client: docker.DockerClient) -> str:
    """The tag of the release's local index (`invoke build --arch all`) where one is here, "" where none is;
    a gate.Refused where it holds other images than the tested ones, so that what goes out is what it holds."""
    facts = capabilities.engine_facts(client)
    if facts.store != capabilities.CONTAINERD or capabilities.version_tuple(facts.api) < INSPECTS_PLATFORM:
        return ""  # no local index on the classic store; an older API does not show its platforms
    group = tuple(one.variant for one in passed)
    index = platforms(client, index_tag(group, settings))
    if index is None:
        return ""
    tested = {one.variant.arch: str(one.image.id) for one in passed}
    names = {one.variant.arch: f"the tested {image_tag(one.variant, settings)}" for one in passed}
    if problems := differences(index, tested, names):
        raise gate.Refused(
            f"{index.tag}, the local index of this release, holds other images than the tested ones:\n  "
            + "\n  ".join(problems)
            + f"\nMake it again with `invoke build {group[0].flags()} --arch all` and test it with `--arch all`, "
            f"or remove the tag (`docker image rm {index.tag}`) to publish the tested images; nothing was pushed."
        )
    return index.tag


def publish_variants(
    variants: list[Variant], settings: Settings, dry_run: bool, skip_untested: bool, one_arch: bool = False
) -> list[str]:
    """Publish each release (or print its plan); return the refusals skipped
    over. Every gate runs before the first push."""
    target = settings.registry
    if target is None:
        raise UsageError("--registry is required: HOST[:PORT]/NAMESPACE, e.g. 127.0.0.1:5000/team.")
    pins.read_pins(settings.pins_path)  # a pins file that does not read is refused before, not after, a push
    client = engine.connect()
    check_compression(settings, client)
    team = signer(settings, is_insecure(client, target.host))  # the key and the policy agree, before any push
    approved, skipped, indexes = [], [], {}
    for group in release_groups(variants, one_arch):
        try:
            passed = [gate.check(variant, settings, client) for variant in group]
            if len(passed) > 1:
                shared_tags(passed)
                indexes[group] = local_index(passed, settings, client)
            approved.append(passed)
        except gate.Refused as refusal:
            if not skip_untested:
                raise
            skipped.append(f"{' + '.join(v.name for v in group)}: {refusal}")
    for release in approved:
        if dry_run:
            kinds = kinds_alone(release[0].variant) if len(release) == 1 else ("immutable",)
            print(*(describe_push(one, target, settings, kinds) for one in release), sep="\n")
            if len(release) > 1:
                print(f"then one multi-arch index of them as: {', '.join(shared_tags(release).values())}")
        elif len(release) == 1:
            _publish_one(release[0], target, settings, client, team)
        else:
            _publish_index(release, target, settings, client, team, indexes[tuple(one.variant for one in release)])
    return skipped


def _publish_one(
    approved: gate.Approved, target: RegistryTarget, settings: Settings, client: docker.DockerClient, team: Signer
) -> None:
    repository = target.repository(settings.image_name)
    pushed = publish(approved, target, settings, client, team, kinds_alone(approved.variant))
    rows, attached = pushed.rows, pushed.attached
    print(table(rows, repository))
    _say_sbom(attached)
    print(f"signed {repository}@{rows[0].digest[:19]} and attested its provenance and SBOM ({team.describe()})")
    if len(rows) < len(tags.KINDS):
        print(
            f"{approved.variant.name} went out under its immutable tag only: the shared tags name the multi-arch "
            f"index of {' and '.join(v.name for v in siblings(approved.variant))} "
            f"(`invoke publish` without --arch, where all are tested)."
        )
    _pin(approved, repository, rows, attached, settings)


def _publish_index(
    release: list[gate.Approved],
    target: RegistryTarget,
    settings: Settings,
    client: docker.DockerClient,
    team: Signer,
    local: str,
) -> None:
    repository = target.repository(settings.image_name)
    registry = Registry(target.host, is_insecure(client, target.host), settings.ca_cert)
    done = publish_multiarch(release, target, settings, client, registry, team)
    print(table([*(member.pushed.rows[0] for member in done.members), *done.shared], repository))
    for member in done.members:
        _say_sbom(member.pushed.attached)
        rows = [*member.pushed.rows, *done.shared]
        _pin(member.approved, repository, rows, member.pushed.attached, settings, done.index_digest)
    print(f"multi-arch {repository}@{done.index_digest}: {', '.join(row.tag for row in done.shared)}")
    print(f"signed each architecture's image and the index, each attested ({team.describe()})")
    if local:  # its digest differs: each platform goes out with the release's label step on it
        print(f"from the local index {local}: each of its platforms as tested, with the release labels added")


def _say_sbom(attached: Attached) -> None:
    where = "a referrer of the image and " if attached.referrer else ""
    print(f"SBOM: {where}{attached.reference} ({attached.digest[:19]})")


def _pin(
    approved: gate.Approved,
    repository: str,
    rows: list[Published],
    attached: Attached,
    settings: Settings,
    index_digest: str = "",
) -> None:
    """Pin the architecture's own image (what `invoke pull` fetches for it), and the index it is part of."""
    pins.pin(
        approved.variant.name,
        repository,
        rows[0].digest,
        [row.tag for row in rows],
        approved.report,
        settings.pins_path,
        sbom=f"{attached.reference.rsplit(':', 1)[0]}@{attached.digest}",
        arch=approved.variant.arch,
        index=f"{repository}@{index_digest}" if index_digest else "",
    )
    print(
        f"pinned {approved.variant.name} in {display(settings.pins_path)} as {repository}@{rows[0].digest}: "
        "commit it to move the team to this image."
    )
