"""Provenance of a build from a real git repository: a clean tree is its commit and commit date, a dirty one
the time of its newest change, so a rebuild with nothing changed gives the same labels either way."""

import os
import subprocess
from datetime import UTC, datetime

import pytest

from envkit.core import provenance

COMMITTED = "2026-11-30T10:00:00+00:00"
LATER = datetime(2026, 12, 1, 9, 30, tzinfo=UTC).timestamp()


def git(repo, *args):
    env = {**os.environ, "GIT_COMMITTER_DATE": COMMITTED, "GIT_AUTHOR_DATE": COMMITTED}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "kit@example.invalid")
    git(tmp_path, "config", "user.name", "kit")
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "pip.Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "a file -> with arrows").write_text("odd name\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "seed")
    return tmp_path


def sha(repo):
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def test_a_clean_tree_is_its_commit_and_commit_date(repo):
    origin = provenance.current("https://example.invalid/kit", root=repo)
    assert origin.revision == sha(repo)
    assert datetime.fromisoformat(origin.created) == datetime.fromisoformat(COMMITTED)


def test_a_dirty_tree_is_the_time_of_its_newest_change_and_stays_so_until_the_next(repo):
    edited = repo / "docker" / "pip.Dockerfile"
    edited.write_text("FROM scratch\nLABEL x=1\n")
    os.utime(edited, (LATER, LATER))
    first = provenance.current(root=repo)
    assert first.revision == f"{sha(repo)}-dirty"
    assert datetime.fromisoformat(first.created).timestamp() == LATER
    assert provenance.current(root=repo) == first  # a rebuild with nothing changed: the same labels
    os.utime(edited, (LATER + 60, LATER + 60))
    assert datetime.fromisoformat(provenance.current(root=repo).created).timestamp() == LATER + 60


def test_a_deleted_file_counts_its_directory_and_a_rename_both_ends(repo):
    (repo / "docker" / "pip.Dockerfile").unlink()
    os.utime(repo / "docker", (LATER, LATER))
    assert datetime.fromisoformat(provenance.current(root=repo).created).timestamp() == LATER
    git(repo, "mv", "a file -> with arrows", "renamed")
    os.utime(repo / "renamed", (LATER + 2, LATER + 2))
    # Only the old path, gone, can bring in its directory's time: the new one exists and has its own.
    os.utime(repo, (LATER + 5, LATER + 5))
    assert datetime.fromisoformat(provenance.current(root=repo).created).timestamp() == LATER + 5


def test_a_deleted_folder_counts_the_folder_that_held_it(repo):
    (repo / "docker" / "pip.Dockerfile").unlink()
    (repo / "docker").rmdir()
    os.utime(repo, (LATER + 7, LATER + 7))
    assert datetime.fromisoformat(provenance.current(root=repo).created).timestamp() == LATER + 7


def test_a_change_older_than_the_commit_is_dated_no_earlier_than_the_commit(repo):
    edited = repo / "a file -> with arrows"
    edited.write_text("restored from an old copy\n")
    os.utime(edited, (0, 0))
    origin = provenance.current(root=repo)
    assert origin.revision.endswith("-dirty")
    assert datetime.fromisoformat(origin.created) == datetime.fromisoformat(COMMITTED)


def test_outside_a_git_tree_the_revision_is_unknown_and_the_time_is_the_builds(tmp_path):
    before = datetime.now(UTC).replace(microsecond=0)
    origin = provenance.current(root=tmp_path)
    assert origin.revision == "unknown" and origin.source == "unknown"
    assert before <= datetime.fromisoformat(origin.created) <= datetime.now(UTC)
