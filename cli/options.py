"""Options every command that connects shares: where, as whom, how securely, and how to print."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from analysis.client import Endpoint
from security.tls import PLAINTEXT_FLAG

PLAINTEXT_HELP = "DANGEROUS: no TLS, no authentication. Only for debugging on a closed machine."

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
plaintext_option = click.option(PLAINTEXT_FLAG, "plaintext", is_flag=True, help=PLAINTEXT_HELP)


def connection_options(default_server: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--address, --pki, --identity, --server-name and the plaintext flag, also read from LSI_* variables."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return with_options(
            fn,
            [
                click.option(
                    "--address",
                    envvar="LSI_COORDINATOR",
                    show_envvar=True,
                    default="127.0.0.1:50050",
                    show_default=True,
                    help="host:port of the coordinator (or of a node, for IG officer commands)",
                ),
                click.option(
                    "--pki",
                    "pki_dir",
                    envvar="LSI_PKI",
                    show_envvar=True,
                    type=click.Path(path_type=Path),
                    help="folder with ca.crt and your certificate and key",
                ),
                click.option(
                    "--identity",
                    envvar="LSI_IDENTITY",
                    show_envvar=True,
                    help="your certificate's name in the PKI folder",
                ),
                click.option(
                    "--server-name",
                    envvar="LSI_SERVER_NAME",
                    show_envvar=True,
                    default=default_server,
                    show_default=True,
                    help="name on the server's certificate, when it is not the address's host",
                ),
                plaintext_option,
            ],
        )

    return decorate


def _district_codes(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from reference.geography import UnknownDistrictError, district_named

    try:
        return tuple(district_named(v).code for v in value)
    except UnknownDistrictError as exc:
        raise click.BadParameter(str(exc)) from None


districts_option = click.option(
    "--district",
    "districts",
    multiple=True,
    callback=_district_codes,
    help="district name or ONS code, e.g. Thanet or E07000114 (repeatable); default all districts",
)


def with_options(fn: Callable[..., Any], options: list[Callable[..., Any]]) -> Callable[..., Any]:
    """Apply click options in the order listed (as `--help` shows them)."""
    for option in reversed(options):
        fn = option(fn)
    return fn


def endpoint(
    address: str, pki_dir: Path | None, identity: str | None, server_name: str | None, plaintext: bool
) -> Endpoint:
    """The connection options as an Endpoint."""
    return Endpoint(address, pki_dir, identity, server_name, plaintext)
