"""`lsi demo`: the command only; the demo itself (cli/demo.py) is imported when it runs, so `lsi` starts fast."""

from __future__ import annotations

from pathlib import Path

import click

from cli.geography_cmd import GEOGRAPHY_HELP


@click.command("demo")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="keep everything here (default: temp)")
@click.option("--scale", default=0.5, show_default=True, help="synthetic caseload size (1.0 = realistic)")
@click.option("--report", "report_path", type=click.Path(path_type=Path), help="where to write the HTML report")
@click.option("--geography", "geography_dir", type=click.Path(path_type=Path), help=GEOGRAPHY_HELP)
@click.option(
    "--dashboard", is_flag=True, help="end by serving the dashboard until Ctrl-C (make demo does; CI runs without)"
)
def demo(
    directory: Path | None, scale: float, report_path: Path | None, geography_dir: Path | None, dashboard: bool
) -> None:
    """Synthetic county end to end: a node per district, a coordinator, real queries over mutual TLS."""
    from cli.demo import run_demo
    from cli.geography_cmd import apply_geography

    apply_geography(geography_dir)

    run_demo(directory, scale=scale, report_path=report_path, dashboard=dashboard)
