"""`invoke info`: each variant of env/variants.toml, and each pip variant's dev
image, at a glance: its recipe file (locked, stale or missing), the local
image, its last test and the team's pinned reference. `--json` for scripts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import docker

from envkit import ROOT
from envkit.catalog.advisories import advisory_note, affecting
from envkit.catalog.variants import Variant, declared_images
from envkit.core import engine
from envkit.core.errors import UsageError
from envkit.core.report_files import read_test_report
from envkit.core.settings import Settings
from envkit.images.build import image_tag
from envkit.recipes.files import read_lock
from envkit.recipes.kinds import kind_of
from envkit.release.pins import PinnedImage, read_pins


@dataclass(frozen=True)
class VariantState:
    variant: str
    recipe_file: str
    lock: str  # locked, locked (no hashes), stale: ..., tampered: ..., no lock
    image: str  # the local tag
    image_id: str  # "" when not built or pulled here
    image_created: str
    tested: str  # pass, fail, or "" when never tested
    tested_at: str
    tested_image: str  # the image id the last report is about
    published: str  # the pinned reference, or ""
    torch: str = ""  # the variant's torch release
    advisories: tuple[str, ...] = ()  # ids of its torch's known advisories (env/advisories.toml)

    @property
    def test_state(self) -> str:
        if not self.tested:
            return "never"
        stale = self.image_id and self.tested_image != self.image_id
        return f"{self.tested} {self.tested_at[:16].replace('T', ' ')}" + (" (another image)" if stale else "")


def lock_state(variant: Variant) -> str:
    path = ROOT / variant.lock_file
    if not path.is_file():
        return "no lock"
    try:
        lock = read_lock(path)
    except UsageError as error:
        return f"unreadable: {str(error).splitlines()[0]}"
    if reason := lock.tamper_reason:
        return f"tampered: {reason}"
    try:
        reason = kind_of(variant).stale_reason(variant, lock)
    except UsageError as error:  # a dev lock whose runtime lock is gone
        reason = str(error).splitlines()[0]
    if reason:
        return f"stale: {reason}"
    return "locked" if lock.hash_locked else "locked (no hashes)"


def state_of(
    variant: Variant, settings: Settings, client: docker.DockerClient, pins: dict[str, PinnedImage]
) -> VariantState:
    tag = image_tag(variant, settings)
    image = engine.local_image(client, tag)
    report = read_test_report(settings, variant.name)
    pinned = pins.get(variant.name)
    return VariantState(
        variant=variant.name,
        recipe_file=variant.lock_file,
        lock=lock_state(variant),
        image=tag,
        image_id=str(image.id) if image else "",
        image_created=str(image.attrs["Created"]) if image else "",
        tested=("pass" if report.passed else "fail") if report else "",
        tested_at=report.started_at if report else "",
        tested_image=report.image_id if report else "",
        published=pinned.reference if pinned else "",
        torch=variant.torch,
        advisories=tuple(advisory.id for advisory in affecting(variant.torch)),
    )


def states(settings: Settings) -> list[VariantState]:
    pins = read_pins(settings.pins_path)
    client = engine.connect()
    return [state_of(variant, settings, client, pins) for variant in declared_images()]


def _age(created: str) -> str:
    if not created:
        return "-"
    # Docker writes nanoseconds; fromisoformat takes at most microseconds.
    stamp = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", created))
    hours = (datetime.now(UTC) - stamp).total_seconds() / 3600
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def table(rows: list[VariantState]) -> str:
    header = ("variant", "recipe file", "lock", "local image", "tested", "published", "advisories")
    cells = [
        (
            row.variant,
            row.recipe_file,
            row.lock[:60],
            f"{row.image_id[7:19]} {_age(row.image_created)}" if row.image_id else "none",
            row.test_state,
            row.published.rsplit("@", 1)[0] + "@" + row.published.rsplit("@", 1)[1][:19] if row.published else "-",
            str(len(row.advisories)) if row.advisories else "none known",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *cells]
    ]
    notes = sorted({note for row in rows if (note := advisory_note(row.torch))})
    return "\n".join([*(line.rstrip() for line in lines), *notes])
