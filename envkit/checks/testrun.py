"""`invoke test`: run the checks inside a variant's image, print a pass/fail
table and write a JSON report that later steps (publishing) rely on."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker

from envkit.catalog.variants import Variant
from envkit.checks import manifest
from envkit.checks.container import ProbeContainer
from envkit.checks.probes import CHECKS, CheckResult, Context
from envkit.core import engine, proc, provenance
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.images.build import image_tag
from envkit.release import tags

GPU_CHOICES = ("auto", "none", "all")


@dataclass
class TestReport:
    __test__ = False  # a report, not a test class for pytest to collect
    variant: str
    image: str
    image_id: str
    image_created: str
    gpus: str
    host: dict[str, Any]
    started_at: str
    image_size: int = 0
    seconds: float = 0.0
    measured: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)  # only when every check passed
    kit_revision: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check["passed"] for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def host_gpus() -> list[dict[str, str]]:
    """The host's NVIDIA GPUs and driver, as nvidia-smi reports them; [] without one."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        run = proc.capture(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"])
    except (OSError, TimeoutError):
        return []
    rows = [line.split(", ") for line in run.stdout.strip().splitlines() if run.returncode == 0 and line]
    return [{"name": row[0], "driver": row[-1]} for row in rows]


def has_gpu_runtime(client: docker.DockerClient) -> bool:
    runtimes = client.info().get("Runtimes") or {}
    toolkit = any(shutil.which(tool) for tool in ("nvidia-container-runtime-hook", "nvidia-ctk"))
    return "nvidia" in runtimes or toolkit


def use_gpus(choice: str, client: docker.DockerClient, gpus_on_host: list[dict[str, str]]) -> bool:
    """`auto` gives the container GPUs when the host has both GPUs and a GPU runtime."""
    if choice == "auto":
        return bool(gpus_on_host) and has_gpu_runtime(client)
    return choice == "all"


def run_tests(variant: Variant, settings: Settings, gpus: str = "auto") -> TestReport:
    if gpus not in GPU_CHOICES:
        raise UsageError(f"--gpus {gpus!r}: choose one of {', '.join(GPU_CHOICES)}.")
    client = engine.connect()
    tag = image_tag(variant, settings)
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        raise UsageError(
            f"no image {tag}: build it first with `invoke build --cuda {variant.cuda_flag} --recipe {variant.recipe}`."
        ) from None
    image_id = str(image.id)
    gpus_on_host = host_gpus()
    with_gpus = use_gpus(gpus, client, gpus_on_host)
    report = TestReport(
        variant=variant.name,
        image=tag,
        image_id=image_id,
        image_created=image.attrs["Created"],
        image_size=int(image.attrs["Size"]),
        gpus="all" if with_gpus else "none",
        host={"gpus": gpus_on_host, "docker": str(client.version().get("Version", "unknown"))},
        started_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        kit_revision=provenance.current().revision,
    )
    started = time.monotonic()
    labels = image.attrs["Config"].get("Labels") or {}
    context = Context(variant, with_gpus, facts={"revision": labels.get("org.opencontainers.image.revision", "")})
    with ProbeContainer(client, image_id, with_gpus) as box:
        results: list[CheckResult] = []
        for check in CHECKS:
            results += check(box, context)
    report.seconds = round(time.monotonic() - started, 1)
    report.measured, report.facts = context.measured, context.facts
    report.checks = [asdict(result) for result in results]
    if report.passed:
        report.tags = tags.compute(tags.Measurement.from_report(report.to_dict()))
    save(report, settings)
    return report


def report_path(settings: Settings, variant_name: str) -> Path:
    """The latest test report of a variant: what `invoke publish` gates on."""
    return settings.reports_path / "tests" / f"{variant_name}.json"


def save(report: TestReport, settings: Settings) -> None:
    path = report_path(settings, report.variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json())
    manifest.write(report.to_dict(), settings)


def report_table(report: TestReport) -> str:
    rows = [(c["name"], "pass" if c["passed"] else "FAIL", f"{c['seconds']:.1f}s", c["detail"]) for c in report.checks]
    width = max(len(row[0]) for row in rows)
    lines = [f"{name:<{width}}  {result:<4}  {seconds:>7}  {detail[:100]}" for name, result, seconds, detail in rows]
    failed = sum(1 for c in report.checks if not c["passed"])
    verdict = "PASSED" if report.passed else f"FAILED ({failed} of {len(rows)} checks)"
    lines.append(f"{report.image} ({report.image_id[:19]}), GPUs: {report.gpus}: {verdict} in {report.seconds:.1f} s")
    lines += [f"  {kind:<9} tag  {tag}" for kind, tag in report.tags.items()]
    return "\n".join(lines)
