"""Read the pinned recipes in env/: pip requirement files and conda
environment files. The static tests and `invoke test` both compare against
what these return."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
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
    return parse_pip(path.read_text())


def parse_pip(text: str) -> PipRecipe:
    recipe = PipRecipe()
    for line in _logical_lines(text):
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


# The first line of every lock `invoke lock` writes: what it was made from.
LOCK_HEADER = "# envkit-lock:"


def read_header(path: Path) -> dict[str, str] | None:
    """The `key=value; ...` fields of a lock's header; None for a file without one
    (a recipe pinned by hand)."""
    with path.open() as handle:
        first = handle.readline()
    if not first.startswith(LOCK_HEADER):
        return None
    pairs = (item.strip().partition("=") for item in first[len(LOCK_HEADER) :].split(";") if item.strip())
    return {key: value for key, _, value in pairs}


def format_header(fields: dict[str, str]) -> str:
    return f"{LOCK_HEADER} " + "; ".join(f"{key}={value}" for key, value in fields.items()) + "\n"


def read_conda_lock(path: Path) -> dict[str, str]:
    """An explicit conda lock's packages: name -> `version-build`, read from
    each URL's file name (`name-version-build.conda` or `.tar.bz2`)."""
    packages = {}
    for line in path.read_text().splitlines():
        if not line.startswith(("http://", "https://", "file://")):
            continue
        filename = line.split("#", 1)[0].rsplit("/", 1)[-1]
        stem = filename.removesuffix(".tar.bz2").removesuffix(".conda")
        name, version, build = stem.rsplit("-", 2)
        packages[name] = f"{version}-{build}"
    return packages


def is_hash_locked(path: Path) -> bool:
    """Every package pinned with a hash: pip `--hash` on every pin, or an
    explicit conda lock (each URL carries its md5 or sha256)."""
    if path.suffix == ".txt":
        pins = read_pip(path).pins.values()
        return bool(pins) and all(pin.hashes for pin in pins)
    urls = [line for line in path.read_text().splitlines() if line.startswith(("http", "file:"))]
    return "@EXPLICIT" in path.read_text() and bool(urls) and all("#" in url for url in urls)


@contextlib.contextmanager
def input_for_new_lock(path: Path, render: Callable[[], str]) -> Iterator[None]:
    """A lock's input file, written from the data when the variant has none yet,
    and taken back if the lock then fails: a failed lock leaves nothing behind."""
    created = not path.exists()
    if created:
        path.write_text(render())
    try:
        yield
    except BaseException:
        if created:
            path.unlink()
        raise
