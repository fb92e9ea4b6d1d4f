"""`lsi node` and `lsi coordinator`: run the servers, and the audited repairs an officer runs beside them."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from cli.errors import INVALID_INPUT, fail
from cli.geography_cmd import apply_geography
from cli.node_admin import accept_node, node_policy_sync, node_recover
from cli.options import plaintext_option


@click.group()
def node() -> None:
    """Run a district node."""


@node.command("serve")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
@plaintext_option
def node_serve(config_path: Path, plaintext: bool) -> None:
    """Load and validate the district's snapshots, then answer the coordinator's queries."""
    import sqlite3

    from node.config import load_node_config
    from node.engine import NodeEngine
    from node.server import build_server, connect_outbound
    from privacy.ledger import LedgerError
    from security.pki import PkiError
    from security.serving import serve_forever

    logging.getLogger().setLevel(logging.INFO)
    config = load_node_config(config_path)
    apply_geography(config.geography)
    try:
        engine = NodeEngine.open(
            config.district_code,
            config.data_dir,
            config.state_db,
            config.policy,
            config.audit_key,
            strict=config.strict_data,
            engine=config.engine,
            months_in_memory=config.months_in_memory,
        )
    except (ValueError, OSError, sqlite3.Error, LedgerError, PkiError) as exc:
        # Start-up problems (a locked or corrupt database, an unreadable key, a ledger that fails its checks)
        # are the operator's to fix: one readable line, not a traceback.
        fail(f"node {config.district_code} not started: {type(exc).__name__}: {exc}")

    try:
        server, port, health_servicer = build_server(engine, config, plaintext=plaintext)
        connect_outbound(engine, config, plaintext=plaintext)  # outbound mode: dials the coordinator
    except (PkiError, ValueError, OSError) as exc:
        fail(f"node {config.district_code} not started: {exc}")
    click.echo(
        f"node {engine.district.name} ({engine.district.code}) serving on port {port}: "
        f"{len(engine.months)} months, {len(engine.wards)} wards",
        err=True,
    )
    serve_forever(server, health_servicer)


@node.command("check")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
def node_check(config_path: Path) -> None:
    """Validate a district's configuration and data without serving, printing every problem (exit 2 if any).

    Row-level problems name the file, row, field and reason: this runs on the district's own machine."""
    from node.config import load_node_config
    from node.loader import DataError, describe, load_district, unmatched_files

    config = load_node_config(config_path)

    apply_geography(config.geography)
    problems = unmatched_files(config.data_dir) if config.data_dir.is_dir() else []
    try:
        snapshots = load_district(config.data_dir, config.district_code, strict=False)
    except DataError as exc:
        problems.append(str(exc))
        snapshots = {}
    for snapshot in snapshots.values():
        problems += [describe(snapshot.source, q) for q in snapshot.quarantined]
    for path in (config.policy, config.audit_key):
        if not path.exists():
            problems.append(f"{path}: not found (named in {config_path})")
    held = ", ".join(snapshots) or "none"
    click.echo(f"{config_path}: district {config.district_code}, months held: {held}")
    for problem in problems:
        click.echo(f"  problem: {problem}")
    if problems:
        fail(f"{len(problems)} problem(s) found; fix them and run `lsi node check` again", INVALID_INPUT)
    click.echo("no problems found")


@click.group()
def coordinator() -> None:
    """Run the county coordinator."""


@coordinator.command("serve")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
@plaintext_option
def coordinator_serve(config_path: Path, plaintext: bool) -> None:
    """Fan analysts' queries out to the registered district nodes and combine their releases."""
    import sqlite3

    from coordinator.config import codes_outside_pack, load_coordinator_config
    from coordinator.server import build_server
    from reference.geography import county_name, districts
    from security.pki import PkiError
    from security.serving import serve_forever

    logging.getLogger().setLevel(logging.INFO)
    config = load_coordinator_config(config_path)
    apply_geography(config.geography)
    stray = codes_outside_pack(config, {d.code for d in districts()})
    if stray:
        fail(
            f"{config_path}: [[nodes]] registers {', '.join(stray)}, not a district of {county_name()} (the geography "
            "pack in use); correct the district_code, or name the right pack with [coordinator] geography",
            INVALID_INPUT,
        )
    try:
        server, port, health_servicer, pool = build_server(config, plaintext=plaintext)
    except (ValueError, OSError, sqlite3.Error, PkiError) as exc:
        fail(f"coordinator not started: {type(exc).__name__}: {exc}")
    click.echo(f"coordinator serving on port {port} for {len(config.nodes)} districts", err=True)
    serve_forever(server, health_servicer, on_stop=pool.close)


node.add_command(node_recover)
node.add_command(node_policy_sync)
coordinator.add_command(accept_node)
