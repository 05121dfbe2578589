"""Errors a user sees: one or two lines, a non-zero exit, never a traceback.

They subclass invoke.exceptions.Exit, which Invoke's command line prints as a plain
message before exiting with its code.
"""

from collections.abc import Sequence
from pathlib import Path

from invoke.exceptions import Exit

USAGE = 2
FAILURE = 1


class KitError(Exit):
    """A failure the user can act on; `str()` is the whole message."""

    code_default = FAILURE

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message, code if code is not None else self.code_default)
        self.text = message

    def __str__(self) -> str:
        return self.text


class UsageError(KitError):
    """Bad input: a flag, a path, a combination the data rules out."""

    code_default = USAGE


class InvalidValue(UsageError):
    """A value that is wrong, where it was read: its `subject` (the flag, the
    setting or the file's key that gave it), the `value` as shown (a secret's
    is not), what is wrong with it and, where the problem does not say, how to
    fix it. Every flag and setting the kit reads is refused with one."""

    def __init__(self, subject: str, value: str, problem: str, fix: str = "", shown: str | None = None) -> None:
        self.subject, self.value, self.problem, self.fix = subject, value, problem, fix
        super().__init__(f"{subject} {shown or repr(value[:80])}: {problem}{f'; {fix}' if fix else ''}.")


class Invalid(ValueError):
    """What a parser of one value raises: the problem and its fix, without the
    subject, which the caller knows and InvalidValue adds."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


class CommandFailed(KitError):
    """An external command (docker, debootstrap) exited non-zero.

    `tail` is the end of its output. A streamed command's output is already on
    the screen, so the message only points at it; a captured one shows it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int,
        tail: str = "",
        hint: str = "",
        streamed: bool = False,
        detail: str = "",
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.tail = tail
        name = " ".join(Path(argv[0]).name if i == 0 else arg for i, arg in enumerate(argv[:2]))
        lines = [f"`{name}` failed with exit code {returncode}" + (" (its output is above)" if streamed else "")]
        if tail and not streamed:
            lines.append(tail)
        if detail:  # what matters in a long streamed output, repeated at the end
            lines.append(detail)
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def network_reason(error: Exception) -> str:
    """A network failure in a few words: the known causes by name, else the error's type."""
    text = str(error)
    for known, words in _NETWORK_CAUSES:
        if known in text:
            return words
    return type(error).__name__


_NETWORK_CAUSES = (
    ("Name or service not known", "name not resolved"),
    ("Temporary failure in name resolution", "name not resolved"),
    ("Connection refused", "connection refused"),
    ("timed out", "timed out"),
    ("No route to host", "no route to host"),
    ("CERTIFICATE_VERIFY_FAILED", "certificate not trusted: pass --ca-cert"),
)
