"""A build manifest per tested image, in Markdown (as jupyter/docker-stacks
keep one per build): what the image is, what it holds, how it was tested."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envkit.core.settings import Settings
from envkit.images.build import record_of


def path_for(report: Mapping[str, Any], settings: Settings) -> Path:
    short = report["image_id"].split(":")[-1][:12]
    return settings.reports_path / "manifests" / f"{report['variant']}-{short}.md"


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]


def render(report: Mapping[str, Any], settings: Settings) -> str:
    measured, facts = report["measured"], report["facts"]
    build = record_of(settings, report["variant"], report["image_id"])
    gpus = ", ".join(f"{g['name']} (driver {g['driver']})" for g in report["host"]["gpus"]) or "none"
    lines = [f"# {report['image']}", ""]
    lines += _table(
        ("", ""),
        [
            ("image id", f"`{report['image_id']}`"),
            ("size", f"{report['image_size'] / 1e9:.2f} GB"),
            ("built", report["image_created"]),
            ("build time", f"{build['seconds']} s" if build else "not built on this machine"),
            ("revision", facts.get("revision", "")),
            (
                "recipe",
                f"{facts.get('recipe', '?')} `{facts.get('recipe_file', '')}` sha256 {facts.get('recipe_sha256', '?')}",
            ),
            (
                "tested",
                f"{report['started_at']}: {'PASSED' if report['passed'] else 'FAILED'} in {report['seconds']} s",
            ),
            ("test host", f"GPUs: {gpus}; Docker {report['host'].get('docker', '?')}; GPUs given: {report['gpus']}"),
        ],
    )
    lines += ["", "## Tags", ""]
    lines += [f"- `{tag}` ({kind})" for kind, tag in report["tags"].items()] or ["- none: the test did not pass"]
    lines += ["", "## Measured inside the image", ""]
    lines += _table(("what", "value"), [(key, value) for key, value in measured.items()])
    lines += ["", "## Test results", ""]
    lines += _table(
        ("check", "result", "seconds", "detail"),
        [(c["name"], "pass" if c["passed"] else "FAIL", c["seconds"], c["detail"]) for c in report["checks"]],
    )
    for title, key in (("Python packages", "packages"), ("Debian packages", "debian_packages")):
        lines += ["", f"## {title}", "", "```", *facts.get(key, ["(not measured)"]), "```"]
    return "\n".join(lines) + "\n"


def write(report: Mapping[str, Any], settings: Settings) -> Path:
    path = path_for(report, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report, settings))
    return path
