"""`--arch all`: one local image index of a variant built for several
architectures (cpu-pip with cpu-pip-arm64; the current line's pip image on
amd64 and arm64), tagged `<image>:<variant>-multiarch`.

Only the containerd image store holds an index as one image; the classic store
holds one image per tag, and there `invoke publish` composes the index in the
registry from the architectures' images instead.

The index is made by a BuildKit build whose one line is `FROM member-<arch>`:
it adds nothing, so each platform's manifest is the architecture's built image
itself, byte for byte (BuildKit keeps a source manifest it made as it is),
and its digest is that image's id on this store. That is checked before the
tag is kept: an index whose platforms are not the built images is removed.
Each platform is then tested through the index (`invoke test --arch all`),
and `invoke publish` goes ahead only while the index holds the tested images.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker

from envkit.catalog.variants import Variant, default_arch
from envkit.core import capabilities, engine, proc
from envkit.core.errors import KitError, UsageError
from envkit.core.settings import Settings
from envkit.images.build import image_tag

INDEX_SUFFIX = "-multiarch"
# The image list's per-platform manifests (`manifests=1`) came with API 1.47 (Docker 27.3); one platform's
# image inspected by `platform=` with API 1.49 (Docker 28.1).
LISTS_MANIFESTS, INSPECTS_PLATFORM = (1, 47), (1, 49)
FROM_ONLY = "ARG TARGETARCH\nFROM member-${TARGETARCH}\n"


@dataclass(frozen=True)
class LocalIndex:
    tag: str
    digest: str  # the index's own digest: its image id on the containerd store
    platforms: dict[str, str]  # architecture -> the manifest digest that platform resolves to


def index_tag(group: tuple[Variant, ...], settings: Settings) -> str:
    return f"{image_tag(group[0], settings)}{INDEX_SUFFIX}"


def member_settings(settings: Settings, variant: Variant) -> Settings:
    """The settings one architecture builds with: `--base-image` names the first architecture's base, and
    another's is that tag ending in -<arch>, as `invoke base --arch` names it."""
    base = settings.base_image
    if not base or variant.arch == default_arch():
        return settings
    if "@" in base:
        raise UsageError(
            f"--arch all --base-image {base}: a digest names one architecture's image; give the first "
            f"architecture's base by tag (the {variant.arch} one is that tag ending in -{variant.arch})."
        )
    return dataclasses.replace(settings, base_image=f"{base}-{variant.arch}")


def check_store(client: docker.DockerClient, group: tuple[Variant, ...]) -> None:
    """A local index needs the containerd image store and an API that lists its platforms."""
    facts = capabilities.engine_facts(client)
    flags = group[0].flags()
    if facts.store != capabilities.CONTAINERD:
        raise UsageError(
            f"--arch all makes one local image index, which only the containerd image store holds; this engine "
            f"({facts.describe()}) keeps one image per tag. Build each architecture ("
            + ", ".join(f"`invoke build {flags} --arch {v.arch}`" for v in group)
            + f"): `invoke publish {flags}` composes their index in the registry."
        )
    if capabilities.version_tuple(facts.api) < INSPECTS_PLATFORM:
        raise UsageError(
            f"--arch all: this engine ({facts.describe()}) cannot show one platform of an index (API 1.49, "
            "Docker 28.1 and newer); upgrade Docker, or build and test each architecture with its own --arch."
        )


def platforms(client: docker.DockerClient, reference: str) -> LocalIndex | None:
    """The index a tag names and the manifest each platform resolves to, or None where no such tag is here.
    Attestation manifests are left out: the kit adds none to a local index."""
    image = engine.local_image(client, reference)
    if image is None:
        return None
    api = client.api
    answer = api.get(
        f"{api.base_url}/v{api.api_version}/images/json",
        params={"manifests": "1", "filters": json.dumps({"reference": [reference]})},
    )
    if not answer.ok:
        raise KitError(
            f"the engine did not list the platforms of {reference}: {answer.status_code} {answer.text[:200]}"
        )
    found: dict[str, str] = {}
    for entry in answer.json():
        if entry.get("Id") != image.id:
            continue
        for manifest in entry.get("Manifests") or []:
            platform = (
                (manifest.get("Descriptor") or {}).get("platform")
                or (manifest.get("ImageData") or {}).get("Platform")
                or {}
            )
            if manifest.get("Kind") == "image" and platform.get("architecture"):
                found[str(platform["architecture"])] = str(manifest["ID"])
    return LocalIndex(reference, str(image.id), found)


def differences(index: LocalIndex, expected: dict[str, str], names: dict[str, str]) -> list[str]:
    """Each architecture whose platform in the index is not the expected image (by id), said in a line;
    `names`: how to call each architecture's image in that line."""
    lines = []
    for arch, image_id in expected.items():
        held = index.platforms.get(arch)
        if held != image_id:
            what = f"{held[:19]}" if held else "nothing"
            lines.append(f"linux/{arch}: {what}, not {names[arch]} ({image_id[:19]})")
    lines += [
        f"linux/{arch}: {held[:19]}, an architecture not declared"
        for arch, held in index.platforms.items()
        if arch not in expected
    ]
    return lines


def member_ids(client: docker.DockerClient, group: tuple[Variant, ...], settings: Settings) -> dict[str, str]:
    """Each architecture's built image (its id), or a UsageError naming the build that is missing."""
    ids = {}
    for variant in group:
        tag = image_tag(variant, settings)
        image = engine.local_image(client, tag)
        if image is None:
            raise UsageError(f"no image {tag}: build it first with `invoke build {variant.flags()}`.")
        if image.attrs.get("Architecture") != variant.arch:
            raise UsageError(
                f"{tag} is linux/{image.attrs.get('Architecture')}, not {variant.docker_platform}: "
                f"rebuild it with `invoke build {variant.flags()}`."
            )
        ids[variant.arch] = str(image.id)
    return ids


def assemble(group: tuple[Variant, ...], settings: Settings) -> LocalIndex:
    """Tag `<image>:<variant>-multiarch` as the index of the architectures' built images, checked."""
    client = engine.connect()
    check_store(client, group)
    builder = capabilities.builder_for(client, settings.docker_client)
    if not builder.is_buildx:
        raise UsageError(f"--arch all: {builder.description} cannot build for several platforms; install buildx.")
    ids = member_ids(client, group, settings)
    tag = index_tag(group, settings)
    with tempfile.TemporaryDirectory(prefix="envkit-index-") as scratch:
        Path(scratch, "Dockerfile").write_text(FROM_ONLY)
        argv = [
            *builder.prefix,
            *(engine.ATTESTATIONS_OFF if builder.attestation_flags else ()),
            "--platform",
            ",".join(variant.docker_platform for variant in group),
            *(
                arg
                for variant in group
                for arg in ("--build-context", f"member-{variant.arch}=docker-image://{image_tag(variant, settings)}")
            ),
            "--load",
            "--tag",
            tag,
            "--progress",
            "plain",
            scratch,
        ]
        proc.stream(argv, env=builder.env)
    index = platforms(client, tag)
    if index is None:
        raise KitError(f"the build of the index {tag} ended, yet the engine has no such tag.")
    names = {variant.arch: image_tag(variant, settings) for variant in group}
    if problems := differences(index, ids, names):
        client.images.remove(tag)  # the kit's own tag, just made: no index that is not the built images
        raise KitError(
            f"the index assembled as {tag} is not the built images, so it was removed:\n  "
            + "\n  ".join(problems)
            + "\nBuildKit keeps only the manifests it made: build each architecture with `invoke build`, then again."
        )
    return index


def check_index(group: tuple[Variant, ...], settings: Settings, client: docker.DockerClient) -> LocalIndex:
    """The local index of the group, holding each architecture's built image as it is tagged now; else a
    UsageError naming the build that makes it again."""
    check_store(client, group)
    tag = index_tag(group, settings)
    how = f"`invoke build {group[0].flags()} --arch all`"
    index = platforms(client, tag)
    if index is None:
        raise UsageError(f"no image {tag}: make it with {how}.")
    names = {variant.arch: image_tag(variant, settings) for variant in group}
    if problems := differences(index, member_ids(client, group, settings), names):
        raise UsageError(
            f"{tag} no longer holds the built images (an architecture was built again since):\n  "
            + "\n  ".join(problems)
            + f"\nMake it again with {how}."
        )
    return index
