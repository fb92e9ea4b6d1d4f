"""`lsi index`, `lsi benchmark`, `lsi unclaimed`, `lsi report`: county analyses (placeholder until built)."""

import click


def register(main: click.Group) -> None:
    """Add the analysis commands to the `lsi` group."""
