"""One tested image pushed under the tags its test measured (which images go
out together, and under which of their tags, is envkit/release/releases.py's).

The pushed image is the tested one plus a label-only step (every measured
version, the recipe's hash, the tested image's id): its filesystem layers are
the tested layers, checked before anything is pushed. Tags go out immutable
first, moving last, so a failure never moves a moving tag to a half-pushed
release; every tag is then read back from the registry's HTTP API.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import docker
import requests
import urllib3
from docker.models.images import Image

from envkit.catalog.gpu_fit import ARCHS_LABEL
from envkit.catalog.variants import arch_of_machine
from envkit.checks import tags
from envkit.core import capabilities, engine, proc
from envkit.core.errors import KitError
from envkit.core.files import read_text
from envkit.core.references import RegistryTarget
from envkit.core.report_files import publish_path, write_report
from envkit.core.reports import TestReport
from envkit.core.settings import Settings
from envkit.release import gate
from envkit.release.attach import Attached, attach_sbom
from envkit.release.registry import Registry, RegistryError, Remote, is_insecure
from envkit.release.signing import Signer, image_predicates

TESTED_LABEL = "io.envkit.tested.image"
COMPRESSION_LABEL = "io.envkit.publish.compression"
RELEASE_SOURCE = "envkit-release-source"  # the tested image's name for the label step, while it runs
# What a published layer is compressed with (envkit.publish_compression): gzip pulls on every engine;
# zstd only on Docker 23 and newer (faster to decompress). BuildKit reuses a layer's blob that is already in
# the compression asked for, whatever its level, so a zstd release ships the build's own zstd layers: the
# level is the build's, said here as it is (asking another changes nothing; docs/design/performance.md).
PUSH_COMPRESSION = {"gzip": "compression=gzip", "zstd": f"compression=zstd,compression-level={engine.LOCAL_ZSTD_LEVEL}"}


class PublishFailed(KitError):
    """A push or its read-back failed; what was pushed is named, nothing is reported as published."""


@dataclass(frozen=True)
class Published:
    tag: str
    digest: str
    size: int
    note: str = ""


def release_labels(report: TestReport) -> dict[str, str]:
    """Every label comes from the test report: what was measured inside the image."""
    measured, facts = report.measured, report.facts
    if measured is None:
        raise KitError(f"{report.variant}: its report measured nothing; run `invoke test` again.")
    return {
        **{f"io.envkit.{name}": version for name, version in measured.versions().items()},
        # only where measured: an image without it is judged by env/compat.toml's list
        **({ARCHS_LABEL: " ".join(measured.cuda_archs)} if measured.cuda_archs and measured.cuda_compiled else {}),
        "io.envkit.arch": arch_of_machine(measured.machine) or "unknown",  # platform.machine() inside
        "io.envkit.variant": report.variant,
        "io.envkit.recipe": facts.recipe,
        "io.envkit.recipe.sha256": facts.recipe_sha256,
        "org.opencontainers.image.revision": facts.revision,
        TESTED_LABEL: report.image_id,
        "io.envkit.tested.at": report.started_at,
    }


def release_image(client: docker.DockerClient, tested: Image, labels: dict[str, str], settings: Settings) -> Image:
    """The tested image plus the labels, with not one filesystem layer changed.
    An earlier release of the same tested image with the same labels is reused,
    so publishing again pushes the same digest. Built with BuildKit, as every
    image of the kit (the containerd store takes no legacy builds); there its
    layers are compressed for the registry here (see release_command), and the
    label COMPRESSION_LABEL says with what, so a release made for gzip is never
    pushed as the zstd one."""
    labels = {**labels, COMPRESSION_LABEL: settings.publish_compression}
    for candidate in client.images.list(filters={"label": f"{TESTED_LABEL}={tested.id}"}):
        if candidate.labels.items() >= labels.items():
            return candidate
    builder = capabilities.configure(engine.find_builder(settings.docker_client), client)
    source = f"{RELEASE_SOURCE}:{str(tested.id).removeprefix('sha256:')[:32]}"
    tested.tag(source)  # BuildKit's FROM takes a name, not an image id
    try:
        with tempfile.TemporaryDirectory(prefix="envkit-release-") as scratch:
            labelled = " ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())
            Path(scratch, "Dockerfile").write_text(f"FROM {source}\nLABEL {labelled}\n")
            iidfile = Path(scratch, "iid")
            argv = [*release_command(builder, settings), *builder.id_args(iidfile), "--quiet", scratch]
            proc.run_or_fail(
                argv, "the label step (a LABEL on the tested image) failed; nothing was pushed", env=builder.env
            )
            release = client.images.get(builder.built_id(iidfile))
    finally:
        _untag(client, source)
    if release.attrs["RootFS"]["Layers"] != tested.attrs["RootFS"]["Layers"]:
        raise KitError(f"the label step changed a filesystem layer of {str(tested.id)[:19]}; nothing was pushed.")
    return release


def release_command(builder: engine.Builder, settings: Settings) -> list[str]:
    """The label step's build: on the containerd store the pushed layers are the
    store's own blobs, so they are compressed here as the registry's pullers need
    them (envkit.publish_compression); the classic store's push compresses them
    itself, with gzip."""
    if builder.store != capabilities.CONTAINERD:
        return builder.command()
    argv = builder.command()
    at = argv.index("--output") + 1
    argv[at] = f"type=docker,{PUSH_COMPRESSION[settings.publish_compression]},force-compression=true"
    return argv


@dataclass(frozen=True)
class Pushed:
    rows: list[Published]  # in push order, the immutable tag first
    attached: Attached  # its SBOM
    immutable: Remote  # the immutable tag as the registry gave it back (what a multi-arch index names)


# The daemon's last line of a push ("TAG: digest: sha256:... size: N"); the classic store also sends it as aux.
_PUSHED_DIGEST = re.compile(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+$")
PUSH_QUIET_SECONDS = 900  # the longest the daemon may say nothing about a push in progress


def _push(pusher: docker.DockerClient, repository: str, tag: str) -> str:
    """Push one tag with Docker's stored login; return the manifest digest.
    The daemon may say nothing for minutes while a layer waits on another
    push of the same layer (another publish on this host), so `pusher` is a
    client with a longer read timeout (PUSH_QUIET_SECONDS); past it, the
    push failed, in one message."""
    digest = ""
    try:
        for line in pusher.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in line:
                raise PublishFailed(line["error"].strip())
            digest = line.get("aux", {}).get("Digest", digest)
            if said := _PUSHED_DIGEST.match(str(line.get("status", ""))):  # the containerd store sends no aux
                digest = digest or said[1]
    except (requests.exceptions.ConnectionError, urllib3.exceptions.HTTPError) as error:
        raise PublishFailed(
            f"the daemon stopped reporting the push ({type(error).__name__}; nothing for {PUSH_QUIET_SECONDS} s, "
            "or its connection closed)"
        ) from None
    if not digest:
        raise PublishFailed("the daemon reported no digest")
    return digest


def describe_push(
    approved: gate.Approved, target: RegistryTarget, settings: Settings, kinds: tuple[str, ...] = tags.KINDS
) -> str:
    repository = target.repository(settings.image_name)
    lines = [f"would push {approved.report.image} ({approved.report.image_id[:19]}) as:"]
    lines += [f"  {repository}:{approved.report.tags[kind]}  ({kind})" for kind in kinds]
    lines += ["with labels:"] + [f"  {key}={value}" for key, value in release_labels(approved.report).items()]
    return "\n".join(lines)


def _check_immutable(registry: Registry, path: str, tag: str, report: TestReport, where: str) -> Remote | None:
    """The immutable tag as the registry holds it when it is already there for
    these tested bits, None when it is free; refuse when it holds anything else."""
    existing = registry.manifest(path, tag)
    if existing is None:
        return None
    labels = registry.image_config(path, existing.config_digest).get("config", {}).get("Labels") or {}
    if labels.get(TESTED_LABEL) != report.image_id:
        raise PublishFailed(
            f"immutable tag {where}:{tag} already exists in registry {registry.host} with another image "
            f"({existing.digest[:19]}); refusing to overwrite it. Nothing was pushed."
        )
    return existing


def publish(
    approved: gate.Approved,
    target: RegistryTarget,
    settings: Settings,
    client: docker.DockerClient,
    signer: Signer,
    kinds: tuple[str, ...] = tags.KINDS,
) -> Pushed:
    """Push the release under the tags of `kinds` (the immutable one first),
    read them back, attach the SBOM, sign the digest and attest it, record it."""
    report, path = approved.report, target.path(settings.image_name)
    repository = target.repository(settings.image_name)
    registry = Registry(target.host, is_insecure(client, target.host), settings.ca_cert)
    first = f"{repository}:{report.tags['immutable']}"
    try:
        registry.ping()
        already = _check_immutable(registry, path, report.tags["immutable"], report, repository)
    except RegistryError as error:
        raise RegistryError(f"cannot push {first}: {error} Nothing was pushed.") from None
    release = release_image(client, approved.image, release_labels(report), settings)
    pushed: list[tuple[str, str]] = []
    pusher = engine.connect(timeout=PUSH_QUIET_SECONDS)  # the same daemon, as the environment names it
    with contextlib.closing(pusher):
        for kind in kinds:
            tag = report.tags[kind]
            if kind == "immutable" and already:
                pushed.append((tag, already.digest))
                continue
            release.tag(repository, tag)
            try:
                pushed.append((tag, _push(pusher, repository, tag)))
            except (PublishFailed, docker.errors.APIError) as error:
                _untag(client, f"{repository}:{tag}")
                done = ", ".join(t for t, _ in pushed) or "none"
                raise PublishFailed(
                    f"push of {repository}:{tag} to {target.host} failed: {str(error).strip()[:300]}\n"
                    f"Tags pushed before it: {done}. The release is incomplete; run `invoke publish` again."
                ) from None
            except BaseException:  # interrupted: the daemon stops the push with us; the moving tag never moved
                _untag(client, f"{repository}:{tag}")
                raise
    rows, immutable = _read_back(registry, path, repository, pushed, already)
    try:
        attached = attach_sbom(registry, path, repository, immutable, read_text(approved.sbom), report.started_at)
    except RegistryError as error:
        raise PublishFailed(
            f"the image is pushed ({', '.join(row.tag for row in rows)}), but its SBOM is not: {error}\n"
            "Run `invoke publish` again: it pushes the SBOM and leaves the image as it is."
        ) from None
    sign_pushed(signer, f"{repository}@{immutable.digest}", image_predicates(approved, settings), rows)
    record = {
        "registry": registry.host,
        "repository": repository,
        "variant": approved.variant.name,
        "tested_image": report.image_id,
        "at": datetime.now(UTC).isoformat(),
        "tags": [asdict(row) for row in rows],
        "sbom": asdict(attached),
        "signed_with": signer.describe(),
    }
    write_report(settings, publish_path(settings, approved.variant.name), json.dumps(record, indent=2) + "\n")
    return Pushed(rows, attached, immutable)


def sign_pushed(signer: Signer, reference: str, predicates: list[tuple[str, bytes]], rows: list[Published]) -> None:
    """Sign and attest what was pushed; a failure leaves it unsigned, which every verifier refuses."""
    try:
        signer.sign(reference, predicates)
    except KitError as error:
        raise PublishFailed(
            f"{reference} is pushed ({', '.join(row.tag for row in rows)}), but not signed: {error}\n"
            "Nothing verifies it as the team's until it is; run `invoke publish` again."
        ) from None


def _untag(client: docker.DockerClient, reference: str) -> None:
    """Take back a tag of ours; someone may have removed it already."""
    with contextlib.suppress(docker.errors.NotFound):
        client.images.remove(reference, noprune=True)


def _read_back(
    registry: Registry,
    path: str,
    repository: str,
    pushed: list[tuple[str, str]],
    already: Remote | None,
) -> tuple[list[Published], Remote]:
    """Every tag, read back from the registry, must resolve to the digest pushed;
    the rows, and the immutable tag's manifest as read (the SBOM's subject)."""
    rows, remotes = [], []
    try:
        for index, (tag, digest) in enumerate(pushed):
            remote = registry.manifest(path, tag)
            if remote is None or remote.digest != digest:
                found = remote.digest if remote else "no such tag"
                raise PublishFailed(
                    f"registry {registry.host} gives {repository}:{tag} as {found}, "
                    f"not the pushed {digest}; the release is not published."
                )
            note = "already there" if index == 0 and already else ""
            rows.append(Published(tag, remote.digest, remote.size, note))
            remotes.append(remote)
    except RegistryError as error:
        raise PublishFailed(f"pushed, but reading {repository} back failed: {error}") from None
    return rows, remotes[0]
