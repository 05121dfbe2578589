"""Command-line rules that hold for every task, checked before Invoke parses
or a task starts: config files of the right shape, no flag given twice, no
empty value standing in for the default."""

from __future__ import annotations

import copy
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from invoke.collection import Collection

from envkit.core.errors import InvalidValue, UsageError


def check_given(**flags: str | None) -> None:
    """An empty value is a mistake, not a way to ask for the default."""
    for name, value in flags.items():
        if value is not None and not value.strip():
            raise InvalidValue(
                f"--{name.replace('_', '-')}", value, "an empty value", "give one, or leave the flag out"
            )


def path_problem(value: str) -> str:
    """Why a path cannot be used at all (too long, a NUL byte...), or ""."""
    try:
        os.stat(Path(value).expanduser())
    except (FileNotFoundError, NotADirectoryError):  # whether it may exist is the caller's question
        return ""
    except (OSError, ValueError) as error:
        return f"not a usable path ({getattr(error, 'strerror', None) or error})"
    except RuntimeError:  # pathlib's answer to `~name` for a user this machine does not have
        return f"{value.split('/')[0]} names no user's home folder on this machine"
    return ""


def checked_path(flag: str, value: str, target: bool = False) -> Path:
    """A path flag, absolute, or a UsageError naming the flag. A `target`
    (something the kit will write or replace) keeps its last part as given:
    a link there is the kit's to refuse, not to follow."""
    if problem := path_problem(value):
        raise InvalidValue(flag, value, problem)
    given = Path(value).expanduser()
    last = given.absolute().name
    path = given.absolute().parent.resolve() / last if target and last not in ("", "..") else given.resolve()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if existing != path and not existing.is_dir():
        raise InvalidValue(flag, value, f"{existing} is a file, not a folder")
    return path


def checked_folder(flag: str, value: str, fix: str) -> Path:
    """A flag naming a folder that must exist: `checked_path`, then a folder, or an InvalidValue with `fix`."""
    path = checked_path(flag, value)
    if not path.is_dir():
        raise InvalidValue(flag, value, "not a folder", fix)
    return path


def flag_spellings(tasks: Collection) -> dict[str, dict[str, str]]:
    """Each task name (and alias): every spelling of its single-valued flags
    (`-c`, `--cuda`) to the long one. Repeatable flags (`-e A=1 -e B=2`) are left out."""
    found: dict[str, dict[str, str]] = {}
    for name in tasks.task_names:
        spellings = {}
        for argument in copy.deepcopy(tasks[name]).get_arguments():  # it pops the task's help texts
            if argument.kind is list:
                continue
            long = "--" + argument.name.replace("_", "-").strip("-")
            spellings.update({("-" if len(n) == 1 else "--") + n.replace("_", "-"): long for n in argument.names})
        found.update({name: spellings, **{alias: spellings for alias in tasks.task_names[name]}})
    return found


def words_after_dashes(remainder: str, argv: Sequence[str]) -> list[str]:
    """The command after `--`, word for word. Invoke hands it over joined by
    spaces (`c.remainder`), which loses its quoting (`python -c 'a; b'`); the
    words themselves are in argv when Invoke was started from the command line."""
    if "--" in argv:
        words = list(argv[list(argv).index("--") + 1 :])
        if " ".join(words) == remainder:
            return words
    try:
        return shlex.split(remainder)
    except ValueError as error:
        raise UsageError(f"the command after `--` does not parse ({error}); check its quotes.") from None


def refuse_repeated_flags(argv: Sequence[str], flags_of: Mapping[str, Mapping[str, str]]) -> None:
    """`--cuda 12.1 --cuda 11.8` within one task is ambiguous (Invoke would
    say only "No idea what '11.8' is!"). `flags_of` maps each task name to its
    flags, every spelling (`--cuda`, `-c`) to the long one."""
    task, seen = "", set[str]()
    for token in argv:
        if token == "--":  # the rest is a command for a container, not our flags
            return
        if token in flags_of:
            task, seen = token, set[str]()
            continue
        if not task or not token.startswith("-"):
            continue
        flag = flags_of[task].get(token.split("=", 1)[0])
        if flag is None:
            continue
        if flag in seen:
            raise UsageError(f"{flag} is given twice to `invoke {task}`: give it once.")
        seen.add(flag)
