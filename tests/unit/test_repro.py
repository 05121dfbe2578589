"""verify-repro's listings, run here on real trees: where two builds' image digests differ though the builder
rewrites times, what a user needs is the file (and the field of it) that differs, not just "something"."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest

from envkit.images.repro import _LISTING, Comparison, compare_listings, differing_layers, repro_summary


def listing(root, *options):
    output = subprocess.run(
        [sys.executable, "-B", "-c", _LISTING, str(root), *options], capture_output=True, text=True, check=True
    )
    return json.loads(output.stdout)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "build-a"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "a.so").write_bytes(b"\x7fELF one")
    os.link(root / "lib" / "a.so", root / "lib" / "b.so")
    (root / "lib" / "current").symlink_to("a.so")
    os.mkfifo(root / "lib" / "pipe")  # read by nothing: a listing that opened it would hang
    return root


def test_the_environment_listing_holds_mode_and_content_only(tree):
    entries = listing(tree)
    assert entries["lib/a.so"][1] == entries["lib/b.so"][1] and entries["lib/a.so"][1].startswith("sha256:")
    assert entries["lib/current"] == ["0o777", "link:a.so"]
    assert entries["lib/pipe"][1] == "type:0o10000"
    assert {len(entry) for entry in entries.values()} == {2}


def test_the_whole_listing_holds_owner_time_hard_links_and_attributes(tree):
    try:
        os.setxattr(tree / "lib" / "a.so", "user.envkit", b"\x01")
    except OSError:
        pytest.skip("this file system takes no user extended attributes")
    entries = listing(tree, "--whole")
    mode, content, owner, mtime, first, attributes = entries["lib/b.so"]
    assert (mode, content) == (entries["lib/a.so"][0], entries["lib/a.so"][1])
    assert first == "lib/a.so"  # a hard link names the path its inode was first seen at
    assert owner == f"{os.getuid()}:{os.getgid()}" and mtime == str(os.lstat(tree / "lib" / "b.so").st_mtime_ns)
    assert json.loads(attributes) == {"user.envkit": "01"}
    assert entries["lib"][4] == entries["lib/current"][4] == ""  # neither is a hard link


def test_two_trees_differing_only_in_a_time_or_a_link_name_the_file_and_the_field(tree):
    other = tree.with_name("build-b")
    # Copies: the hard link is lost.
    shutil.copytree(tree, other, symlinks=True, copy_function=shutil.copy2, ignore=lambda *_: ["pipe"])
    os.mkfifo(other / "lib" / "pipe")
    os.utime(other / "lib" / "pipe", ns=(0, os.lstat(tree / "lib" / "pipe").st_mtime_ns))
    os.utime(other / "lib", ns=(0, os.lstat(tree / "lib").st_mtime_ns))
    os.utime(other / "lib" / "a.so", ns=(0, 1_000_000_000))
    a, b = listing(tree, "--whole"), listing(other, "--whole")
    differences = compare_listings(a, b)
    assert f"time differs: lib/a.so ({a['lib/a.so'][3]} / 1000000000)" in differences
    assert "hard link differs: lib/b.so (lib/a.so / )" in differences
    assert len(differences) == 3, differences  # and the first's lib/a.so, the hard link's first path
    assert compare_listings(listing(tree), listing(other)) == []  # the environment listing holds neither


def test_the_layers_that_differ_count_from_the_lowest():
    assert differing_layers(["a", "b", "c"], ["a", "x", "c", "d"]) == [2, 4]
    assert differing_layers(["a"], ["a"]) == []


def test_digests_that_differ_though_they_should_not_name_the_layers_and_files():
    unexplained = Comparison("cpu-pip", "/opt/venv", 10, image_ids=["sha256:a", "sha256:b"], digests_expected=True)
    found = dataclasses.replace(unexplained, layers_differing=[14], image_differences=["time differs: tmp (1 / 2)"])
    summary = repro_summary(found)
    assert "layers that differ (1 = the lowest): 14" in summary and "    time differs: tmp (1 / 2)" in summary
    assert "the layers' archives differ in form" in repro_summary(unexplained)
    # Where the builder cannot make the digests equal, nothing more is looked for or said.
    expected_to_differ = dataclasses.replace(found, digests_expected=False)
    assert "layers that differ" not in repro_summary(expected_to_differ)
