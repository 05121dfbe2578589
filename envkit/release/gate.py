"""The publish gate: only an image with a passing `invoke test` report for
its exact id may be published. The id is the image's content on every store
(the config digest on the classic store; the platform manifest's digest on
the containerd store, where the kit's builds carry no attestation manifest
that would wrap it in a new index each time): a rebuild that changes nothing
gives the same id and keeps its test; a changed image never inherits one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import docker
from docker.models.images import Image

from envkit.catalog.variants import Variant
from envkit.core.errors import KitError
from envkit.core.files import display
from envkit.core.report_files import read_test_report, sbom_path
from envkit.core.reports import TestReport
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
    if not report.tags:
        raise Refused(f"{short}: its report has no measured tags; {how_to_test}.")
    sbom = sbom_path(settings, variant.name, report.image_id)
    if not sbom.is_file():
        raise Refused(f"{short}: its test wrote no SBOM ({display(sbom)}); {how_to_test}; nothing was pushed.")
    return Approved(variant, image, report, sbom)
