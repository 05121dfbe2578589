"""Read the pinned recipes in env/: pip requirement files and conda
environment files. The static tests and `invoke test` both compare against
what these return."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


@dataclass(frozen=True)
class PipPin:
    name: str
    version: str
    hashes: tuple[str, ...] = ()


@dataclass
class PipRecipe:
    pins: dict[str, PipPin] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)  # --index-url and friends
    loose: list[str] = field(default_factory=list)  # requirements not pinned with ==

    def versions(self) -> dict[str, str]:
        return {name: pin.version for name, pin in self.pins.items()}


def _logical_lines(text: str) -> list[str]:
    """Join backslash continuations and drop comments, as pip does."""
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            lines.append(current.strip())
        current = ""
    return lines


def read_pip(path: Path) -> PipRecipe:
    recipe = PipRecipe()
    for line in _logical_lines(path.read_text()):
        if line.startswith("-"):
            recipe.options.append(line)
            continue
        spec, *rest = line.split(" --hash=")
        requirement = Requirement(spec.strip())
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
            recipe.loose.append(line)
            continue
        name = canonicalize_name(requirement.name)
        recipe.pins[name] = PipPin(name, specifiers[0].version, tuple(h.strip() for h in rest))
    return recipe


@dataclass
class CondaRecipe:
    channels: list[str]
    pins: dict[str, str]  # name -> version, for `name=version` specs
    unpinned: list[str]  # names listed without a version


def read_conda(path: Path) -> CondaRecipe:
    data = yaml.safe_load(path.read_text())
    pins: dict[str, str] = {}
    unpinned: list[str] = []
    for spec in data["dependencies"]:
        name, _, version = str(spec).split("::")[-1].partition("=")
        if version:
            pins[name] = version
        else:
            unpinned.append(name)
    return CondaRecipe(channels=list(data["channels"]), pins=pins, unpinned=unpinned)
