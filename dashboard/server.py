"""The dashboard's HTTPS server: sign-in, pages, CSV downloads and the product's own scripts and styles.

Pages read stored results as the signed-in user (dashboard.reading); nothing here can ask a new question.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import jinja2

from analysis.client import CoordinatorClient, Endpoint
from dashboard.auth import COOKIE, SignInError, User, load_or_make_secret, read_token, sign_token, user_from_certificate
from dashboard.config import DashboardConfig
from dashboard.pages import (
    Page,
    audit_page,
    benchmarks_page,
    budgets_page,
    campaigns_page,
    index_page,
    map_page,
    unclaimed_page,
)
from dashboard.reading import Reader
from dashboard.scope import OutOfScopeError
from reference.geography import county_name
from report.render import attribution, licence_url
from report.render import environment as report_environment
from security.pki import is_revoked
from security.tls import TlsFiles, split_address

log = logging.getLogger(__name__)

PageFn = Callable[[Reader, DashboardConfig, User], Page]


@dataclass(frozen=True)
class Route:
    """A page: its address, its name in the navigation, how it is built, and whether only IG officers see it."""

    path: str
    label: str
    build: PageFn
    ig_only: bool = False


ROUTES = (
    Route("/", "Index", index_page),
    Route("/map", "Ward map", map_page),
    Route("/benchmarks", "Benchmarks", benchmarks_page),
    Route("/unclaimed", "Unclaimed support", unclaimed_page),
    Route("/campaigns", "Campaigns", campaigns_page),
    Route("/ig/budgets", "Budgets (IG)", budgets_page, ig_only=True),
    Route("/ig/audit", "Audit (IG)", audit_page, ig_only=True),
)
STATIC = {
    "/static/dashboard.js": ("dashboard", "static/dashboard.js", "text/javascript"),
    "/static/dashboard.css": ("dashboard", "static/dashboard.css", "text/css"),
    "/static/report.css": ("report", "static/report.css", "text/css"),
    "/static/plotly.min.js": ("plotly", "package_data/plotly.min.js", "text/javascript"),
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@cache
def environment() -> jinja2.Environment:
    """The report's Jinja2 environment, with the dashboard's templates in front of the report's."""
    report_env = report_environment()
    assert report_env.loader is not None
    env = report_env.overlay(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader("dashboard", "templates"), report_env.loader])
    )
    env.globals["county_name"] = county_name  # the active geography pack's area, called at render time
    return env


@cache
def static_file(package: str, name: str) -> bytes:
    """A script or style shipped inside a Python package (Plotly's JavaScript comes from the plotly package)."""
    return resources.files(package).joinpath(name).read_bytes()


class Dashboard:
    """State shared by request handlers: config, token key, and the dashboard's own connection to the coordinator."""

    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self.secret = load_or_make_secret(config.secret_file)
        self._client: CoordinatorClient | None = None
        self._lock = threading.Lock()

    def reader(self, user: User) -> Reader:
        """What this user may read, over the dashboard's own certificate (no user's key is on this host)."""
        with self._lock:
            if self._client is None:
                endpoint = Endpoint(
                    self.config.coordinator,
                    self.config.pki_dir,
                    self.config.server_identity,
                    self.config.coordinator_name,
                )
                self._client = CoordinatorClient.connect(endpoint)
            return Reader(self._client, user)

    def sign_in(self, cert_der: bytes) -> str:
        """A token for a verified client certificate (SignInError when it cannot sign in)."""
        pem = ssl.DER_cert_to_PEM_cert(cert_der).encode()
        if is_revoked(self.config.pki_dir, pem):
            raise SignInError("this certificate has been revoked")
        return sign_token(self.secret, user_from_certificate(pem, int(time.time()), self.config.token_minutes))

    def render(self, route: Route, user: User, page: Page) -> str:
        return (
            environment()
            .get_template("page.html.j2")
            .render(
                page=page,
                route=route,
                routes=[r for r in ROUTES if user.is_ig or not r.ig_only],
                user=user,
                attribution=attribution(),
                licence_url=licence_url(),
            )
        )


def server_context(config: DashboardConfig) -> ssl.SSLContext:
    """HTTPS with the county's certificate; a client certificate is asked for (to sign in) but not required."""
    files = TlsFiles.for_identity(config.pki_dir, config.server_identity)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.cert, files.key)
    ctx.load_verify_locations(files.ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def make_handler(app: Dashboard) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one Dashboard."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "lsi-dashboard"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
            log.info("%s %s", self.address_string(), format % args)

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/login":
                return self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
            der = self.connection.getpeercert(binary_form=True)
            if not der:
                return self._json(HTTPStatus.UNAUTHORIZED, {"error": "present your county client certificate"})
            try:
                token = app.sign_in(der)
            except (SignInError, ValueError) as exc:
                return self._json(HTTPStatus.FORBIDDEN, {"error": str(exc)})
            self._json(HTTPStatus.OK, {"token": token, "minutes": app.config.token_minutes})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path in STATIC:
                package, name, kind = STATIC[url.path]
                return self._send(HTTPStatus.OK, kind, static_file(package, name), cache=True)
            if url.path == "/signin":
                return self._sign_in(query.get("token", [""])[0])
            user = self._user()
            if user is None:
                return self._message(HTTPStatus.UNAUTHORIZED, "Sign in", SIGN_IN_HELP)
            csv = url.path.startswith("/csv/")
            path = (url.path.removeprefix("/csv").rsplit("/", 1)[0] or "/") if csv else url.path
            route = next((r for r in ROUTES if r.path == path), None)
            if route is None:
                return self._message(HTTPStatus.NOT_FOUND, "Not found", f"There is no page {url.path}.")
            if route.ig_only and not user.is_ig:
                # Refused here, whatever the link or address: budgets by analyst and audits are IG officers' only.
                return self._message(HTTPStatus.FORBIDDEN, "IG officers only", IG_ONLY_HELP)
            try:
                reader = app.reader(user)
                month = query.get("month", [None])[0]
                page = (
                    map_page(reader, app.config, user, month)
                    if route.path == "/map"
                    else route.build(reader, app.config, user)
                )
            except OutOfScopeError as exc:
                return self._message(HTTPStatus.FORBIDDEN, "Not for your role", str(exc))
            except grpc.RpcError as exc:
                detail = exc.details() or str(exc.code())
                return self._message(HTTPStatus.BAD_GATEWAY, "The coordinator refused", detail)
            except (ValueError, RuntimeError) as exc:
                return self._message(HTTPStatus.BAD_GATEWAY, "Cannot show this page", str(exc))
            if csv:
                table = page.table(url.path.rsplit("/", 1)[1].removesuffix(".csv"))
                if table is None:
                    return self._message(HTTPStatus.NOT_FOUND, "Not found", "This page has no such table.")
                headers = {"Content-Disposition": f'attachment; filename="{table.id}.csv"'}
                return self._send(HTTPStatus.OK, "text/csv; charset=utf-8", table.csv().encode(), headers=headers)
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", app.render(route, user, page).encode())

        def _user(self) -> User | None:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            if COOKIE not in cookie:
                return None
            try:
                return read_token(app.secret, cookie[COOKIE].value, int(time.time()))
            except SignInError:
                return None

        def _sign_in(self, token: str) -> None:
            try:
                user = read_token(app.secret, token, int(time.time()))
            except SignInError as exc:
                return self._message(HTTPStatus.UNAUTHORIZED, "Sign in", str(exc))
            max_age = max(user.expires - int(time.time()), 0)
            cookie = f"{COOKIE}={token}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"
            self._send(
                HTTPStatus.SEE_OTHER, "text/plain", b"signed in\n", headers={"Location": "/", "Set-Cookie": cookie}
            )

        def _message(self, status: HTTPStatus, title: str, text: str) -> None:
            html = environment().get_template("message.html.j2").render(title=title, text=text)
            self._send(status, "text/html; charset=utf-8", html.encode())

        def _json(self, status: HTTPStatus, body: dict[str, object]) -> None:
            self._send(status, "application/json", json.dumps(body).encode())

        def _send(
            self,
            status: HTTPStatus,
            kind: str,
            body: bytes,
            *,
            headers: dict[str, str] | None = None,
            cache: bool = False,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Strict-Transport-Security", "max-age=31536000")
            self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    return Handler


SIGN_IN_HELP = (
    "You are not signed in, or your sign-in has expired. Run `lsi dashboard login --url https://THIS-HOST:PORT "
    "--pki DIR --identity NAME` with your county certificate, then open the address it prints."
)
IG_ONLY_HELP = "This page shows budgets by analyst and audit status; only IG officers may see it."


class DashboardServer(ThreadingHTTPServer):
    """A threading HTTPS server; each connection is wrapped in TLS in its own thread, so one slow client
    cannot hold up the others."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: Dashboard, context: ssl.SSLContext) -> None:
        super().__init__(address, make_handler(app))
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", client_address, exc)
            return
        super().finish_request(tls, client_address)


def serve(config: DashboardConfig) -> DashboardServer:
    """Start the dashboard on its own thread and return the server (shutdown() to stop)."""
    host, port = split_address(config.listen)
    server = DashboardServer((host, port), Dashboard(config), server_context(config))
    threading.Thread(target=server.serve_forever, name="dashboard", daemon=True).start()
    return server


def address(server: DashboardServer) -> str:
    """The https:// address the server listens on."""
    host, port = server.server_address[:2]
    return f"https://{host!s}:{port}"
