"""The recipe kinds behind one interface: chosen once from the variant, each
recipe read once on the build path, and no stage outside the kinds testing
a recipe's name to decide how to lock, plan, build or check it."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from envkit import ROOT
from envkit.catalog.selection import select
from envkit.core.settings import Settings
from envkit.images import plan
from envkit.recipes import conda_lock, dev_lock, files, pip_lock
from envkit.recipes.kinds import kind_of


@pytest.mark.parametrize(
    ("flags", "kind"),
    [
        ({"cuda": "12.1"}, pip_lock.KIND),
        ({"cuda": "12.1", "recipe": "conda"}, conda_lock.KIND),
        ({"cuda": "12.1", "dev": True}, dev_lock.KIND),
    ],
)
def test_the_kind_is_chosen_once_from_the_variant(flags, kind):
    assert kind_of(select(**flags)) is kind


@pytest.mark.parametrize("dev", [False, True])
def test_a_build_plan_reads_each_recipe_file_once(monkeypatch, dev):
    reads: Counter[str] = Counter()
    real = files.read_text

    def counted(path: Path) -> str:
        reads[str(path.relative_to(ROOT))] += 1
        return real(path)

    monkeypatch.setattr(files, "read_text", counted)
    variant = select("12.1", dev=dev)
    made = plan.make_dev(variant, Settings(), "torch-env:cu121-pip") if dev else plan.make(variant, Settings())
    assert made.recipe_file == variant.lock_file and made.recipe_inputs.startswith("sha256:")
    locks = [variant.lock_file, variant.runtime.lock_file] if dev else [variant.lock_file]
    assert {lock: reads[lock] for lock in locks} == dict.fromkeys(locks, 1), reads
    assert max(reads.values()) == 1, reads  # every input of the inputs digest once, too


# The stages that decide through the kind. The catalog (which kinds a feature
# offers: dev images and the bench on pip), `invoke lock`'s choice of targets
# by --recipe and the kinds' own modules may name recipes.
_ASK_THE_KIND = ["envkit/images", "envkit/checks", "envkit/status", "envkit/recipes/files.py"]


def _recipe_name_tests(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and any(
            isinstance(side, ast.Attribute) and side.attr == "recipe" for side in [node.left, *node.comparators]
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_stage_outside_the_kinds_tests_the_recipe_name():
    paths = [
        p
        for where in _ASK_THE_KIND
        for p in ((ROOT / where).rglob("*.py") if (ROOT / where).is_dir() else [ROOT / where])
    ]
    assert [found for path in paths for found in _recipe_name_tests(path)] == []
