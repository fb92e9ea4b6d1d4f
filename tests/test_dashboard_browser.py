"""The dashboard in a real browser (Debian's chromium driven by Playwright) against a running county."""

from __future__ import annotations

import csv
import io
import os
import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from analysis.client import CoordinatorClient
from analysis.district_benchmarks import benchmark
from analysis.index_refresh import refresh_index_month
from analysis.unclaimed import unclaimed
from cli.dashboard_cmd import login_token, start_local_dashboard
from cli.local_county import ANALYST, COORDINATOR, COUNTY_IG_OFFICER
from protos.lsi.v1 import node_pb2
from reference.geography import districts
from tests.county import running_county

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "results" / "screenshots"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = ["/", "/map", "/benchmarks", "/unclaimed", "/campaigns"]
IG_PAGES = ["/ig/budgets", "/ig/audit"]


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is missing in CI: .ci/run installs it with `make browser`")
    pytest.skip("chromium is not installed (apt-get install -y chromium, or `make browser` as root)")


@dataclass
class Dash:
    url: str
    county: Any
    tokens: dict[str, str]
    ledgers: dict[str, tuple[float, int, int]]  # every node's ledger before any page was opened


# Four districts keep the county's set-up short; the map still draws every ward (those without data hatched).
CODES = [d.code for d in districts()[:4]]


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dash]:
    _need_chromium()
    root = tmp_path_factory.mktemp("dash-county")
    with running_county(root, codes=CODES, months=3) as county:
        client = CoordinatorClient(county.coordinator_stub(ANALYST))
        months = client.months()
        for m in months:
            refresh_index_month(client.submit, m, rho=0.5)
        benchmark(client.submit, "households_in_crisis", months[-1], epsilon=0.5, held=months)
        unclaimed(client.submit, months[-1], epsilon=1.0)
        server, url = start_local_dashboard(root, county.local.coordinator_address, COORDINATOR, base_month=months[0])
        tokens = {who: login_token(url, county.local.tls(who)) for who in (ANALYST, COUNTY_IG_OFFICER)}
        try:
            yield Dash(url, county, tokens, _budgets(county))
        finally:
            server.shutdown()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def browser(dash: Dash) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's launch gives chromium a fresh, empty --user-data-dir of its own (it refuses one passed in).
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@dataclass
class Tab:
    page: Any
    errors: list[str]  # console errors and uncaught exceptions since sign-in


@pytest.fixture(scope="module")
def tabs(browser: Any, dash: Dash) -> Iterator[dict[str, Tab]]:
    """One browser context per user, signed in once through /signin (which lands on the index) for the module."""
    out = {}
    for who in (ANALYST, COUNTY_IG_OFFICER):
        context = browser.new_context(ignore_https_errors=True, accept_downloads=True)
        page = context.new_page()
        errors = _errors(page)
        page.goto(f"{dash.url}/signin?token={dash.tokens[who]}")
        out[who] = Tab(page, errors)
    yield out
    for tab in out.values():
        tab.page.context.close()


def _open(tab: Tab, dash: Dash, path: str) -> Any:
    """The page at `path` (not loaded again when the tab already shows it)."""
    if urlsplit(tab.page.url).path != path or urlsplit(tab.page.url).query:
        reply = tab.page.goto(dash.url + path)
        assert reply.status == 200, f"{path}: {reply.status}"
    return tab.page


def _errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _budgets(county: Any) -> dict[str, tuple[float, int, int]]:
    out = {}
    for code in county.engines:
        b = county.node_stub(code).Budget(node_pb2.BudgetRequest(), timeout=30)
        out[code] = (b.spent_rho, b.releases, b.replays)
    return out


def test_every_page_loads_without_console_errors_and_spends_nothing(tabs: dict[str, Tab], dash: Dash) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for who, paths in ((ANALYST, PAGES), (COUNTY_IG_OFFICER, PAGES + IG_PAGES)):
        tab = tabs[who]
        for path in paths:
            page = _open(tab, dash, path)
            page.wait_for_load_state("load")
            name = f"{who}-{path.strip('/').replace('/', '-') or 'index'}.png"
            page.screenshot(path=str(SHOTS / name), full_page=True)
        assert tab.errors == [], f"{who}: {tab.errors}"
    assert _budgets(dash.county) == dash.ledgers


def test_the_index_chart_is_drawn_by_the_served_plotly(tabs: dict[str, Tab], dash: Dash) -> None:
    page = _open(tabs[ANALYST], dash, "/")
    page.wait_for_selector(".plot .main-svg")
    assert page.locator("table#table-county-index tbody tr").count() == 3


def test_the_map_has_a_shape_per_ward_and_the_slider_changes_month_and_colours(
    tabs: dict[str, Tab], dash: Dash
) -> None:
    from report.geometry import map_wards

    page = tabs[ANALYST].page
    page.goto(dash.url + "/map")  # loaded afresh: the slider starts at the latest month
    assert page.locator("svg.map path.ward").count() == sum(1 for w in map_wards() if w.in_scope)
    first = page.locator("svg.map path.ward").first
    label = page.locator("#month-label")
    latest, fill_latest = label.text_content(), first.get_attribute("fill")
    page.locator("#month").fill("0")
    assert label.text_content() != latest
    fills = page.locator("svg.map path.ward").evaluate_all("ps => ps.map(p => p.getAttribute('fill'))")
    page.locator("#month").fill("2")
    again = page.locator("svg.map path.ward").evaluate_all("ps => ps.map(p => p.getAttribute('fill'))")
    assert fills != again and again[0] == fill_latest
    page.screenshot(path=str(SHOTS / "map-first-month.png"))


def test_an_analyst_sees_no_ig_link_and_the_server_refuses_ig_pages_and_data(tabs: dict[str, Tab], dash: Dash) -> None:
    page = tabs[ANALYST].page
    assert page.locator("nav a[href^='/ig/']").count() == 0
    for path in [*IG_PAGES, "/csv/ig/budgets/budget-analysts.csv", "/csv/ig/audit/audit.csv"]:
        assert page.request.get(dash.url + path).status == 403, path


def test_no_page_or_data_without_sign_in(dash: Dash) -> None:
    ctx = ssl.create_default_context(cafile=str(dash.county.local.pki_dir / "ca.crt"))
    for path in ["/", "/csv/benchmarks/benchmarks.csv", "/ig/budgets"]:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(dash.url + path, context=ctx, timeout=30)
        assert err.value.code == 401


def test_csv_downloads_match_the_page(tabs: dict[str, Tab], dash: Dash) -> None:
    page = _open(tabs[ANALYST], dash, "/benchmarks")
    rows = page.locator("table#table-benchmarks tbody tr")
    reply = page.request.get(dash.url + page.locator("a.csv").first.get_attribute("href"))
    assert reply.headers["content-disposition"].startswith("attachment")
    body = list(csv.reader(io.StringIO(reply.text())))[1:]
    assert len(body) == rows.count() > 0
    for i, line in enumerate(body):
        cells = rows.nth(i).locator("td").all_text_contents()
        name, value, low, high = line[0], line[1], line[2], line[3]
        assert cells[0] == name
        assert cells[1].startswith(value) and f"({low} to {high})" in cells[1], (cells, line)


def test_keyboard_reaches_every_page_link_and_the_slider(tabs: dict[str, Tab], dash: Dash) -> None:
    page = tabs[COUNTY_IG_OFFICER].page
    page.goto(dash.url + "/map")  # loaded afresh: focus starts at the top of the page
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.getAttribute('href') || document.activeElement.id"))
    assert {"/", "/map", "/benchmarks", "/unclaimed", "/campaigns", "/ig/budgets", "/ig/audit", "month"} <= set(reached)
    page.locator("#month").focus()
    before = page.locator("#month-label").text_content()
    page.keyboard.press("ArrowLeft")
    assert page.locator("#month-label").text_content() != before
