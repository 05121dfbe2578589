"""One multi-arch tag for a variant built for several architectures
(cpu-pip: amd64 and arm64), so that `docker pull` on a Mac gets the arm64
image and on a PC the amd64 one.

Each architecture's image must pass its own gate (tested for its exact id).
Each is then pushed under its immutable tag, which names its architecture,
with its SBOM; then one index (a Docker manifest list, or an OCI image index
where an image's manifest is OCI) of those exact manifests goes out under
the shared versioned and moving tags, the moving one last, and is read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker

from envkit.checks import tags
from envkit.core.references import RegistryTarget
from envkit.core.settings import Settings
from envkit.release import gate
from envkit.release.publish import Published, PublishFailed, Pushed, publish, sign_pushed
from envkit.release.registry import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, Registry, RegistryError, Remote
from envkit.release.signing import Signer, index_predicates

SHARED_KINDS = tuple(kind for kind in tags.KINDS if kind != "immutable")


@dataclass(frozen=True)
class Member:
    """One architecture's image as pushed (under its immutable tag, with its SBOM)."""

    approved: gate.Approved
    pushed: Pushed
    platform: dict[str, str]


@dataclass(frozen=True)
class MultiArch:
    members: list[Member]
    index_digest: str
    shared: list[Published]  # the shared tags, in push order


def shared_tags(approved: list[gate.Approved]) -> dict[str, str]:
    """The versioned and moving tags every architecture measured alike; a
    difference (another torch or Python inside) stops the release before any push."""
    measured = {kind: {a.report.tags[kind] for a in approved} for kind in SHARED_KINDS}
    if differing := {kind: found for kind, found in measured.items() if len(found) > 1}:
        kind, found = next(iter(differing.items()))
        names = ", ".join(a.variant.name for a in approved)
        raise gate.Refused(
            f"{names} measured different {kind} tags ({', '.join(sorted(found))}): "
            "the architectures do not hold the same release; nothing was pushed."
        )
    return {kind: found.pop() for kind, found in measured.items()}


def index_body(members: list[Member]) -> dict[str, Any]:
    """The index of the members' exact manifests, each with the platform its config says."""
    docker_only = all(member.pushed.immutable.media_type == DOCKER_MANIFEST for member in members)
    return {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST if docker_only else OCI_INDEX,
        "manifests": [
            {
                "mediaType": member.pushed.immutable.media_type,
                "digest": member.pushed.immutable.digest,
                "size": member.pushed.immutable.manifest_size,
                "platform": member.platform,
            }
            for member in members
        ],
    }


def _platform(registry: Registry, path: str, remote: Remote) -> dict[str, str]:
    config = registry.image_config(path, remote.config_digest)
    return {key: str(config[key]) for key in ("architecture", "os", "variant") if config.get(key)}


def publish_multiarch(
    approved: list[gate.Approved],
    target: RegistryTarget,
    settings: Settings,
    client: docker.DockerClient,
    registry: Registry,
    signer: Signer,
) -> MultiArch:
    shared = shared_tags(approved)
    path, repository = target.path(settings.image_name), target.repository(settings.image_name)
    members = []
    for one in approved:
        pushed = publish(one, target, settings, client, signer, kinds=("immutable",))
        try:
            members.append(Member(one, pushed, _platform(registry, path, pushed.immutable)))
        except RegistryError as error:
            raise PublishFailed(f"pushed {pushed.rows[0].tag}, but reading its config failed: {error}") from None
    body = index_body(members)
    shared_pushed: list[Published] = []
    for kind in SHARED_KINDS:
        try:
            digest, _ = registry.push_manifest(path, shared[kind], body)
            found = registry.index(path, shared[kind])
        except RegistryError as error:
            done = ", ".join([*(m.pushed.rows[0].tag for m in members), *(p.tag for p in shared_pushed)])
            raise PublishFailed(
                f"push of the multi-arch {repository}:{shared[kind]} failed: {error}\n"
                f"Pushed before it: {done}. The release is incomplete; run `invoke publish` again."
            ) from None
        if found is None or found[0] != digest:
            given = found[0] if found else "no such tag"
            raise PublishFailed(
                f"registry {registry.host} gives {repository}:{shared[kind]} as {given}, "
                f"not the pushed index {digest}; the release is not published."
            )
        size = sum(member.pushed.rows[0].size for member in members)
        arches = "+".join(member.platform["architecture"] for member in members)
        shared_pushed.append(Published(shared[kind], digest, size, f"multi-arch: {arches}"))
    named = [(f"{repository}@{member.pushed.immutable.digest}", member.approved) for member in members]
    sign_pushed(signer, f"{repository}@{shared_pushed[0].digest}", index_predicates(named, settings), shared_pushed)
    return MultiArch(members, shared_pushed[0].digest, shared_pushed)
