"""Ctrl-C (SIGINT) and SIGTERM (what CI runners, `timeout` and `docker stop`
send) end every task the same way: the exception unwinds through the task,
so each `with` and `finally` on the way stops the children, removes the
containers and scratch files the task made, and no report or tag claims a
success; then the task exits 130 or 143 with one line saying so. A daemon that stops
answering ends a task the same way: one line, exit 1, no traceback."""

from __future__ import annotations

import functools
import signal
import urllib.parse
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

import requests

from envkit.core.errors import KitError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as Python raises KeyboardInterrupt
    for SIGINT (a BaseException, so no `except Exception` swallows it)."""


def _on_signal(number: int, frame: FrameType | None) -> None:
    # Once: a second signal must not cut the clean-up short (it is bounded:
    # every container removal and child wait has a timeout).
    for each in EXIT_CODES:
        signal.signal(each, signal.SIG_IGN)
    if number == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated


_TIMEOUT_FIX = "it may be busy (another build exporting, a big pull); run this again when it is idle."


def _who_timed_out(error: requests.exceptions.Timeout) -> str:
    """Who did not answer: the daemon (the SDK's URLs are http+docker://) or a host."""
    url = str(getattr(error.request, "url", "") or "")
    if not url or url.startswith("http+docker:"):
        return "the Docker daemon"
    return urllib.parse.urlsplit(url).netloc


def interruptible(body: F) -> F:
    """Wrap a task body: both signals unwind it, then exit 130 or 143."""

    @functools.wraps(body)
    def task(*args: Any, **kwargs: Any) -> Any:
        previous = {number: signal.signal(number, _on_signal) for number in EXIT_CODES}
        try:
            return body(*args, **kwargs)
        except KeyboardInterrupt:
            raise KitError("interrupted (SIGINT): stopped, and cleaned up what this task had started.", 130) from None
        except Terminated:
            raise KitError("terminated (SIGTERM): stopped, and cleaned up what this task had started.", 143) from None
        except requests.exceptions.Timeout as error:  # from any call on the way: the SDK's, a registry's
            raise KitError(f"{_who_timed_out(error)} did not answer in time: {_TIMEOUT_FIX}") from None
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    return task  # type: ignore[return-value]
