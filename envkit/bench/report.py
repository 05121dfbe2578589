"""What `invoke bench` writes: reports/bench/<variant>.json (every run's
figures, their medians, min and max, the kit's ratios to the baseline, the
targets and whether they hold) and the same as a Markdown table."""

from __future__ import annotations

import html
import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker

from envkit.core import capabilities
from envkit.core.report_files import write_json
from envkit.core.report_files import write_report as write_text_report
from envkit.core.settings import Settings


@dataclass(frozen=True)
class Figure:
    label: str
    unit: str  # "s", "bytes" or "layers"


# In the order of the table.
FIGURES = {
    "cold_build_s": Figure("cold build", "s"),
    "floor_s": Figure("cold build floor (download + export)", "s"),
    "cold_download_bytes": Figure("cold build: bytes downloaded", "bytes"),
    "export_s": Figure("cold build: layer export", "s"),
    "edit_rebuild_s": Figure("rebuild after an examples/ edit", "s"),
    "edit_layers_rebuilt": Figure("examples/ edit: layers rebuilt", "layers"),
    "one_pin_build_s": Figure("rebuild after a one-pin change", "s"),
    "one_pin_download_bytes": Figure("one-pin change: bytes downloaded", "bytes"),
    "one_pin_layers_rebuilt": Figure("one-pin change: layers rebuilt", "layers"),
    "size_bytes": Figure("image size, uncompressed", "bytes"),
    "compressed_bytes": Figure("image size, compressed (registry)", "bytes"),
    "invoke_test_s": Figure("`invoke test`", "s"),
    "first_push_s": Figure("first push", "s"),
    "first_push_bytes": Figure("first push: bytes uploaded", "bytes"),
    "one_pin_push_s": Figure("push after the one-pin change", "s"),
    "one_pin_push_bytes": Figure("push after the one-pin change: bytes", "bytes"),
    "republish_s": Figure("re-publish, new tag only", "s"),
    "republish_bytes": Figure("re-publish, new tag only: bytes", "bytes"),
    "pull_s": Figure("pull into an engine without the image", "s"),
    "pull_bytes": Figure("pull: bytes downloaded", "bytes"),
    "one_pin_pull_s": Figure("pull after the one-pin change", "s"),
    "one_pin_pull_bytes": Figure("pull after the one-pin change: bytes", "bytes"),
    # The image as `invoke publish` ships it, per layer compression (zstd only from the containerd store).
    "gzip_release_s": Figure("publish's label step, gzip layers", "s"),
    "gzip_bytes": Figure("published size, gzip layers", "bytes"),
    "gzip_push_s": Figure("push, gzip layers", "s"),
    "gzip_pull_s": Figure("pull, gzip layers", "s"),
    "zstd_release_s": Figure("publish's label step, zstd layers", "s"),
    "zstd_bytes": Figure("published size, zstd layers", "bytes"),
    "zstd_push_s": Figure("push, zstd layers", "s"),
    "zstd_pull_s": Figure("pull, zstd layers", "s"),
}


@dataclass(frozen=True)
class Sample:
    contender: str  # "kit" or "baseline"
    figures: dict[str, float]
    run: int = 0


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class Row:
    figure: str
    kit: Spread | None
    baseline: Spread | None
    ratio: float | None  # kit median / baseline median


@dataclass(frozen=True)
class Target:
    goal: str
    holds: bool
    measured: str


@dataclass
class Report:
    variant: str
    runs: int
    tiny: bool
    machine: dict[str, str]
    one_pin: str
    download_rates: list[float]
    samples: list[Sample]
    finished_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rows = [row for key in FIGURES if (row := _row(key, self.samples)) is not None]
        self.targets = targets(self)

    def median(self, contender: str, key: str) -> float | None:
        row = next((row for row in self.rows if row.figure == key), None)
        spread = row and (row.kit if contender == "kit" else row.baseline)
        return spread.median if spread else None


def _spread(values: list[float]) -> Spread | None:
    return Spread(statistics.median(values), min(values), max(values)) if values else None


def _row(key: str, samples: list[Sample]) -> Row | None:
    kit = _spread([s.figures[key] for s in samples if s.contender == "kit" and key in s.figures])
    baseline = _spread([s.figures[key] for s in samples if s.contender == "baseline" and key in s.figures])
    if kit is None and baseline is None:
        return None
    ratio = kit.median / baseline.median if kit and baseline and baseline.median else None
    return Row(key, kit, baseline, ratio)


def targets(report: Report) -> list[Target]:
    """The issue's targets, each decided by medians of this report; a target
    whose figures this run did not measure (tiny mode) is left out."""

    def kit(key: str) -> float | None:
        return report.median("kit", key)

    def base(key: str) -> float | None:
        return report.median("baseline", key)

    def against_baseline(goal: str, key: str, factor: float) -> Target | None:
        k, b = kit(key), base(key)
        if k is None or b is None:
            return None
        return Target(goal, k <= b * factor, f"{_ratio_text(k, b)} ({_shown(k, key)} vs {_shown(b, key)})")

    def share_of_image(goal: str, key: str) -> Target | None:
        moved, image = kit(key), kit("compressed_bytes")
        if moved is None or not image:
            return None
        return Target(goal, moved < 0.05 * image, f"{_ratio_text(moved, image, percent=True)} ({_shown(moved, key)})")

    def at_most(goal: str, key: str, limit: float) -> Target | None:
        value = kit(key)
        return None if value is None else Target(goal, value <= limit, _shown(value, key))

    cold, floor = kit("cold_build_s"), kit("floor_s")
    found = [
        against_baseline("cold build <= 0.6x the baseline", "cold_build_s", 0.6),
        None
        if cold is None or not floor
        else Target("cold build <= 1.5x its floor", cold <= 1.5 * floor, f"{_ratio_text(cold, floor)} the floor"),
        at_most("examples/ edit rebuilds in < 5 s", "edit_rebuild_s", 5.0),
        at_most("examples/ edit rebuilds no package layer (only the examples layer)", "edit_layers_rebuilt", 1),
        share_of_image("push after a one-pin change moves < 5% of the compressed image", "one_pin_push_bytes"),
        share_of_image("pull after a one-pin change moves < 5% of the compressed image", "one_pin_pull_bytes"),
        against_baseline("first push <= 0.6x the one-layer baseline's", "first_push_s", 0.6),
        against_baseline("pull <= 0.6x the one-layer baseline's", "pull_s", 0.6),
        against_baseline("compressed size <= the baseline's", "compressed_bytes", 1.0),
        at_most("re-publish with only new tags uploads no layer bytes", "republish_bytes", 0),
    ]
    return [target for target in found if target is not None]


def _ratio_text(value: float | None, of: float | None, percent: bool = False) -> str:
    if value is None or not of:
        return "n/a"
    return f"{100 * value / of:.1f}%" if percent else f"{value / of:.2f}x"


def _shown(value: float | None, key: str) -> str:
    if value is None:
        return "-"
    unit = FIGURES[key].unit
    if unit == "bytes":
        return f"{value / 1e9:.2f} GB" if value >= 1e8 else f"{value / 1e6:.1f} MB"
    if unit == "layers":
        return f"{value:g}"
    return f"{value:.1f} s"


def _cell(spread: Spread | None, key: str) -> str:
    if spread is None:
        return "-"
    if spread.low == spread.high:
        return _shown(spread.median, key)
    return f"{_shown(spread.median, key)} ({_shown(spread.low, key)}-{_shown(spread.high, key)})"


def markdown(report: Report) -> str:
    lines = [
        f"### `invoke bench` {report.variant}: kit vs plain pip Dockerfile",
        "",
        f"{report.runs} run(s){' (tiny mode, stand-in recipe)' if report.tiny else ''}, alternating which builds "
        f"first; median (min-max). One-pin change: {report.one_pin}. Machine: {report.machine['summary']}.",
        "",
        "| figure | kit | baseline | kit / baseline |",
        "|---|---|---|---|",
    ]
    for row in report.rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        kit, baseline = _cell(row.kit, row.figure), _cell(row.baseline, row.figure)
        lines.append(f"| {FIGURES[row.figure].label} | {kit} | {baseline} | {ratio} |")
    lines += ["", "| target | holds | measured |", "|---|---|---|"]
    lines += [f"| {t.goal} | {'yes' if t.holds else '**no**'} | {t.measured} |" for t in report.targets]
    return "\n".join(lines) + "\n"


def chart(report: Report) -> str:
    """An SVG bar per figure the two images share: the kit's median as a
    multiple of the baseline's, with the baseline at 1.0x. Where a picture
    reads better than the table: which way each figure went, at a glance."""
    rows = [row for row in report.rows if row.ratio is not None]
    width, label_width, bar_height, scale_max = 720, 330, 22, max([2.0, *(row.ratio or 0 for row in rows)])
    plot = width - label_width - 60
    height = 40 + bar_height * len(rows)
    one = label_width + plot / scale_max
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="12">',
        f'<text x="4" y="16" font-weight="bold">{html.escape(report.variant)}: kit / baseline (median of '
        f"{report.runs} run(s); shorter is better)</text>",
    ]
    for index, row in enumerate(rows):
        y = 28 + index * bar_height
        ratio = row.ratio or 0.0
        colour = "#2a7d2a" if ratio <= 1 else "#b03a2e"
        parts += [
            f'<text x="4" y="{y + 15}">{html.escape(FIGURES[row.figure].label)}</text>',
            f'<rect x="{label_width}" y="{y + 4}" width="{plot * ratio / scale_max:.1f}" height="{bar_height - 8}" '
            f'fill="{colour}"/>',
            f'<text x="{label_width + plot * ratio / scale_max + 4:.1f}" y="{y + 15}">{ratio:.2f}x</text>',
        ]
    parts += [f'<line x1="{one:.1f}" y1="24" x2="{one:.1f}" y2="{height}" stroke="#444" stroke-dasharray="4 3"/>']
    return "\n".join([*parts, "</svg>"]) + "\n"


def machine(client: docker.DockerClient) -> dict[str, str]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")), "unknown"
    )
    memory = next((line.split()[1] for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), "0")
    engine = str(client.version().get("Version", "unknown"))
    store = capabilities.store_of(client.info())  # the export's cost, and the sizes, depend on it
    cores = os.cpu_count() or 0
    summary = (
        f"{cores} cores ({cpu}), {int(memory) / 2**20:.0f} GiB RAM, {platform.machine()}, Docker {engine}, "
        f"{store} image store"
    )
    return {
        "cpu": cpu,
        "cores": str(cores),
        "memory_kib": memory,
        "docker": engine,
        "store": store,
        "kernel": platform.release(),
        "summary": summary,
    }


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def report_paths(settings: Settings, variant: str) -> tuple[Path, Path, Path]:
    """reports/bench/<variant>.json, .md and .svg."""
    folder = settings.reports_path / "bench"
    return folder / f"{variant}.json", folder / f"{variant}.md", folder / f"{variant}.svg"


def write_report(report: Report, settings: Settings) -> None:
    json_path, markdown_path, chart_path = report_paths(settings, report.variant)
    write_json(settings, json_path, report)
    write_text_report(settings, markdown_path, markdown(report))
    write_text_report(settings, chart_path, chart(report))
