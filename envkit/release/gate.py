"""The publish gate: only an image with a passing `invoke test` report for
its exact id, tested after it was last built, may be published."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import docker
from docker.models.images import Image

from envkit.catalog.variants import Variant
from envkit.core.errors import KitError
from envkit.core.reports import TestReport, build_record_of, display, read_test_report, sbom_path
from envkit.core.settings import Settings
from envkit.images.build import image_tag


class Refused(KitError):
    """The gate said no; nothing was pushed."""


@dataclass(frozen=True)
class Approved:
    variant: Variant
    image: Image
    report: TestReport
    sbom: Path  # the tested image's, pushed with it


def timestamp(value: str) -> datetime:
    """Docker's RFC 3339 times carry nanoseconds; Python's parser takes microseconds."""
    head, dot, tail = value.replace("Z", "+00:00").partition(".")
    if not dot:
        return datetime.fromisoformat(head)
    digits = "".join(itertools.takewhile(str.isdigit, tail))
    return datetime.fromisoformat(f"{head}.{digits[:6]:0<6}{tail[len(digits) :]}")


def last_built(variant: Variant, image: Image, settings: Settings) -> datetime:
    """When the image under the tag was last built: this machine's build record
    of that id if there is one (a rebuild to the same id counts), else the
    image's own creation time."""
    record = build_record_of(settings, variant.name, str(image.id))
    return timestamp(record.finished_at if record else image.attrs["Created"])


def check(variant: Variant, settings: Settings, client: docker.DockerClient) -> Approved:
    tag = image_tag(variant, settings)
    how_to_test = f"run `invoke test {variant.flags()}`"
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        raise Refused(f"{tag}: no such image; build and test it first.") from None
    short = f"{tag} ({str(image.id)[:19]})"
    report = read_test_report(settings, variant.name)
    if report is None:
        raise Refused(f"{short} has never been tested: {how_to_test}; nothing was pushed.")
    if report.image_id != image.id:
        raise Refused(
            f"{short} is not the image that was tested ({report.image_id[:19]}): it was built "
            f"after its last test; {how_to_test}; nothing was pushed."
        )
    if not report.passed:
        failed = ", ".join(report.failed_checks) or "no checks ran"
        raise Refused(f"{short} failed its last test ({failed}); nothing was pushed.")
    if timestamp(report.started_at) < last_built(variant, image, settings):
        raise Refused(f"{short} was rebuilt after its last test; {how_to_test}; nothing was pushed.")
    if not report.tags:
        raise Refused(f"{short}: its report has no measured tags; {how_to_test}.")
    sbom = sbom_path(settings, variant.name, report.image_id)
    if not sbom.is_file():
        raise Refused(f"{short}: its test wrote no SBOM ({display(sbom)}); {how_to_test}; nothing was pushed.")
    return Approved(variant, image, report, sbom)
