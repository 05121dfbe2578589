"""Where a build comes from: the git revision, its date and the source URL,
for the OCI labels. A dirty tree is marked, so a label never claims a commit
the image was not built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from envkit import ROOT
from envkit.core import proc


@dataclass(frozen=True)
class Provenance:
    revision: str
    created: str
    source: str

    @property
    def epoch(self) -> int:
        """`created` as SOURCE_DATE_EPOCH: the commit's time, for a clean tree."""
        return int(datetime.fromisoformat(self.created).timestamp())


def _git(root: Path, *args: str, strip: bool = True) -> str:
    try:
        result = proc.capture(["git", "-C", str(root), *args])
    except OSError:
        return ""
    if result.returncode != 0:
        return ""
    return result.stdout.strip() if strip else result.stdout


def _changed_paths(porcelain: str) -> list[str]:
    """The paths `git status --porcelain -z` lists; a rename's entry is followed by its old path."""
    fields = porcelain.split("\0")
    paths, i = [], 0
    while i < len(fields):
        entry = fields[i]
        if len(entry) > 3:
            paths.append(entry[3:])
            if {"R", "C"} & set(entry[:2]):
                i += 1  # the old path: gone from the tree, its directory's time counts
                paths.append(fields[i])
        i += 1
    return paths


def _newest_change(root: Path, paths: list[str]) -> float:
    """When the newest uncommitted change was made: each changed file's time, or, where it was deleted, the
    time of the nearest folder still there (a deletion changes the folder it was in; a deleted folder, the
    one above). 0 where none of them can be read."""
    times = []
    for path in paths:
        for candidate in (root / path, *(root / path).parents):  # the tree's root exists: the walk ends there
            try:
                times.append(candidate.stat().st_mtime)
                break
            except OSError:
                continue
    return max(times, default=0.0)


def current(source_url: str = "", root: Path = ROOT) -> Provenance:
    """A clean tree is labelled with its commit and commit date, so that rebuilding the same commit gives
    the same labels. A dirty one is labelled `<sha>-dirty` with the time of its newest change (never before
    the commit's): rebuilding it with nothing changed gives the same labels too, so the image keeps its id
    and its test; an edit to a tracked file moves the time, and the image is a new one."""
    revision = _git(root, "rev-parse", "HEAD") or "unknown"
    committed = _git(root, "show", "-s", "--format=%cI", "HEAD") if revision != "unknown" else ""
    changes = _changed_paths(_git(root, "status", "--porcelain", "-z", "--untracked-files=no", strip=False))
    if committed and not changes:
        created = committed
    else:
        floor = datetime.fromisoformat(committed).timestamp() if committed else 0.0
        newest = max(_newest_change(root, changes), floor)
        moment = datetime.fromtimestamp(newest, UTC) if newest else datetime.now(UTC)
        created = moment.isoformat(timespec="seconds")
        revision = f"{revision}-dirty" if revision != "unknown" else revision
    source = source_url or _git(root, "remote", "get-url", "origin") or "unknown"
    return Provenance(revision=revision, created=created, source=source)
