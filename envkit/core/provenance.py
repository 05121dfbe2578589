"""Where a build comes from: the git revision, its date and the source URL,
for the OCI labels. A dirty tree is marked, so a label never claims a commit
the image was not built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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


def _git(*args: str) -> str:
    try:
        result = proc.capture(["git", "-C", str(ROOT), *args])
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def current(source_url: str = "") -> Provenance:
    """A clean tree is labelled with its commit and commit date, so that
    rebuilding the same commit gives the same labels; a dirty one with
    `<sha>-dirty` and the time of the build."""
    revision = _git("rev-parse", "HEAD") or "unknown"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    if revision != "unknown" and not dirty:
        created = _git("show", "-s", "--format=%cI", "HEAD")
    else:
        created = datetime.now(UTC).isoformat(timespec="seconds")
        revision = f"{revision}-dirty" if revision != "unknown" else revision
    source = source_url or _git("remote", "get-url", "origin") or "unknown"
    return Provenance(revision=revision, created=created, source=source)
