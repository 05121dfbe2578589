"""What the reference pages say of a dataclass's fields, read from the code
that defines them: the type, the default, and the comment the field carries
(on its line, or the lines just above it), so that a page cannot say other
than the code does."""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class FieldRow:
    key: str  # as a file writes it: `lines.<name>.torch`, `variants[].platform`
    kind: str  # the type in words
    default: str  # "" where the field is required
    about: str  # the field's comment, or the class docstring's first line for a section


def field_comments(cls: type) -> dict[str, str]:
    """Each field's comment: the one on its line, after the lines of comment just above it."""
    source = inspect.getsource(cls)
    above: list[str] = []
    comments: dict[str, str] = {}
    pending: dict[int, str] = {}  # a field's name by the line it is on
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            row = token.start[0]
            if row in pending:
                comments[pending[row]] = " ".join(filter(None, (comments.get(pending[row], ""), text)))
            else:
                above.append(text)
        elif token.type == tokenize.NAME and token.start[1] == 4 and token.line.strip().startswith(token.string + ":"):
            comments[token.string] = " ".join(above)
            pending[token.start[0]] = token.string
            above = []
        elif token.type == tokenize.NAME and token.start[1] == 4:
            above = []  # a method or a class attribute: a comment above it is not a field's
    return {name: text for name, text in comments.items() if text}


def describe_type(hint: Any) -> str:
    """A type in the words a file's reader needs."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return describe_type(args[0])
    if origin in (typing.Union, types.UnionType):
        kinds = [describe_type(arg) for arg in args if arg is not type(None)]
        return " or ".join(kinds) + (" (or none)" if type(None) in args else "")
    if origin is Literal:
        return "one of " + ", ".join(f"`{arg}`" for arg in args)
    if origin is tuple:
        return f"list of {describe_type(args[0])}s" if args else "list"
    if origin is dict:
        return f"table of {describe_type(args[1])}s by name"
    if dataclasses.is_dataclass(hint):
        return "table"
    words = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    return words.get(hint, str(getattr(hint, "__name__", hint)))


def describe_default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return ""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"  # as TOML and YAML write it
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ", ".join(f"{name} = {describe_default(f).strip('`')}" for name, f in _fields_of(value))
    if isinstance(value, (str, tuple, dict)) and not value:
        return "empty"
    return f"`{value}`"


def _fields_of(value: Any) -> list[tuple[str, dataclasses.Field[Any]]]:
    """A dataclass instance's fields, each as a field whose default is the instance's value."""
    return [(f.name, dataclasses.field(default=getattr(value, f.name))) for f in dataclasses.fields(value)]


def field_rows(cls: type, prefix: str = "") -> list[FieldRow]:
    """Every field of a dataclass and, below a field that is a table (or a list or table of tables), its fields."""
    hints = typing.get_type_hints(cls)
    comments: dict[str, str] = {}
    for base in reversed(cls.__mro__):  # a field a base class declares has its comment there
        if dataclasses.is_dataclass(base):
            comments.update(field_comments(base))
    rows = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        key = f"{prefix}{field.name}"
        inner, suffix = _table_inside(hint)
        about = comments.get(field.name, "") or (summary(inner) if inner is not None else "")
        rows.append(FieldRow(key, describe_type(hint), describe_default(field), about))
        if inner is not None:
            rows += field_rows(inner, f"{key}{suffix}.")
    return rows


def _table_inside(hint: Any) -> tuple[type | None, str]:
    """The dataclass a field holds (as itself, a list or a table of them), and how a key names one."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _table_inside(args[0])
    inner, suffix = hint, ""
    if origin is tuple and args:
        inner, suffix = args[0], "[]"
    elif origin is dict:
        inner, suffix = args[1], ".<name>"
    return (inner, suffix) if isinstance(inner, type) and dataclasses.is_dataclass(inner) else (None, "")


def summary(cls: type) -> str:
    """A class's docstring, as one paragraph."""
    return " ".join((inspect.getdoc(cls) or "").split()) if cls.__doc__ else ""
