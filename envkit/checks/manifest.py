"""A build manifest per tested image, in Markdown (as jupyter/docker-stacks
keep one per build): what the image is, what it holds, how it was tested."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from envkit.core.report_files import build_record_of, manifest_path, write_report
from envkit.core.reports import TestReport
from envkit.core.settings import Settings


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]


def render(report: TestReport, settings: Settings) -> str:
    facts = report.facts
    build = build_record_of(settings, report.variant, report.image_id)
    gpus = ", ".join(f"{g.name} (driver {g.driver})" for g in report.host.gpus) or "none"
    lines = [f"# {report.image}", ""]
    lines += _table(
        ("", ""),
        [
            ("image id", f"`{report.image_id}`"),
            ("size", f"{report.image_size / 1e9:.2f} GB"),
            ("built", report.image_created),
            ("build time", f"{build.seconds} s" if build else "not built on this machine"),
            ("revision", facts.revision),
            ("recipe", f"{facts.recipe or '?'} `{facts.recipe_file}` sha256 {facts.recipe_sha256 or '?'}"),
            ("tested", f"{report.started_at}: {'PASSED' if report.passed else 'FAILED'} in {report.seconds} s"),
            ("test host", f"GPUs: {gpus}; Docker {report.host.docker}; GPUs given: {report.gpus}"),
        ],
    )
    lines += ["", "## Tags", ""]
    lines += [f"- `{tag}` ({kind})" for kind, tag in report.tags.items()] or ["- none: the test did not pass"]
    lines += ["", "## Measured inside the image", ""]
    measured = asdict(report.measured) if report.measured else {"nothing": "verify_install failed"}
    lines += _table(("what", "value"), list(measured.items()))
    lines += ["", "## Test results", ""]
    lines += _table(
        ("check", "result", "seconds", "detail"),
        [(c.name, c.verdict, c.seconds, c.detail) for c in report.checks],
    )
    for title, packages in (("Python packages", facts.packages), ("Debian packages", facts.debian_packages)):
        lines += ["", f"## {title}", "", "```", *(packages or ["(not measured)"]), "```"]
    return "\n".join(lines) + "\n"


def write(report: TestReport, settings: Settings) -> Path:
    return write_report(settings, manifest_path(settings, report.variant, report.image_id), render(report, settings))
