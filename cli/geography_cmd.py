"""`lsi geography check|import`, and choosing the active geography pack (`--geography DIR`)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cli.errors import INVALID_INPUT, fail

GEOGRAPHY_HELP = "geography pack folder (default: $LSI_GEOGRAPHY, else the built-in pack)"


def apply_geography(directory: Path | None) -> None:
    """Make ``directory`` the active pack for this process and every process it starts; exit 2 if it is unusable."""
    if directory is None:
        return
    from reference.geography import ENV_VAR, PackError, use_pack

    try:
        geo = use_pack(directory)
    except PackError as exc:
        raise click.UsageError(
            f"geography pack {directory} cannot be used:\n  "
            + "\n  ".join(exc.problems)
            + f"\n(run `lsi geography check {directory}` after fixing)"
        ) from None
    os.environ[ENV_VAR] = str(geo.root)  # nodes and the coordinator the command starts read the same pack


@click.group()
def geography() -> None:
    """Geography packs: the area, its districts, wards, boundaries and public figures."""


@geography.command("check")
@click.argument("directory", type=click.Path(path_type=Path))
def check(directory: Path) -> None:
    """Validate a pack folder and print every problem (exit 2 if there is any)."""
    from reference.geography import load_pack, pack_problems

    problems = pack_problems(directory)
    if problems:
        for p in problems:
            click.echo(f"problem: {p}")
        click.echo(f"{len(problems)} problem(s) in {directory}", err=True)
        raise SystemExit(INVALID_INPUT)
    geo = load_pack(directory)
    outside = f", {len(geo.outside)} area(s) drawn for context" if geo.outside else ""
    click.echo(f"{geo.name} ({geo.code}): {len(geo.districts)} districts, {len(geo.wards)} wards{outside}; pack OK")


@geography.command("import")
@click.option(
    "--lookup",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ONS ward-to-local-authority lookup CSV (columns like WD24CD, WD24NM, LAD24CD, LAD24NM)",
)
@click.option(
    "--boundaries",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ONS ward boundaries GeoJSON in WGS84 (longitude/latitude)",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="pack folder to write")
@click.option("--name", required=True, help="the area's name, e.g. Essex")
@click.option("--code", required=True, help="the area's ONS code, e.g. E10000012")
@click.option("--council", default="", help="the authority running the coordinator (default: '<name> Council')")
@click.option("--district", "districts", multiple=True, help="keep only this district's wards (ONS code; repeatable)")
@click.option(
    "--figures",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of district figures: code, dwellings, uc_households[, population, council_tax_a..h]",
)
@click.option("--tolerance", default=0.0005, show_default=True, help="boundary simplification, degrees")
@click.option("--force", is_flag=True, help="write into a folder that already has files")
def import_(
    lookup: Path,
    boundaries: Path,
    out: Path,
    name: str,
    code: str,
    council: str,
    districts: tuple[str, ...],
    figures: Path | None,
    tolerance: float,
    force: bool,
) -> None:
    """Build a pack from an ONS lookup CSV and a boundaries GeoJSON, simplifying the boundaries."""
    from reference.geography import pack_problems
    from reference.pack_import import PackImportError, import_pack

    if out.exists() and any(out.iterdir()) and not force:
        raise click.UsageError(f"{out} is not empty; give a new folder or --force")
    if tolerance < 0:
        raise click.UsageError("--tolerance must be 0 or more (degrees)")
    try:
        result = import_pack(
            lookup,
            boundaries,
            out,
            name=name,
            code=code,
            council=council,
            districts=districts,
            figures=figures,
            tolerance=tolerance,
        )
    except (PackImportError, OSError, KeyError) as exc:
        fail(str(exc), INVALID_INPUT)
    click.echo(
        f"wrote {out}: {result.districts} districts, {result.wards} wards; boundary points "
        f"{result.vertices_before:,} -> {result.vertices_after:,}"
    )
    for t in result.todo:
        click.echo(f"to do: {t}")
    left = pack_problems(out)
    if left:
        click.echo(f"`lsi geography check {out}` finds {len(left)} problem(s) left to fix")
