"""Where the files under reports/ live (build records, test reports,
manifests, SBOMs, verify-repro results, publish records), and their writing
and reading: each written whole or not at all (envkit.core.files), inside
the reports folder and never through a link below it, and read back through
a validating loader."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from envkit.core.errors import UsageError
from envkit.core.files import display, write_atomically
from envkit.core.reports import BuildRecord, TestReport
from envkit.core.settings import Settings
from envkit.core.validation import read_json


def build_record_path(settings: Settings, variant: str) -> Path:
    return settings.reports_path / "builds" / f"{variant}.json"


def test_report_path(settings: Settings, variant: str) -> Path:
    """The latest test report of a variant: what `invoke publish` gates on."""
    return settings.reports_path / "tests" / f"{variant}.json"


def manifest_path(settings: Settings, variant: str, image_id: str) -> Path:
    return settings.reports_path / "manifests" / f"{variant}-{image_id.split(':')[-1][:12]}.md"


def sbom_path(settings: Settings, variant: str, image_id: str) -> Path:
    """Beside the manifest, named like it."""
    return manifest_path(settings, variant, image_id).with_suffix(".cdx.json")


def repro_path(settings: Settings, variant: str) -> Path:
    return settings.reports_path / "repro" / f"{variant}.json"


def publish_path(settings: Settings, variant: str) -> Path:
    return settings.reports_path / "publish" / f"{variant}.json"


def check_writable(settings: Settings) -> None:
    """Fail before any build or test starts if reports cannot be written."""
    folder = settings.reports_path
    existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"reports_dir {display(folder)}: {display(existing)} is not a writable folder. "
            "Set envkit.reports_dir (or INVOKE_ENVKIT_REPORTS_DIR) to one that is."
        )


def write_report(settings: Settings, path: Path, text: str) -> Path:
    """A file under the reports folder, whole or not at all."""
    return write_atomically(path, text, owner=settings.reports_path)


def write_json(settings: Settings, path: Path, record: Any) -> Path:
    return write_report(settings, path, json.dumps(asdict(record), indent=2) + "\n")


def build_record_of(settings: Settings, variant: str, image_id: str) -> BuildRecord | None:
    """The build record of this very image, if this machine built it."""
    path = build_record_path(settings, variant)
    if not path.is_file():
        return None
    record = read_json(path, BuildRecord, display(path), _rerun("build"))
    return record if record.image_id == image_id else None


def read_test_report(settings: Settings, variant: str) -> TestReport | None:
    path = test_report_path(settings, variant)
    if not path.is_file():
        return None
    return read_json(path, TestReport, display(path), _rerun("test"))


def _rerun(task: str) -> str:
    return f"It is not a report this kit wrote (or a crash cut it short): delete it and run `invoke {task}` again."
