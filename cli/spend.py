"""Before anything spends: state the cost at each node, then go on only with --yes or a confirmation.

Reading (reports, `index show`, stored results) never comes here: it spends nothing."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from cli.errors import INVALID_INPUT, fail

yes_option = click.option(
    "--yes", "yes", is_flag=True, help="spend without asking (the cost at each node is printed first)"
)
purpose_option = click.option(
    "--purpose", default="", help="why you are asking (recorded in every node's audit log); profile: [analyst] purpose"
)


def loss_text(epsilon: float | None, rho: float | None, accuracy: float | None = None) -> str:
    """The loss asked for, as the nodes will charge it."""
    if epsilon is not None:
        return f"epsilon {epsilon:g} (pure DP)"
    if rho is not None:
        return f"rho {rho:g} (zCDP)"
    return f"the smallest loss giving +/- {accuracy:g} (at most the node's per-query cap)"


def months_text(months: Sequence[str]) -> str:
    """How many months a query charges for (k months cost k times)."""
    if not months:
        return "for the latest month"
    return f"for each of {len(months)} month{'s' if len(months) != 1 else ''} ({', '.join(months)})"


def confirm_spend(cost: str, yes: bool) -> None:
    """Print what each node may be charged; go on with --yes, or after a yes at a terminal; else stop, exit 2."""
    click.echo(
        f"Cost at each district node asked: {cost}. Already-answered questions replay free.",
        err=True,
    )
    if yes:
        return
    if sys.stdin.isatty():
        if click.confirm("Spend it?", default=False, err=True):
            return
        fail("not asked: nothing was spent", INVALID_INPUT)
    fail("not asked: add --yes to spend this budget (nothing was spent)", INVALID_INPUT)
