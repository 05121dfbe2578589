"""The flags that choose a variant (`--cuda`, `--recipe`, `--torch`, `--python`,
`--dev`, `--arch`), declared once for every task that takes them.

A task says which of them it takes with `@variant_flags("cuda", "torch", ...)`
and its body receives them as one `VariantFlags` after the context; the
decorator gives Invoke the signature with each flag in the body's place, so
`invoke --help TASK` and the parser see the flags as before.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from envkit.catalog.recipes import DEFAULT_RECIPE
from envkit.catalog.selection import ALL_ARCHES, select, select_all_arches
from envkit.catalog.variants import Variant

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class VariantFlags:
    """The flags that choose a variant, as the task was given them (a flag
    the task does not take keeps its default)."""

    cuda: str | None = None
    recipe: str = DEFAULT_RECIPE
    torch: str | None = None
    python: str | None = None
    dev: bool = False
    arch: str | None = None

    def any_given(self) -> bool:
        return bool(self.cuda or self.torch or self.python or self.recipe != DEFAULT_RECIPE or self.dev or self.arch)

    @property
    def every_arch(self) -> bool:
        """`--arch all`: every architecture the variant is declared for."""
        return self.arch == ALL_ARCHES

    def variant(self, *, on_host: bool = False) -> Variant:
        """The one variant these flags choose (`on_host`: without --arch, this machine's architecture where
        the variant has it)."""
        return select(self.cuda, self.recipe, self.torch, self.python, self.dev, self.arch, on_host=on_host)

    def variants_of_every_arch(self) -> tuple[Variant, ...]:
        """`--arch all`: the variant on each architecture it is declared for."""
        return select_all_arches(self.cuda, self.recipe, self.torch, self.python, self.dev)


NO_FLAGS = VariantFlags()  # the default of a body's `flags` that stands after flags with defaults

_DEFAULTS = {field.name: field.default for field in dataclasses.fields(VariantFlags)}
# Invoke gives each flag the first letter of its name not yet taken, in signature order: so that every task's
# short flags stay as they were (`publish -d` is --dry-run, `-v` --dev; `run -p` is --port), these go where the
# body has `flags` and --dev and --arch go last.
_CHOOSING = ("cuda", "recipe", "torch", "python")


def variant_flags(*names: str) -> Callable[[F], F]:
    """Give the task the variant flags `names`; its body takes them as one `flags: VariantFlags`."""
    if unknown := [name for name in names if name not in _DEFAULTS]:
        raise TypeError(f"variant_flags: no flag {', '.join(unknown)}; the variant flags are {', '.join(_DEFAULTS)}")

    def decorate(body: F) -> F:
        signature = inspect.signature(body)
        params = list(signature.parameters.values())
        if "flags" not in signature.parameters:
            raise TypeError(f"{body.__name__}: a task with variant flags takes them as `flags`")
        at = list(signature.parameters).index("flags")

        def declared(chosen: list[str]) -> list[inspect.Parameter]:
            kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
            return [inspect.Parameter(name, kind, default=_DEFAULTS[name]) for name in chosen]

        choosing = [name for name in names if name in _CHOOSING]
        last = [name for name in names if name not in _CHOOSING]
        invoked = signature.replace(parameters=[*params[:at], *declared(choosing), *params[at + 1 :], *declared(last)])

        @functools.wraps(body)
        def task(*args: Any, **kwargs: Any) -> Any:
            given = dict(invoked.bind(*args, **kwargs).arguments)
            flags = VariantFlags(**{name: given.pop(name) for name in names if name in given})
            return body(**given, flags=flags)

        task.__signature__ = invoked  # type: ignore[attr-defined]  # what Invoke reads for the flags
        return task  # type: ignore[return-value]

    return decorate
