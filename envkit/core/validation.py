"""Every file the kit reads is checked once, where it is read, into typed
values (frozen dataclasses validated by pydantic): a file of the wrong shape
is a short message naming the file, the place and the fix, never a
KeyError three modules later."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic

from envkit.core import files
from envkit.core.errors import UsageError

T = TypeVar("T")
STRICT = pydantic.ConfigDict(extra="forbid", strict=True)
_MAX_PROBLEMS = 3


def where(location: Sequence[int | str]) -> str:
    """A pydantic error location as a reader writes it: `torch."2.4.1".platforms[0]`."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if part.replace("_", "").isalnum() else json.dumps(part)
            text += f".{name}" if text else name
    return text or "the top level"


def problems(error: pydantic.ValidationError) -> str:
    """The first few problems, each as `where: what`."""
    found = []
    for detail in error.errors()[:_MAX_PROBLEMS]:
        if detail["type"] == "json_invalid":
            found.append(f"not valid JSON ({detail.get('ctx', {}).get('error', detail['msg'])})")
            continue
        message = detail["msg"]
        if detail["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            message = "unknown key"
        elif detail["type"] == "missing":
            message = "missing"
        elif detail["type"] == "value_error":  # a validator's own words, without pydantic's "Value error, "
            message = str(detail.get("ctx", {}).get("error", message))
        found.append(f"{where(detail['loc'])}: {message}")
    more = error.error_count() - _MAX_PROBLEMS
    return "; ".join(found) + (f"; and {more} more" if more > 0 else "")


def validate_json(kind: type[T], raw: bytes | str, name: str, fix: str) -> T:
    """JSON text as a `kind`, or a UsageError: `NAME: where: what is wrong.` then FIX."""
    try:
        return pydantic.TypeAdapter(kind).validate_json(raw, strict=True)
    except pydantic.ValidationError as error:
        raise UsageError(f"{name}: {problems(error)}.\n{fix}") from None


def validate(kind: type[T], data: Any, name: str, fix: str) -> T:
    """Parsed data (TOML, YAML) as a `kind`. It goes through JSON so that one
    strict set of rules holds for every file: lists stand for tuples, and no
    value is coerced to another type."""
    return validate_json(kind, json.dumps(data, default=str), name, fix)


def read_json(path: Path, kind: type[T], name: str, fix: str) -> T:
    """A JSON file, checked against its shape."""
    return validate_json(kind, files.read_text(path, name), name, fix)


# Values that parse but mean nothing are refused where the file is read, by
# the type of the field that holds them: each says what would be valid.
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PINNED = re.compile(r"[a-z0-9][A-Za-z0-9._\-/:]*@sha256:[0-9a-f]{64}")


def _words(value: str) -> str:
    if not value.strip():
        raise ValueError("is blank: say it in words")
    return value


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"{value:g} is not a size: give a number above 0")  # 0, not 0.0: as the file has it
    return value


def _digest(value: str) -> str:
    if not _DIGEST.fullmatch(value):
        raise ValueError(f"{value!r} is not a digest: sha256:<64 hex digits>")
    return value


def _pinned(value: str) -> str:
    if not _PINNED.fullmatch(value):
        raise ValueError(f"{value!r} is not a pinned reference: REPOSITORY@sha256:<64 hex digits>")
    return value


def _pinned_or_none(value: str) -> str:
    return value and _pinned(value)


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    seen: set[Any] = set()
    twice = [value for value in values if value in seen or seen.add(value)]  # type: ignore[func-returns-value]
    if twice:
        raise ValueError(f"{twice[0]!r} is listed twice; each entry once")
    return values


Words = Annotated[str, pydantic.AfterValidator(_words)]
Positive = Annotated[float, pydantic.AfterValidator(_positive)]
Digest = Annotated[str, pydantic.AfterValidator(_digest)]
PinnedReference = Annotated[str, pydantic.AfterValidator(_pinned)]
OptionalPinnedReference = Annotated[str, pydantic.AfterValidator(_pinned_or_none)]  # "" where there is none
Unique = pydantic.AfterValidator(_unique)  # a tuple whose entries each appear once
UniqueNames = Annotated[tuple[str, ...], Unique]
