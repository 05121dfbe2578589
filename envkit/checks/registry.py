"""Every check `invoke test` runs, in the order it runs them, each named
once here: its rows in the report take these names, and the README's table
(`What invoke test runs`) is held to this list by a test."""

from __future__ import annotations

from envkit.checks import notebook, probes
from envkit.checks.check import Check, Context
from envkit.checks.container import ProbeContainer
from envkit.checks.inventory import inventory
from envkit.core.reports import CheckRow

CHECKS: tuple[Check, ...] = (
    Check("verify_install", probes.verify_install),
    Check("pins", probes.pins, needs=("verify_install",)),
    Check("first_program", probes.first_program),
    Check("concepts", probes.concepts),
    Check("smoke", probes.smoke, parts=True),
    Check("pip_check", probes.pip_check),
    Check("matches_recipe", probes.matches_recipe),
    Check("environment", probes.environment),
    Check("inventory", inventory),
    Check("jupyterlab", notebook.jupyterlab, images="dev"),
    Check("notebook", notebook.notebook, images="dev"),
)
BY_NAME = {check.name: check for check in CHECKS}


def run_all(box: ProbeContainer, ctx: Context) -> list[CheckRow]:
    """Every check that applies to the context's variant, in order; a check
    whose needed check failed is one failed row saying so, not run."""
    rows: list[CheckRow] = []
    failed: set[str] = set()
    for check in (check for check in CHECKS if check.applies_to(ctx.variant)):
        if broken := [need for need in check.needs if need in failed]:
            said = [CheckRow(check.name, False, f"not run: {', '.join(broken)} failed")]
        else:
            said = check.rows(box, ctx)
        if not all(row.passed for row in said):
            failed.add(check.name)
        rows += said
    return rows
