"""The `lsi` command: the root group. It imports the command modules (the leaves); none imports it.

Each subcommand only translates between the terminal and the parts that do the work."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from cli.analysis_cmd import benchmark_command, index, report_command, unclaimed_command
from cli.campaign_cmd import campaign
from cli.dashboard_cmd import dashboard
from cli.demo_cmd import demo
from cli.errors import EXIT_CODES_HELP, INVALID_INPUT, explain, fail
from cli.geography_cmd import GEOGRAPHY_HELP, apply_geography, geography
from cli.governance_cmd import audit, budget
from cli.profile import PROFILE_ENV, chosen_profile, default_map, default_profile_path
from cli.query_cmd import indicators, query, status
from cli.server_cmd import coordinator, node
from cli.setup_cmd import pki, synth
from common.config import ConfigError


class Lsi(click.Group):
    """The root group: a failure no command caught is one line naming the problem, unless --debug."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            failure = explain(exc)
            raise _failed(failure.exit_code)(f"{failure.message} (run with --debug for the traceback)") from None


def _failed(code: int) -> type[click.ClickException]:
    return type("Failed", (click.ClickException,), {"exit_code": code})


@click.group(cls=Lsi, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="kent-lsi", message="lsi %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="log more")
@click.option("--debug", is_flag=True, help="show the full traceback when a command fails")
@click.option(
    "--profile",
    "profile_path",
    envvar=PROFILE_ENV,
    show_envvar=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"client profile (TOML: [server] address, server_name; [tls] ca, cert, key or pki, identity; [analyst] "
    f"purpose); default {default_profile_path()} if present. Flags and LSI_* variables override it.",
)
@click.option("--geography", "geography_dir", type=click.Path(path_type=Path), default=None, help=GEOGRAPHY_HELP)
@click.pass_context
def main(ctx: click.Context, verbose: bool, debug: bool, profile_path: Path | None, geography_dir: Path | None) -> None:
    """Federated Living Standards Index: private county-wide insight from district household data."""
    apply_geography(geography_dir)
    try:
        profile = chosen_profile(profile_path)
    except ConfigError as exc:
        fail(str(exc), INVALID_INPUT)
    if profile is not None:
        ctx.obj = profile
        ctx.default_map = default_map(ctx.command, profile.defaults)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


for command in (
    synth,
    pki,
    node,
    coordinator,
    query,
    indicators,
    status,
    budget,
    audit,
    demo,
    campaign,
    dashboard,
    index,
    benchmark_command,
    unclaimed_command,
    report_command,
    geography,
):
    main.add_command(command)

if __name__ == "__main__":
    main()
