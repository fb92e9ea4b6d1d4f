"""Options every command that connects shares: where, as whom, how securely, and how to print."""

from __future__ import annotations

import dataclasses
import functools
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
    """--address, --pki, --identity, --server-name and the plaintext flag, also read from LSI_* variables, handed
    to the command as one `where: Endpoint`."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def command(
            *args: Any,
            address: str,
            pki_dir: Path | None,
            identity: str | None,
            server_name: str | None,
            plaintext: bool,
            **kwargs: Any,
        ) -> Any:
            return fn(*args, where=endpoint(address, pki_dir, identity, server_name, plaintext), **kwargs)

        return with_options(
            command,
            [
                click.option(
                    "--address",
                    envvar="LSI_COORDINATOR",
                    show_envvar=True,
                    default="127.0.0.1:50050",
                    show_default=True,
                    help="host:port of the coordinator (or of a node, for IG officer commands); profile: [server] "
                    "address",
                ),
                click.option(
                    "--pki",
                    "pki_dir",
                    envvar="LSI_PKI",
                    show_envvar=True,
                    type=click.Path(path_type=Path),
                    help="folder with ca.crt and your certificate and key; profile: [tls] pki, or ca, cert and key",
                ),
                click.option(
                    "--identity",
                    envvar="LSI_IDENTITY",
                    show_envvar=True,
                    help="your certificate's name in the PKI folder; profile: [tls] identity",
                ),
                click.option(
                    "--server-name",
                    envvar="LSI_SERVER_NAME",
                    show_envvar=True,
                    default=default_server,
                    show_default=True,
                    help="name on the server's certificate, when it is not the address's host; profile: [server] "
                    "server_name",
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
    help="district name or ONS code, as in the geography pack (repeatable); default all districts",
)


def _one_district(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return _district_codes(ctx, param, (value,))[0] if value else None


node_district_option = click.option(
    "--district",
    "node_district",
    callback=_one_district,
    help="a district's node by name or ONS code, found in the coordinator's registry at --address",
)


def node_endpoint(target: Endpoint, district_code: str | None) -> Endpoint:
    """Where a node-only command goes: --address itself, or the named district's node from the registry."""
    if district_code is None:
        return target
    from analysis.client import coordinator_stub
    from cli.errors import INVALID_INPUT, fail
    from protos.lsi.v1 import coordinator_pb2

    nodes = coordinator_stub(target).Nodes(coordinator_pb2.NodesRequest(), timeout=30).nodes
    found = next((n for n in nodes if n.district_code == district_code), None)
    if found is None:
        fail(f"{district_code} is not registered at the coordinator at {target.address}", INVALID_INPUT)
    if ":" not in found.address:
        fail(
            f"{found.district_name}'s node is outbound-only (it accepts no calls from the county network): "
            "give the address it listens on for its IG officers with --address, without --district",
            INVALID_INPUT,
        )
    return dataclasses.replace(target, address=found.address, server_name=found.certificate_name)


def with_options(fn: Callable[..., Any], options: list[Callable[..., Any]]) -> Callable[..., Any]:
    """Apply click options in the order listed (as `--help` shows them)."""
    for option in reversed(options):
        fn = option(fn)
    return fn


def endpoint(
    address: str, pki_dir: Path | None, identity: str | None, server_name: str | None, plaintext: bool
) -> Endpoint:
    """The connection options as an Endpoint; TLS files a client profile names apply unless --pki/--identity do."""
    from cli.profile import profile_tls

    tls = profile_tls() if pki_dir is None and identity is None else None
    return Endpoint(address, pki_dir, identity, server_name, plaintext, tls)
