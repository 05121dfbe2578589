"""The recipe kinds behind one interface: chosen once from the variant, each
recipe read once on the build path, and no stage outside the kinds testing
a recipe's name to decide how to lock, plan, build or check it."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from envkit import ROOT
from envkit.catalog.data_files import RECIPES
from envkit.catalog.recipes import RECIPE_FACTS
from envkit.catalog.selection import select
from envkit.catalog.variants import declared, lock_settings, variants_file
from envkit.core.settings import Settings
from envkit.images import plan
from envkit.recipes import conda_lock, dev_lock, files, pip_lock
from envkit.recipes.kinds import KINDS, kind_of


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


# Every module but the kinds' own decides through the kind (how to lock, plan, build or check) or through the
# recipe's facts (envkit/catalog/recipes.py: its files, what it can do): none names a recipe to decide.
_KINDS_OWN = {"kinds.py", "recipe_kind.py", "pip_lock.py", "conda_lock.py", "dev_lock.py"}


def _recipe_name_tests(path: Path) -> list[str]:
    """`x.recipe == "pip"`, `recipe != "conda"`, `recipe in ("pip", ...)`: a recipe tested against a name."""

    def is_recipe(node: ast.expr) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "recipe") or (
            isinstance(node, ast.Name) and node.id == "recipe"
        )

    def is_name(node: ast.expr) -> bool:
        strings = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
        return any(isinstance(item, ast.Constant) and isinstance(item.value, str) for item in strings)

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_recipe(side) for side in sides) and any(is_name(side) for side in sides):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_module_outside_the_kinds_tests_the_recipe_name():
    paths = [ROOT / "tasks.py"] + [
        path
        for path in (ROOT / "envkit").rglob("*.py")
        if not (path.parent.name == "recipes" and path.name in _KINDS_OWN)
    ]
    assert [found for path in paths for found in _recipe_name_tests(path)] == []


def test_the_check_sees_a_recipe_tested_against_a_name(tmp_path):
    sample = ROOT / "tests" / "unit" / "_recipe_sample.py"  # under ROOT: the finder names paths from there
    sample.write_text('def f(variant, recipe):\n    return variant.recipe == "pip" or recipe in ("conda",)\n')
    try:
        assert _recipe_name_tests(sample) == ["tests/unit/_recipe_sample.py:2", "tests/unit/_recipe_sample.py:2"]
    finally:
        sample.unlink()


def test_every_recipe_has_its_facts_its_section_and_its_kind():
    assert set(RECIPE_FACTS) == set(KINDS) == set(RECIPES)
    for name, facts in RECIPE_FACTS.items():
        section = variants_file().recipes.of(name)
        assert (ROOT / section.dockerfile).is_file(), name
        assert "{stem}" in facts.input_file and "{stem}" in facts.lock_file, name
    for variant in declared():
        assert variant.lock_file == RECIPE_FACTS[variant.recipe].lock_file.format(
            stem=variant.stem, conda_platform=lock_settings().conda_platform
        )
    assert select("12.1").lock_file == "env/pip/cu121.txt" and (ROOT / "env/pip/cu121.txt").is_file()
    assert select("12.1", "conda").input_file == "env/conda/cu121.yml"
