"""`lsi synth` and `lsi pki`: setting a county up, with synthetic data and its certificate authority."""

from __future__ import annotations

from pathlib import Path

import click

from cli.errors import fail


@click.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="folder to write into")
@click.option("--seed", default=7, show_default=True)
@click.option("--scale", default=1.0, show_default=True, help="1.0 is a realistic caseload size")
@click.option("--months", default=13, show_default=True, help="monthly snapshots per district")
@click.option("--end-month", default="2025-10", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
def synth(out: Path, seed: int, scale: float, months: int, end_month: str, fmt: str) -> None:
    """Write synthetic household snapshots for every district of the geography pack (deterministic for a seed)."""
    from cli.render import progress
    from node.synth import write_county

    with progress(f"writing {months} months of synthetic snapshots (scale {scale:g})"):
        paths = write_county(out, seed=seed, scale=scale, months=months, end_month=end_month, fmt=fmt)
    click.echo(f"wrote {len(paths)} snapshot files under {out}")


@click.group()
def pki() -> None:
    """The county certificate authority: certificates carry each holder's role."""


@pki.command("init")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="replace an existing CA (every certificate it issued stops working)")
def pki_init(directory: Path, force: bool) -> None:
    """Make the county CA."""
    from security.pki import init_ca

    try:
        path = init_ca(directory, force=force)
    except FileExistsError as exc:
        fail(str(exc))
    click.echo(f"CA certificate: {path}")


@pki.command("issue")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
@click.option("--name", required=True, help="certificate name, e.g. node-ashford or analyst-alice")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["node", "coordinator", "analyst", "ig-officer", "county-ig-officer", "dashboard"]),
    help="dashboard: the dashboard host's own certificate (reads stored results; refused by every spending call)",
)
@click.option(
    "--district",
    default=None,
    help="for node and ig-officer (required): the district's ONS code or name, as in the geography pack",
)
@click.option("--host", "hosts", multiple=True, help="extra host names or IPs a server answers on")
def pki_issue(directory: Path, name: str, role: str, district: str | None, hosts: tuple[str, ...]) -> None:
    """Issue a key and certificate with the role (and, for nodes and IG officers, the district) inside."""
    from security.pki import PkiError, Role, issue

    try:
        identity = issue(directory, name, Role(role), hosts=("localhost", "127.0.0.1", name, *hosts), district=district)
    except PkiError as exc:
        fail(str(exc))
    where = f", district {identity.district}" if identity.district else ""
    click.echo(f"{identity.name} ({role}{where}): {identity.cert_path}, key {identity.key_path} (mode 0600)")


@pki.command("revoke")
@click.option("--dir", "directory", required=True, type=click.Path(path_type=Path))
@click.option("--name", required=True)
def pki_revoke(directory: Path, name: str) -> None:
    """Revoke a certificate; servers reading the CRL refuse it from then on."""
    from security.pki import PkiError, revoke

    try:
        revoke(directory, name)
    except PkiError as exc:
        fail(str(exc))
    click.echo(f"revoked {name}")
