"""`invoke test`: run the checks inside a variant's image, print a pass/fail
table and write a JSON report that later steps (publishing) rely on."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime

from docker.models.images import Image

from envkit.catalog.advisories import advisory_note
from envkit.catalog.variants import Variant, declared_images
from envkit.checks import manifest, sbom, tags
from envkit.checks.check import Context
from envkit.checks.container import ProbeContainer
from envkit.checks.registry import run_all
from envkit.core import engine, provenance
from envkit.core.errors import UsageError
from envkit.core.gpus import check_choice, host_gpus, use_gpus
from envkit.core.report_files import check_writable, test_report_path, write_json
from envkit.core.reports import Facts, Host, TestReport
from envkit.core.settings import Settings
from envkit.images import emulation, plan
from envkit.images.build import image_tag
from envkit.images.multiplatform import check_index

VARIANT_LABEL = "io.envkit.variant"  # set by the Dockerfiles; publish keeps it


def variant_of_image(reference: str, settings: Settings) -> Variant:
    """`invoke test --image REF`: the declared variant the image was built as
    (its io.envkit.variant label); the image is pulled when it is not here."""
    client = engine.connect()
    image = engine.local_image(client, reference) or engine.pull(client, reference, settings.docker_client)
    name = image.labels.get(VARIANT_LABEL, "")
    known = {variant.name: variant for variant in declared_images()}
    if name not in known:
        what = f"was built as {name}, not" if name else "has no io.envkit.variant label: it is not"
        raise UsageError(f"{reference} {what} one of the variants in env/variants.toml ({', '.join(known)}).")
    return known[name]


def check_runnable(native: str | None, image: Image, variant: Variant, tag: str) -> None:
    """The image is of the variant's architecture, and this engine runs it
    (natively, or under QEMU: every check then runs emulated, 6-10x slower);
    `native`: the engine's own architecture."""
    built_for = image.attrs.get("Architecture", "")
    if built_for != variant.arch:
        raise UsageError(
            f"{tag} is linux/{built_for}, but {variant.name} is {variant.docker_platform}; "
            f"rebuild it with `invoke build {variant.flags()}`."
        )
    if problem := emulation.emulator_problem(variant.arch, native):
        raise UsageError(f"cannot test {tag}: {problem}")


def run_tests(
    variant: Variant, settings: Settings, gpus: str = "auto", reference: str | None = None, platform: str = ""
) -> TestReport:
    """Test the variant's local build, or the image `reference` names (tag or digest); `platform`: that
    platform of the local index `reference` names (`--arch all`), run from the index itself."""
    check_choice(gpus)
    check_writable(settings)
    plan.check_intact(variant)
    client = engine.connect()
    tag = reference or image_tag(variant, settings)
    image = engine.platform_image(client, tag, platform) if platform else engine.local_image(client, tag)
    if image is None:
        how = f"{variant.flags()} --arch all" if platform else variant.flags()
        raise UsageError(
            f"no image {tag}{f' for {platform}' if platform else ''}: build it first with `invoke build {how}`."
        )
    image_id = str(image.id)
    native = emulation.engine_arch(client)  # the engine's own architecture: once, for both uses
    check_runnable(native, image, variant, tag)
    gpus_on_host = host_gpus()
    with_gpus = use_gpus(gpus, client, gpus_on_host)
    started_at = datetime.now(UTC).isoformat(timespec="microseconds")
    started = time.monotonic()
    labels = image.attrs["Config"].get("Labels") or {}
    context = Context(variant, with_gpus, revision=labels.get("org.opencontainers.image.revision", ""))
    source = tag if platform else image_id  # an index runs by its tag and the platform asked for
    environment = emulation.environment(variant.arch, native)
    with ProbeContainer(client, source, with_gpus, environment, platform) as box:
        results = run_all(box, context)
    report = TestReport(
        variant=variant.name,
        image=tag,
        image_id=image_id,
        image_created=image.attrs["Created"],
        image_size=engine.unpacked_size(client, image),  # after the run: an emulated image is unpacked by then
        gpus="all" if with_gpus else "none",
        host=Host(tuple(gpus_on_host), str(client.version().get("Version", "unknown"))),
        started_at=started_at,
        seconds=round(time.monotonic() - started, 1),
        measured=context.measured,
        facts=context.environment or Facts(revision=context.revision),
        checks=tuple(results),
        kit_revision=provenance.current().revision,
        passed=bool(results) and all(row.passed for row in results),
    )
    if report.passed:
        report = dataclasses.replace(report, tags=tags.compute(tags.Measurement.from_report(report)))
    write_json(settings, test_report_path(settings, variant.name), report)
    manifest.write(report, settings)
    if context.inventory is not None:
        sbom.write(report, context.inventory, settings)
    return report


def run_index_tests(group: tuple[Variant, ...], settings: Settings, gpus: str = "auto") -> list[TestReport]:
    """`invoke test --arch all`: each platform of the local index, each run from the index. A platform's
    image is its architecture's built image (checked first), so each report is that architecture's own,
    the one publish's gate reads."""
    tag = check_index(group, settings, engine.connect()).tag
    return [run_tests(variant, settings, gpus, tag, variant.docker_platform) for variant in group]


def report_table(report: TestReport) -> str:
    rows = [(c.name, c.verdict, f"{c.seconds:.1f}s", c.detail) for c in report.checks]
    width = max(len(row[0]) for row in rows)
    lines = [f"{name:<{width}}  {result:<4}  {seconds:>7}  {detail[:100]}" for name, result, seconds, detail in rows]
    failed = len(report.failed_checks)
    verdict = "PASSED" if report.passed else f"FAILED ({failed} of {len(rows)} checks)"
    if report.measured and (note := advisory_note(report.measured.torch)):
        lines.append(f"advisories: {note}; `invoke audit` checks the live feed")
    lines.append(f"{report.image} ({report.image_id[:19]}), GPUs: {report.gpus}: {verdict} in {report.seconds:.1f} s")
    lines += [f"  {kind:<9} tag  {tag}" for kind, tag in report.tags.items()]
    return "\n".join(lines)
