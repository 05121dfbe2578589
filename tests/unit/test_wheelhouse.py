"""The wheelhouse folder rules: the kit replaces only a wheelhouse it wrote
(recognised by a valid wheelhouse.json), all or nothing, and never touches a
file of the user's."""

import json
from dataclasses import asdict

import pytest

from envkit.core.errors import UsageError
from envkit.images.wheelhouse import MANIFEST, Contents, _refuse_foreign, _replace, read_manifest

MADE = Contents("cu121-pip", "env/pip/cu121.txt", "a" * 64, "torch-env-base:bookworm", 29, 40, 3_000_000_000)


def wheelhouse_in(folder, contents=MADE):
    (folder / "wheels").mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps(asdict(contents)))
    return folder


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir(), lambda p: wheelhouse_in(p)])
def test_a_new_empty_or_kit_folder_may_be_filled(tmp_path, make):
    make(tmp_path / "dir")
    _refuse_foreign(tmp_path / "dir")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("x"), "a file, not a folder"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "a folder that is not a wheelhouse"),
        (lambda p: (p.mkdir(), (p / MANIFEST).write_text('{"variant": 1}')), "a folder that is not a wheelhouse"),
        (lambda p: (p.mkdir(), (p / MANIFEST).write_bytes(b"\x00\xff")), "a folder that is not a wheelhouse"),
    ],
    ids=["file", "user-folder", "foreign-manifest", "binary-manifest"],
)
def test_anything_else_is_refused_and_left_alone(tmp_path, make, message):
    target = tmp_path / "dir"
    make(target)
    before = sorted((p.name, p.read_bytes() if p.is_file() else b"") for p in tmp_path.rglob("*"))
    with pytest.raises(UsageError, match=message):
        _refuse_foreign(target)
    assert sorted((p.name, p.read_bytes() if p.is_file() else b"") for p in tmp_path.rglob("*")) == before


def test_replacing_the_kits_own_wheelhouse_leaves_no_scratch(tmp_path):
    old = wheelhouse_in(tmp_path / "wheelhouse")
    (tmp_path / "user.txt").write_text("mine")
    new = wheelhouse_in(tmp_path / "staging", Contents(**{**asdict(MADE), "wheels": 30}))
    _replace(old, new)
    assert read_manifest(tmp_path / "wheelhouse").wheels == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["user.txt", "wheelhouse"]


def test_a_folder_written_into_meanwhile_is_not_replaced(tmp_path):
    target = tmp_path / "wheelhouse"
    target.mkdir()
    (target / "notes.txt").write_text("mine")  # between the first check and the swap
    staging = wheelhouse_in(tmp_path / "staging")
    with pytest.raises(UsageError, match="not a wheelhouse"):
        _replace(target, staging)
    assert (target / "notes.txt").read_text() == "mine"
