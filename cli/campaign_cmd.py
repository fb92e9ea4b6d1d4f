"""`lsi campaign`: take-up campaigns run by a district on its own records; the county sees DP results only.

`create`, `list` and `outcome` run on the district's own machine, reading the node's configuration, data folder
and state database directly (safe while the node serves: SQLite WAL). `results` asks the county, through the
coordinator, for the campaign indicators in every district.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from analysis.campaigns import CAMPAIGN_INDICATORS as RESULT_INDICATORS
from analysis.campaigns import campaign_figures, possible_campaign_figures
from analysis.client import Endpoint, coordinator_stub
from analysis.coverage import combined, coverage_of
from cli.errors import OK, PARTIAL, REFUSED, UNREACHABLE, finish, grpc_errors
from cli.geography_cmd import apply_geography
from cli.options import connection_options, districts_option, json_option
from cli.spend import confirm_spend, loss_text, purpose_option, yes_option
from protos.lsi.v1 import coordinator_pb2, query_pb2
from reference.geography import county_name

RESULT_HEADERS = ("households targeted", "contacted", "claimed", "£ a year gained")


@click.group()
def campaign() -> None:
    """Take-up campaigns: target lists stay in the district; the county sees DP results."""


def _open(config_path: Path) -> tuple[Any, Any]:
    from node.campaigns import CampaignStore
    from node.config import ConfigError, load_node_config
    from privacy.audit import AuditSigner

    try:
        config = load_node_config(config_path)
        apply_geography(config.geography)
        signer = AuditSigner.load_or_create(config.audit_key)
        return config, CampaignStore(config.state_db, config.district_code, signer)
    except (ConfigError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None


def _snapshot(config: Any, month: str | None) -> Any:
    """One month's validated snapshot (default the latest), read as the node reads it."""
    from node.loader import DataError, load_snapshot, snapshot_files

    try:
        files = snapshot_files(config.data_dir)
        month = month or max(files)
        if month not in files:
            raise click.ClickException(
                f"--month {month}: no snapshot for it in {config.data_dir} (held: {min(files)} to {max(files)})"
            )
        return load_snapshot(files[month], config.district_code, strict=config.strict_data)
    except DataError as exc:
        raise click.ClickException(str(exc)) from None


def create_target_list(
    config_path: Path, name: str, target: str, out: Path, *, month: str | None = None, limit: int | None = None, by: str
) -> tuple[Any, Any]:
    """Create a campaign from the district's snapshot and write its target list; the campaign and its targets."""
    from node.campaigns import CampaignError, write_target_list
    from node.derive import derive
    from reference.rates import rates_for_month

    config, store = _open(config_path)
    if not out.parent.is_dir():
        raise click.ClickException(f"--out {out}: folder {out.parent} does not exist")
    snapshot = _snapshot(config, month)
    derived = derive(snapshot.frame, rates_for_month(snapshot.month), month=snapshot.month)
    try:
        created, targets = store.create_campaign(
            name, target, snapshot.month, derived, created_by=by, limit=limit, source_digest=snapshot.digest
        )
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    write_target_list(targets, out)
    return created, targets


def import_outcomes(config_path: Path, name: str, csv_path: Path, *, by: str) -> int:
    """Record a CSV of outcomes for a campaign's households (all or nothing); how many rows were recorded."""
    from node.campaigns import CampaignError

    config, store = _open(config_path)
    try:
        known = _household_ids(config, store.get(name).month)
        return store.import_outcomes_csv(name, csv_path, recorded_by=by, known_households=known)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from None


@campaign.command("create")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, exists=True),
    help="the node's configuration (node.toml)",
)
@click.option("--name", required=True, help="county-wide name, e.g. pension-credit-2025")
@click.option(
    "--target",
    required=True,
    type=click.Choice(["pc_unclaimed", "fsm_unclaimed", "uc_without_cts"]),
    help="which households to target",
)
@click.option("--month", default=None, help="snapshot month YYYY-MM (default: the latest)")
@click.option("--limit", type=int, default=None, help="keep only the first N households")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="where to write the target list CSV")
@click.option("--by", "by", default=None, help="who is creating it (default: your login name)")
def campaign_create(
    config_path: Path, name: str, target: str, month: str | None, limit: int | None, out: Path, by: str | None
) -> None:
    """Build a target list from the district's own records and write it as CSV for the district's team."""
    created, targets = create_target_list(
        config_path, name, target, out, month=month, limit=limit, by=by or getpass.getuser()
    )
    gains = targets["expected_annual_gain"]
    worth = f", expected £{gains.sum():,.0f} a year if all claim" if gains.notna().any() else ""
    click.echo(f"campaign {created.name}: {created.households} households from the {created.month} snapshot{worth}")
    click.echo(
        f"target list written to {out} (readable by you only: it names households; keep it in the "
        "district). Fill in contacted, claimed, gained_annual and import it with "
        f"`lsi campaign outcome --name {created.name} --csv FILE`."
    )


@campaign.command("list")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
@json_option
def campaign_list(config_path: Path, as_json: bool) -> None:
    """The district's campaigns with exact progress (local figures, for the district's team)."""
    from cli.render import table

    _, store = _open(config_path)
    if as_json:
        click.echo(json.dumps([campaign_progress_json(p) for p in store.progress()], indent=2))
        return
    rows = [
        [
            p.campaign.name,
            p.campaign.target,
            p.campaign.month,
            str(p.campaign.households),
            str(p.contacted),
            str(p.claimed),
            f"£{p.gained_annual:,.0f}",
            p.campaign.created_at[:10],
            p.campaign.created_by,
        ]
        for p in store.progress()
    ]
    if not rows:
        click.echo("no campaigns yet; make one with `lsi campaign create`")
        return
    click.echo(
        table(
            ["name", "target", "month", "households", "contacted", "claimed", "£ a year gained", "created", "by"],
            rows,
            right=(3, 4, 5, 6),
        )
    )


def campaign_progress_json(p: Any) -> dict[str, object]:
    """One campaign's local progress as JSON (exact figures: the district's own, never sent anywhere)."""
    c = p.campaign
    return {
        "name": c.name,
        "target": c.target,
        "month": c.month,
        "households": c.households,
        "contacted": p.contacted,
        "claimed": p.claimed,
        "gained_annual": p.gained_annual,
        "created_at": c.created_at,
        "created_by": c.created_by,
    }


@campaign.command("outcome")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--name", required=True, help="the campaign")
@click.option("--household", default=None, help="household id from the target list")
@click.option("--contacted/--not-contacted", default=None, help="the team reached the household (or not)")
@click.option("--claimed/--not-claimed", default=None, help="the household has claimed (or not)")
@click.option("--gained", default=None, help="support gained, £ a year, e.g. 1750 or £1,750")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(path_type=Path, exists=True),
    help="record many: columns household_id, contacted, claimed, gained_annual (all or nothing)",
)
@click.option("--by", "by", default=None, help="who is recording (default: your login name)")
def campaign_outcome(
    config_path: Path,
    name: str,
    household: str | None,
    contacted: bool | None,
    claimed: bool | None,
    gained: str | None,
    csv_path: Path | None,
    by: str | None,
) -> None:
    """Record what happened with targeted households; a field left out keeps its last recorded value."""
    from node.campaigns import CampaignError, parse_gain

    if (household is None) == (csv_path is None):
        raise click.ClickException("give either --household ID (with --contacted, --claimed, --gained) or --csv")
    if csv_path is not None and (contacted, claimed, gained) != (None, None, None):
        raise click.ClickException("--contacted, --claimed and --gained go with --household, not --csv")
    recorded_by = by or getpass.getuser()
    if csv_path is not None:
        n = import_outcomes(config_path, name, csv_path, by=recorded_by)
        click.echo(f"recorded {n} outcome row(s) from {csv_path.name} for campaign {name}")
        return
    config, store = _open(config_path)
    try:
        known = _household_ids(config, store.get(name).month)
        if (contacted, claimed, gained) == (None, None, None):
            raise click.ClickException("say what happened: --contacted, --claimed and/or --gained")
        try:
            amount = parse_gain(gained)
        except ValueError as exc:
            raise click.ClickException(f"--gained: {exc}") from None
        state = store.record_outcome(
            name,
            household,
            recorded_by=recorded_by,
            contacted=contacted,
            claimed=claimed,
            gained_annual=amount,
            known_households=known,
        )
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{household}: contacted {_yes(state.contacted)}, claimed {_yes(state.claimed)}, "
        f"gained £{state.gained_annual:,.2f} a year"
    )


def _household_ids(config: Any, month: str) -> frozenset[str] | None:
    """Household ids in the campaign's snapshot, to tell an unknown id from one not targeted; None if gone."""
    from node.loader import DataError, load_snapshot, snapshot_files

    try:
        path = snapshot_files(config.data_dir).get(month)
        if path is None:
            return None
        return frozenset(load_snapshot(path, config.district_code, strict=config.strict_data).frame["household_id"])
    except DataError:
        return None


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


@campaign.command("results")
@connection_options("county-coordinator")
@click.option("--name", required=True, help="the campaign's county-wide name")
@click.option(
    "--epsilon",
    type=float,
    required=True,
    help="privacy loss per figure (four figures: each district is charged four times)",
)
@purpose_option
@yes_option
@districts_option
@json_option
@grpc_errors
def campaign_results_command(
    name: str,
    epsilon: float,
    purpose: str,
    yes: bool,
    districts: tuple[str, ...],
    as_json: bool,
    where: Endpoint,
) -> None:
    """County view of a campaign: households targeted, contacted, claimed and £ gained, with 95% intervals."""
    from cli.render import to_json
    from node.campaigns import CampaignError, validate_name

    try:
        validate_name(name)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    confirm_spend(f"{loss_text(epsilon, None)} in all, split over {len(RESULT_INDICATORS)} figures", yes)
    stub = coordinator_stub(where)
    # The total epsilon, split across the figures.
    released = campaign_figures(lambda fq: stub.Submit(fq, timeout=120), name, epsilon, purpose, districts)
    results = possible_campaign_figures(released)
    code = results_exit_code(results)
    if as_json:
        click.echo(json.dumps({i: json.loads(to_json(results[i])) for i in RESULT_INDICATORS}, indent=2))
        finish(code)
        return
    click.echo(
        f"Campaign {name}: differentially private results (epsilon {epsilon:g} in all, split over "
        f"{len(RESULT_INDICATORS)} figures)\n"
    )
    click.echo(results_table(results))
    missing = missing_districts(results)
    if missing:
        click.echo("\nNot included:")
        click.echo("\n".join(f"  {d}: {why}" for d, why in missing.items()))
    finish(code)


def results_exit_code(results: Mapping[str, coordinator_pb2.FederatedResult]) -> int:
    """0 when every district answered every figure; 3 when some did; 5 or 4 when none did (unreachable/refused)."""
    outcomes = [d for r in results.values() for d in r.districts]
    if all(d.answered for d in outcomes):
        return OK
    if any(d.answered for d in outcomes):
        return PARTIAL
    refused = {"RESOURCE_EXHAUSTED", "PERMISSION_DENIED", "FAILED_PRECONDITION", "NOT_FOUND", "INVALID_ARGUMENT"}
    return REFUSED if any(d.error_code in refused for d in outcomes) else UNREACHABLE


def results_table(results: Mapping[str, coordinator_pb2.FederatedResult]) -> str:
    """One row per answering district, then the county: each figure as 'estimate (low to high)'."""
    from cli.render import area_name, table

    covers = [coverage_of(r).month(m.month) for r in results.values() for m in r.coverage.months]
    cover = combined([c for c in covers if c is not None])
    county = cover.label() if cover is not None else county_name()
    areas: dict[str, dict[str, query_pb2.Cell]] = {}
    for ind in RESULT_INDICATORS:
        for cell in results[ind].cells:
            if cell.level == query_pb2.Cell.DISTRICT:
                areas.setdefault(area_name(cell), {})[ind] = cell
            elif cell.level == query_pb2.Cell.COUNTY:
                areas.setdefault(county, {})[ind] = cell
    order = sorted(a for a in areas if a != county) + ([county] if county in areas else [])
    rows = [
        [a] + [_figure(areas[a].get(i), "£" if i == "campaign_gained" else "") for i in RESULT_INDICATORS]
        for a in order
    ]
    return table(["area", *RESULT_HEADERS], rows, right=(1, 2, 3, 4))


def missing_districts(results: Mapping[str, coordinator_pb2.FederatedResult]) -> dict[str, str]:
    """Districts that did not answer, with the node's own message (e.g. it has no such campaign)."""
    out: dict[str, str] = {}
    for ind in RESULT_INDICATORS:
        for d in results[ind].districts:
            if not d.answered:
                out.setdefault(d.district_name, f"{d.error_code} {d.error}")
    return out


def _figure(cell: query_pb2.Cell | None, unit: str) -> str:
    from cli.render import number

    if cell is None:
        return "-"
    if cell.suppressed:
        return "suppressed"
    return f"{number(cell.value, unit)} ({number(cell.ci_low, unit)} to {number(cell.ci_high, unit)})"
