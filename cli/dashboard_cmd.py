"""`lsi dashboard`: serve the county dashboard, and `lsi dashboard login` to sign in with a certificate."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

from cli.geography_cmd import apply_geography
from security.tls import TlsFiles


@click.group("dashboard", invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="dashboard.toml ([dashboard] table)")
@click.pass_context
def dashboard(ctx: click.Context, config_path: Path | None) -> None:
    """The county dashboard over HTTPS: index, ward map, benchmarks, unclaimed support; budgets for IG officers."""
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        raise click.UsageError("give --config FILE (see docs/deploying.md, 'The dashboard')")
    from dashboard.config import load_dashboard_config
    from dashboard.server import address, serve

    try:
        config = load_dashboard_config(config_path)
        apply_geography(Path(config.geography) if config.geography else None)
        server = serve(config)
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise click.ClickException(f"cannot start the dashboard: {exc}") from None
    click.echo(f"Dashboard: {address(server)} (sign in with `lsi dashboard login`); Ctrl-C stops it.")
    wait_for_interrupt(server)


def wait_for_interrupt(server: object) -> None:
    """Serve until Ctrl-C, then stop the server cleanly."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("Stopping the dashboard.")
    finally:
        server.shutdown()  # type: ignore[attr-defined]


@dashboard.command("login")
@click.option("--url", required=True, envvar="LSI_DASHBOARD", help="the dashboard's https:// address")
@click.option("--pki", "pki_dir", required=True, envvar="LSI_PKI", type=click.Path(path_type=Path))
@click.option("--identity", required=True, envvar="LSI_IDENTITY", help="your certificate's name in the PKI folder")
def login(url: str, pki_dir: Path, identity: str) -> None:
    """Prove your certificate to the dashboard over mutual TLS and print a sign-in address for your browser."""
    try:
        token = login_token(url, TlsFiles.for_identity(pki_dir, identity))
    except LoginError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Open this address in your browser to sign in (it works once per browser, until it expires):\n"
        f"{url.rstrip('/')}/signin?token={token}"
    )


class LoginError(RuntimeError):
    """Signing in failed, with a reason a user can act on."""


def login_token(url: str, files: TlsFiles) -> str:
    """A sign-in token from the dashboard for the certificate in `files` (the server checks it against the CA)."""
    ctx = ssl.create_default_context(cafile=str(files.ca))
    ctx.load_cert_chain(files.cert, files.key)
    request = urllib.request.Request(url.rstrip("/") + "/login", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=30) as reply:
            return str(json.loads(reply.read())["token"])
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            reason = exc.reason
        raise LoginError(f"the dashboard refused the sign-in: {reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LoginError(f"cannot reach the dashboard at {url}: {getattr(exc, 'reason', exc)}") from None


DASHBOARD_IDENTITY = "county-dashboard"
# What the dashboard host's folder holds: the CA certificate, the revocation list and its own certificate and key.
DASHBOARD_FILES = ("ca.crt", "crl.pem", f"{DASHBOARD_IDENTITY}.crt", f"{DASHBOARD_IDENTITY}.key")


def dashboard_pki(county_pki: Path, host_dir: Path) -> Path:
    """The dashboard host's own folder: its `dashboard`-role certificate (issued by the county CA, for HTTPS and
    for reading the coordinator) beside the CA certificate and CRL; no user's or CA's key is copied there."""
    import shutil

    from security.pki import Role, issue, read_role

    cert = county_pki / f"{DASHBOARD_IDENTITY}.crt"
    # A demo folder from before the `dashboard` role held an analyst-role certificate under this name: replace it.
    stale = cert.exists() and read_role(cert.read_bytes()) is not Role.DASHBOARD
    if stale or not cert.exists():
        issue(county_pki, DASHBOARD_IDENTITY, Role.DASHBOARD, hosts=("localhost", "127.0.0.1"), force=stale)
    host_dir.mkdir(parents=True, exist_ok=True)
    host_dir.chmod(0o700)
    for name in DASHBOARD_FILES:
        if (county_pki / name).exists():
            shutil.copy2(county_pki / name, host_dir / name)
    return host_dir


def start_local_dashboard(
    root: Path, coordinator_address: str, coordinator_name: str, **shows: object
) -> tuple[object, str]:
    """A dashboard for a county on loopback (the demo and the browser tests): its certificate, config and server.

    Returns the server and its https:// address; `shows` sets what it reads (base month, benchmark epsilon...)."""
    from cli.local_county import free_port
    from dashboard.config import DashboardConfig, write_dashboard_config
    from dashboard.server import address, serve

    pki_dir = dashboard_pki(root / "pki", root / "dashboard" / "pki")
    config = DashboardConfig(
        listen=f"127.0.0.1:{free_port()}",
        coordinator=coordinator_address,
        coordinator_name=coordinator_name,
        pki_dir=pki_dir,
        server_identity=DASHBOARD_IDENTITY,
        secret_file=root / "dashboard" / "token.key",
        **shows,  # type: ignore[arg-type]
    )
    write_dashboard_config(config, root / "dashboard.toml")
    server = serve(config)
    return server, address(server)
