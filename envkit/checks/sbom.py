"""The SBOM `invoke test` writes beside the manifest: CycloneDX 1.6 JSON made
with the CycloneDX project's library, validated against its schema before it
is written. One component per package the inventory check found in the
image, each with its package URL and the digest of the file installed."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from envkit.checks.inventory import Inventory, Package
from envkit.core.errors import KitError
from envkit.core.report_files import sbom_path, write_report
from envkit.core.reports import TestReport
from envkit.core.settings import Settings

SCHEMA = SchemaVersion.V1_6
MEDIA_TYPE = "application/vnd.cyclonedx+json"


def _purl(package: Package) -> PackageURL:
    if package.kind == "deb":
        return PackageURL("deb", "debian", package.name, package.version, {"arch": package.origin})
    if package.kind == "conda":
        channel, _, build = package.origin.partition(" ")
        return PackageURL("conda", None, package.name, package.version, {"build": build, "channel": channel})
    return PackageURL("pypi", None, package.name, package.version)


def component(package: Package) -> Component:
    purl = _purl(package)
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=package.sha256)] if package.sha256 else []
    hashes += [HashType(alg=HashAlgorithm.MD5, content=package.md5)] if package.md5 else []
    properties = (
        [Property(name="envkit:wheel", value=package.origin)] if package.kind == "pypi" and package.origin else []
    )
    return Component(
        name=package.name,
        version=package.version,
        type=ComponentType.LIBRARY,
        purl=purl,
        bom_ref=purl.to_string(),
        hashes=hashes,
        properties=properties,
    )


def render(report: TestReport, inventory: Inventory) -> str:
    """The same image and packages give the same document: its serial number
    comes from the image id and its time is the test's."""
    image = Component(
        name=report.image,
        version=report.image_id,
        type=ComponentType.CONTAINER,
        bom_ref=report.image_id,
        properties=[Property(name="envkit:variant", value=report.variant)],
    )
    components = [component(package) for package in inventory.packages]
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"envkit:{report.image_id}"),
        metadata=BomMetaData(component=image, timestamp=datetime.fromisoformat(report.started_at)),
        components=components,
    )
    bom.register_dependency(image, components)  # the image holds every package
    text = make_outputter(bom, OutputFormat.JSON, SCHEMA).output_as_string(indent=2)
    # Imported here: its format checkers take over 2 s to import, which every
    # task (`invoke run` too) would pay at start, for what only `invoke test` does.
    from cyclonedx.validation.json import JsonStrictValidator

    if error := JsonStrictValidator(SCHEMA).validate_str(text):
        raise KitError(f"the SBOM of {report.image} does not validate as CycloneDX {SCHEMA.to_version()}: {error}")
    return text + "\n"


def write(report: TestReport, inventory: Inventory, settings: Settings) -> Path:
    return write_report(settings, sbom_path(settings, report.variant, report.image_id), render(report, inventory))


def packages_of(text: str) -> dict[str, str]:
    """An SBOM's components as purl without version -> version: what the drift check compares."""
    components = json.loads(text).get("components", [])
    found = {}
    for item in components:
        purl = PackageURL.from_string(item["purl"])
        found[PackageURL(purl.type, purl.namespace, purl.name).to_string()] = item.get("version", "")
    return found
