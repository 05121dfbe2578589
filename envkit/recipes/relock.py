"""What a relock may move, and saying what it moved.

An index's history is not append-only. A file can appear on PyPI, or on a
mirror that syncs late and keeps PyPI's upload time, with an upload time
before a lock's `exclude_newer` cut-off, after the lock was written: httpx
0.29.0 appeared on the index this kit locks from stamped 2026-11-26T15:58Z,
after env/pip/*.dev.txt had been locked at a cut-off of 2026-11-27 and had
taken 0.28.1. The cut-off alone cannot make a relock reproducible, so a
relock starts from the lock it replaces, as pip-tools and uv do: uv prefers
each pin already in its output file where the inputs still allow it, and
moves only what the inputs force. `invoke lock --upgrade` resolves afresh
at the cut-off, and every pin that moves is reported, with the reason when
the cut-off did not move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from envkit.core.errors import UsageError
from envkit.recipes.files import parse_pip, read_header


@dataclass(frozen=True)
class Written:
    """A lock written, and what it moved (`report`'s lines)."""

    path: Path
    moves: tuple[str, ...] = ()


def check_cutoff(exclude_newer: str, where: str = "env/variants.toml [lock] exclude_newer") -> None:
    """A cut-off still ahead admits files uploaded after the lock is written: no lock made at it can be
    made again. Refuse it before anything is resolved."""
    if not exclude_newer:
        return
    cutoff = datetime.fromisoformat(exclude_newer.replace("Z", "+00:00"))
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=UTC)
    if cutoff > datetime.now(UTC):
        raise UsageError(
            f"{where} is {exclude_newer}, which has not come yet: files uploaded before it can still appear, "
            "so a lock made now could not be made again. Set a moment that has passed, then run `invoke lock`."
        )


def seed(target: Path, output: Path, upgrade: bool) -> None:
    """Put the pins of the lock being replaced where uv writes its output: uv
    reads them as preferences. Versions only: uv would keep the hashes it finds
    there too, and a lock lists the files the index serves now (a mirror may
    serve other files for the same version), each hash read from the index."""
    pins = None if upgrade else _versions_in(target)
    if pins is not None:
        output.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))


def _versions_in(target: Path) -> dict[str, str] | None:
    """The pinned versions of the lock at `target`; None where there is none, or it does not read (a broken
    lock is replaced whole: nothing preferred, nothing compared)."""
    if not target.is_file():
        return None
    try:
        return parse_pip(target.read_text()).versions()
    except (ValueError, UnicodeDecodeError):
        return None


def uv_flags(upgrade: bool) -> list[str]:
    """An upgrade sees the index as it is now, not as uv's cache last saw it."""
    return ["--upgrade", "--refresh"] if upgrade else []


def moved_pins(target: Path, new_text: str) -> list[str]:
    """`name old -> new` for each pin of the lock at `target` that `new_text` changes (added or dropped too)."""
    old = _versions_in(target)
    if old is None:
        return []
    new = parse_pip(new_text).versions()
    return [
        f"{name} {old.get(name, '(none)')} -> {new.get(name, '(none)')}"
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]


def report(target: Path, new_text: str, inputs: str, exclude_newer: str) -> tuple[str, ...]:
    """What a written lock moved, one line each, and why when nothing it is made from changed."""
    moved = moved_pins(target, new_text)
    header = read_header(target) if target.is_file() else None
    lines = [f"  {change}" for change in moved]
    if moved and header is not None and header.get("inputs") == inputs and exclude_newer:
        lines.append(
            f"  (its inputs and the cut-off {exclude_newer} did not change: the index now serves files stamped "
            "before the cut-off that it did not serve when the lock was written)"
        )
    return tuple(lines)
