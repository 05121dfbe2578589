"""The known advisories of the torch releases the kit installs
(env/advisories.toml): which of them a torch is affected by, and which line
of env/variants.toml fixes them all. `invoke info`, `test` and `doctor` say
it offline; `invoke audit` asks the live feed and stays the authority."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Annotated

import pydantic
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from envkit.catalog.data_files import read_data_file, refuse
from envkit.catalog.variants import SEED, cuda_flag, default_pins, lines
from envkit.core.validation import STRICT, Words, validate

NAME = "advisories.toml"
SEVERITIES = ("low", "moderate", "high", "critical")
_ID = re.compile(r"(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+)")


def _advisory_id(text: str) -> str:
    if not _ID.fullmatch(text):
        raise ValueError(f"{text!r} is not a CVE-YYYY-NNNN, GHSA-xxxx-xxxx-xxxx or PYSEC-YYYY-N id")
    return text


def _specifier(text: str) -> str:
    try:
        if not SpecifierSet(text):
            raise ValueError('is empty: name the affected releases, e.g. "<2.6.0"')
    except InvalidSpecifier:
        raise ValueError(f'{text!r} is not a PEP 440 specifier such as "<2.6.0"') from None
    return text


def _release(text: str) -> str:
    try:
        Version(text)
    except InvalidVersion:
        raise ValueError(f"{text!r} is not a release number") from None
    return text


def _severity(text: str) -> str:
    if text not in SEVERITIES:
        raise ValueError(f"{text!r} is not one of {', '.join(SEVERITIES)}")
    return text


def _https(text: str) -> str:
    if not re.fullmatch(r"https://[^\s/]+/\S*", text):
        raise ValueError(f"{text!r} is not an https:// address")
    return text


AdvisoryId = Annotated[str, pydantic.AfterValidator(_advisory_id)]


@dataclass(frozen=True)
class Advisory:
    """One advisory ([[advisory]]): doctor, info and `invoke test` name it for an affected pin."""

    __pydantic_config__ = STRICT
    id: AdvisoryId  # GHSA-..., PYSEC-... or CVE-...
    aliases: tuple[AdvisoryId, ...]  # its other ids
    package: Words  # the package it is about (torch)
    affected: Annotated[str, pydantic.AfterValidator(_specifier)]  # the releases affected, as a specifier (<2.6.0)
    fixed_in: Annotated[str, pydantic.AfterValidator(_release)]  # the first release that fixes it
    severity: Annotated[str, pydantic.AfterValidator(_severity)]  # low, moderate, high or critical
    summary: Words  # one line
    source: Annotated[str, pydantic.AfterValidator(_https)]  # the advisory's https:// address

    def affects(self, package: str, release: str) -> bool:
        version = Version(release).public  # 2.4.1+cu121 is release 2.4.1
        return package == self.package and SpecifierSet(self.affected).contains(version, prereleases=True)

    @property
    def said(self) -> str:
        return f"{self.id} ({self.severity}, fixed in {self.fixed_in})"


@dataclass(frozen=True)
class AdvisoryFile:
    """env/advisories.toml: the security advisories the kit names wherever a pin they affect is used."""

    __pydantic_config__ = STRICT
    advisory: tuple[Advisory, ...] = ()


@cache
def advisories() -> tuple[Advisory, ...]:
    fix = f"Fix env/{NAME} (`git diff env/{NAME}` shows what changed since the last commit)."
    known = validate(AdvisoryFile, read_data_file(NAME), f"env/{NAME}", fix).advisory
    seen: set[str] = set()
    for index, advisory in enumerate(known):
        where = f"advisory[{index}]"
        if duplicate := next((i for i in (advisory.id, *advisory.aliases) if i in seen), None):
            raise refuse(NAME, f"{where}: {duplicate} is listed twice; each advisory once, by its id")
        seen.update((advisory.id, *advisory.aliases))
        if advisory.affects(advisory.package, advisory.fixed_in):
            raise refuse(NAME, f"{where}.fixed_in: {advisory.fixed_in} is inside affected {advisory.affected!r}")
    return known


def affecting(torch: str) -> tuple[Advisory, ...]:
    """The known advisories a torch release (`2.4.1`, or `2.4.1+cu121` as measured) is affected by."""
    return tuple(advisory for advisory in advisories() if advisory.affects("torch", torch))


@dataclass(frozen=True)
class Fixing:
    line: str  # a name of env/variants.toml [lines], or the seed
    torch: str
    platform: str  # the platform whose `--cuda` selects it ("" for the seed)


def fixing_line(torch: str) -> Fixing | None:
    """The line whose torch has none of the advisories `torch` has (the
    newest such, as lines are listed newest first), or None when none does."""
    found = affecting(torch)
    candidates = [Fixing(name, line.torch, line.platforms[0]) for name, line in lines().items()]
    candidates.append(Fixing(SEED, default_pins().torch, ""))
    for candidate in candidates:
        if candidate.torch != Version(torch).public and not set(found) & set(affecting(candidate.torch)):
            return candidate
    return None


def advisory_note(torch: str) -> str:
    """One sentence for info, test and doctor: "" when none is known."""
    found = affecting(torch)
    if not found:
        return ""
    text = f"torch {Version(torch).public} has known advisories: {', '.join(a.said for a in found)}"
    fixing = fixing_line(torch)
    if fixing is None:
        return f"{text}; no line of env/variants.toml fixes them yet"
    selects = f"`invoke build --cuda {cuda_flag(fixing.platform)}`" if fixing.platform else "the seed's pins"
    return f"{text}; the {fixing.line} line (torch {fixing.torch}, {selects}) fixes them"
