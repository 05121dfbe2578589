"""Every file the kit reads or writes goes through here.

Reading: text is UTF-8, nothing else. A file saved as UTF-16 (Windows
PowerShell's `>` does that), one that starts with a byte-order mark, or one in
another encoding is refused in one line naming the file and what was found,
never a UnicodeDecodeError. A missing file is `FILE is missing` with the
caller's fix.

Writing: the whole file or nothing (a temporary file beside it, then a
rename), into a folder the kit owns. The kit never replaces a symbolic link,
dangling or not, that it did not make, never writes through one below the
folder it owns, and refuses a path whose parent is a file; each with one
message and nothing written.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from envkit import ROOT
from envkit.core.errors import UsageError

_SAVE_AS_UTF8 = "save it as UTF-8 (without a byte-order mark)"
_MARKS = (
    (codecs.BOM_UTF32_LE, "a UTF-32 byte-order mark"),  # before UTF-16's: FF FE starts both
    (codecs.BOM_UTF32_BE, "a UTF-32 byte-order mark"),
    (codecs.BOM_UTF16_LE, "a UTF-16 byte-order mark: saved as UTF-16, as PowerShell's `>` does"),
    (codecs.BOM_UTF16_BE, "a UTF-16 byte-order mark"),
    (codecs.BOM_UTF8, "a UTF-8 byte-order mark"),
)
_BOMS = tuple(mark for mark, _ in _MARKS)


def display(path: Path) -> str:
    """A path as the user would type it: relative to the checkout when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def encoding_problem(raw: bytes) -> str:
    """Why these bytes are not the UTF-8 text the kit reads; "" when they are."""
    for mark, words in _MARKS:
        if raw.startswith(mark):
            return f"it starts with {words}"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        return f"byte 0x{raw[error.start]:02x} at line {line}, column {column}"
    return ""


def decode(raw: bytes, name: str, fix: str = "") -> str:
    """UTF-8 bytes as text, or `NAME: not UTF-8 text (WHY); FIX`. Decoded
    once; the reason is worked out only for bytes that are refused."""
    if not raw.startswith(_BOMS):  # a UTF-8 mark decodes: it is refused before
        with contextlib.suppress(UnicodeDecodeError):
            return raw.decode("utf-8")
    raise UsageError(f"{name}: not UTF-8 text ({encoding_problem(raw)}); {fix or _SAVE_AS_UTF8}.")


def read_text(path: Path, name: str = "", fix: str = "", missing: str = "") -> str:
    """A file's UTF-8 text, or one message: missing (then MISSING, else FIX),
    unreadable, a folder, or not UTF-8."""
    shown = name or display(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{shown} is missing; {missing or fix or 'restore it with `git checkout`'}.") from None
    except IsADirectoryError:
        raise UsageError(f"{shown} is a folder, not a file; {fix or 'move it away'}.") from None
    except OSError as error:
        raise UsageError(f"{shown}: cannot be read ({error.strerror}).") from None
    return decode(raw, shown, fix)


def text_or_none(path: Path) -> str | None:
    """The UTF-8 text of a file the kit may replace only if it made it: None
    where there is no such text (missing, a folder, unreadable, another
    encoding), which the caller treats as "not ours"."""
    try:
        return decode(path.read_bytes(), display(path))
    except (OSError, UsageError):
        return None


def check_target(path: Path, owner: Path) -> None:
    """Refuse, before anything is written, a destination that is a symbolic
    link, a folder, or lies below a link or a file: checked from OWNER (the
    folder the kit owns; it may itself be a link the user chose) down."""
    try:
        below = path.relative_to(owner)
    except ValueError:
        below = Path(path.name)
        owner = path.parent
    current = owner
    for part in below.parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise UsageError(
                f"{display(current)} is a symbolic link: the kit does not write through links it did not make "
                f"(nothing was written to {display(path)}); replace it with a folder."
            )
        if current.exists() and not current.is_dir():
            raise UsageError(f"{display(current)} is a file, not a folder: cannot write {display(path)}; move it away.")
    if path.is_symlink():
        raise UsageError(
            f"{display(path)} is a symbolic link: the kit does not replace links it did not make "
            "(nothing was written); remove it or move it away."
        )
    if path.is_dir():
        raise UsageError(f"{display(path)} is a folder, not a file: nothing was written; move it away.")


def check_generated_targets(
    paths: list[Path], owner: Path, generated: Callable[[str], bool], task: str, tail: str = ""
) -> None:
    """Before a generator writes any of `paths`: each is a destination check_target allows and, where a
    file is there already, one the generator wrote (`generated` tells by its text); else nothing is written."""
    for path in paths:
        check_target(path, owner)
        current = text_or_none(path)
        if path.exists() and not (current is not None and generated(current)):
            raise UsageError(f"{display(path)} exists and was not written by `{task}`; move it away first{tail}.")


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def write_atomically(path: Path, text: str | bytes, owner: Path | None = None) -> Path:
    """Write the whole file or nothing: a temporary file beside it, then a
    rename. OWNER is the folder the kit owns (default: the checkout for a
    path inside it, else the file's own folder)."""
    check_target(path, owner if owner is not None else (ROOT if path.is_relative_to(ROOT) else path.parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600: give it the mode the file had, else what the umask allows,
        # so that a pins file or a lock stays readable by the rest of the team.
        os.chmod(temporary, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode() if isinstance(text, str) else text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path
