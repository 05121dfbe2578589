"""env/published.json (envkit.pins_file): the team's images, one per variant, pinned by digest.

`invoke publish` writes the entry of each variant it pushed; the file is
committed, so moving the team to a new image is a reviewed commit. `invoke
pull` fetches exactly those digests and `invoke run`/`shell` use them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from envkit.core.files import display, read_text, write_atomically
from envkit.core.reports import TestReport
from envkit.core.validation import (
    STRICT,
    Digest,
    OptionalPinnedReference,
    PinnedReference,
    UniqueNames,
    Words,
    validate_json,
)


@dataclass(frozen=True)
class PinnedImage:
    """One variant's published image and what was measured inside it."""

    __pydantic_config__ = STRICT
    reference: PinnedReference  # REGISTRY/NAMESPACE/NAME@sha256:...
    tags: UniqueNames  # the tags it was pushed under, computed from what was measured inside
    torch: Words  # measured inside
    cuda: Words  # "none" for CPU builds
    python: Words  # measured inside
    tested_image: Digest  # the local image id `invoke test` passed
    kit_revision: str  # the kit's git revision that built and tested it
    published_at: str  # ISO 8601, UTC
    sbom: OptionalPinnedReference = ""  # REPOSITORY@DIGEST of the CycloneDX SBOM pushed with it
    arch: str = "amd64"  # the image's architecture (env/variants.toml [arches])
    # REPOSITORY@DIGEST of the multi-arch index it is part of, when its variant has several
    index: OptionalPinnedReference = ""

    def summary(self) -> str:
        return f"torch {self.torch}, CUDA {self.cuda}, Python {self.python}"


def read_pins(path: Path) -> dict[str, PinnedImage]:
    """Every pinned variant; {} while nothing was published."""
    fix = f"Only `invoke publish` writes it: restore it with `git checkout {display(path)}`."
    if not path.exists() and not path.is_symlink():
        return {}
    raw = read_text(path, fix=f"save it as UTF-8, or restore it with `git checkout {display(path)}`")
    return validate_json(dict[str, PinnedImage], raw, display(path), fix)


def pin(
    variant: str,
    repository: str,
    digest: str,
    tags: list[str],
    report: TestReport,
    path: Path,
    sbom: str = "",
    arch: str = "amd64",
    index: str = "",
) -> None:
    """Record (or move) one variant's pin; the other entries stay as they are.
    A file that does not read as pins is refused, not overwritten."""
    measured = report.measured
    assert measured is not None, "publish gates on a report that measured the image"
    pins = read_pins(path)
    pins[variant] = PinnedImage(
        reference=f"{repository}@{digest}",
        tags=tuple(tags),
        torch=measured.torch,
        cuda=measured.cuda_compiled or "none",
        python=measured.python,
        tested_image=report.image_id,
        kit_revision=report.kit_revision,
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
        sbom=sbom,
        arch=arch,
        index=index,
    )
    text = json.dumps({name: asdict(entry) for name, entry in sorted(pins.items())}, indent=2) + "\n"
    write_atomically(path, text)
