"""What every check of `invoke test` shares: the context it reads and
fills, the outcome it returns, and its entry in the registry
(envkit/checks/registry.py), which names it once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from envkit.catalog.variants import Variant
from envkit.checks.container import Exec, ProbeContainer
from envkit.core.reports import CheckRow, Facts, Measured

if TYPE_CHECKING:
    from envkit.checks.inventory import Inventory


@dataclass
class Context:
    """What the checks of one run share: each fills the field the later steps read."""

    variant: Variant
    gpus: bool
    measured: Measured | None = None  # verify_install's: the pins check and the tags
    revision: str = ""  # the image's revision label, for the tags and the manifest
    environment: Facts | None = None  # the environment check's: the recipe held, the package lists
    inventory: Inventory | None = None  # every package in the image, for the SBOM


@dataclass(frozen=True)
class Outcome:
    """One result of a check; the registry gives it the check's name."""

    passed: bool
    detail: str
    seconds: float = 0.0
    part: str = ""  # one of several results of a check (smoke's `nms`): its row is `smoke:nms`
    not_applicable: bool = False  # neither passes nor fails; the detail says why


def from_exec(run: Exec, detail: str = "") -> Outcome:
    """A check that is one command: passed when it exits 0, else its exit code and output's tail."""
    return Outcome(run.ok, detail if run.ok else f"exit {run.code}: {run.tail()}", run.seconds)


CheckFunction = Callable[[ProbeContainer, Context], "Outcome | Sequence[Outcome]"]


@dataclass(frozen=True)
class Check:
    name: str
    run: CheckFunction
    proves: str  # what a pass means, in the words of the docs' checks page (generated from the registry)
    images: Literal["every", "dev"] = "every"  # "dev": dev images only
    needs: tuple[str, ...] = ()  # checks whose results this one reads: it does not run when one failed
    parts: bool = False  # reports one row per part (`smoke:*`)

    def applies_to(self, variant: Variant) -> bool:
        return self.images == "every" or variant.dev

    def rows(self, box: ProbeContainer, ctx: Context) -> list[CheckRow]:
        said = self.run(box, ctx)
        outcomes = [said] if isinstance(said, Outcome) else list(said)
        return [self.row(outcome) for outcome in outcomes]

    def row(self, outcome: Outcome) -> CheckRow:
        name = f"{self.name}:{outcome.part}" if outcome.part else self.name
        return CheckRow(name, outcome.passed, outcome.detail, outcome.seconds, outcome.not_applicable)
