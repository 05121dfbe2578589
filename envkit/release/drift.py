"""`invoke drift`: the packages of the local build against those of the image
the team has pinned (env/published.json), from the two SBOMs `invoke test`
wrote. The weekly rebuild runs it: the same lock must give the same packages.
The pinned image is tested here in a folder of its own, so the local build's
report, which `invoke publish` gates on, stays as it was."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from envkit.catalog.variants import Variant
from envkit.checks import sbom
from envkit.checks.testrun import run_tests
from envkit.core import engine
from envkit.core.errors import UsageError
from envkit.core.files import read_text
from envkit.core.report_files import read_test_report, sbom_path
from envkit.core.settings import Settings
from envkit.release import trust
from envkit.release.pins import read_pins


@dataclass(frozen=True)
class Drift:
    local: str  # image ids
    published: str
    reference: str
    added: tuple[str, ...]  # purl@version
    removed: tuple[str, ...]
    changed: tuple[str, ...]  # purl: old -> new

    @property
    def none(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        head = f"local {self.local[:19]} against published {self.reference}"
        if self.none:
            return f"{head}: the same packages, the same versions"
        lines = [f"{head}:"]
        lines += [f"  + {item}" for item in self.added]
        lines += [f"  - {item}" for item in self.removed]
        lines += [f"  ~ {item}" for item in self.changed]
        return "\n".join(lines)


def compare(local: dict[str, str], published: dict[str, str]) -> tuple[tuple[str, ...], ...]:
    added = tuple(f"{name}@{local[name]}" for name in sorted(local.keys() - published.keys()))
    removed = tuple(f"{name}@{published[name]}" for name in sorted(published.keys() - local.keys()))
    changed = tuple(
        f"{name}: {published[name]} -> {local[name]}"
        for name in sorted(local.keys() & published.keys())
        if local[name] != published[name]
    )
    return added, removed, changed


def against_published(variant: Variant, settings: Settings) -> Drift:
    pinned = read_pins(settings.pins_path).get(variant.name)
    if pinned is None:
        raise UsageError(f"{variant.name} has no published image in {settings.pins_file}: nothing to compare with.")
    report = read_test_report(settings, variant.name)
    local_sbom = sbom_path(settings, variant.name, report.image_id) if report else None
    if report is None or local_sbom is None or not local_sbom.is_file():
        raise UsageError(f"no SBOM of the local {variant.name} build: run `invoke test {variant.flags()}` first.")
    client = engine.connect()
    trust.verify_on(client, pinned.reference, settings)
    if engine.local_image(client, pinned.reference) is None:
        engine.pull(client, pinned.reference, settings.docker_client)
    aside = dataclasses.replace(settings, reports_dir=str(settings.reports_path / "drift"))
    published = run_tests(variant, aside, gpus="none", reference=pinned.reference)
    published_sbom = sbom_path(aside, variant.name, published.image_id)
    if not published_sbom.is_file():
        raise UsageError(f"testing {pinned.reference} wrote no SBOM: its inventory check failed ({published.image}).")
    added, removed, changed = compare(
        sbom.packages_of(read_text(local_sbom)), sbom.packages_of(read_text(published_sbom))
    )
    return Drift(report.image_id, published.image_id, pinned.reference, added, removed, changed)
