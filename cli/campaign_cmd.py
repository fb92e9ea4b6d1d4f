"""`lsi campaign`: district-side campaigns (placeholder until built)."""

import click


def register(main: click.Group) -> None:
    """Add the campaign commands to the `lsi` group."""
