"""Specifications for the county report (one self-contained HTML file), read with a real HTML parser."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.benchmarks import RankRange
from analysis.report_data import (
    BenchmarkRow,
    BudgetRow,
    CampaignRow,
    ReportData,
    SeriesPoint,
    UnclaimedRow,
)
from common.estimates import Estimate
from report.render import attribution, licence_url, render_report
from tests.html_tree import Element, parse

WHEN = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
MEDWAY = "E06000035"


def reference_wards() -> list[dict[str, str]]:
    with resources.files("reference").joinpath("packs/kent/wards.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


IN_SCOPE = [w for w in reference_wards() if w["district_code"] != MEDWAY]


def full_data(name: str = "Dartford", campaign: str = "Pension Credit letters") -> ReportData:
    e = Estimate(120.0, 25.0)
    return ReportData(
        title="Kent LSI test",
        generated_at=WHEN,
        county_series=[
            SeriesPoint("2025-04", Estimate(100.0, 0.0)),
            SeriesPoint("2025-05", Estimate(101.5, 1.2)),
        ],
        district_rows=[BenchmarkRow("E07000107", name, Estimate(31.0, 4.0), RankRange(2, 1, 4), e, None)],
        ward_index={
            IN_SCOPE[0]["code"]: Estimate(98.7, 2.25),
            IN_SCOPE[1]["code"]: Estimate(103.0, 1.0),
        },
        unclaimed=[UnclaimedRow("E07000107", name, e, Estimate(204_000.0, 1e8), e)],
        campaigns=[CampaignRow("E07000107", name, campaign, e, e, Estimate(50_000.0, 1e6))],
        budgets=[BudgetRow("E07000107", name, 0.3, 1.0, 2.4, 1e-6)],
        missing_districts=["E07000114"],
        notes=["Made-up test inputs."],
    )


def page_of(data: ReportData) -> Element:
    return parse(render_report(data))


def texts(root: Element, tag: str, cls: str) -> list[str]:
    return [e.text() for e in root.iter(tag) if e.has_class(cls)]


def ward_paths(root: Element) -> list[Element]:
    return [p for p in root.iter("path") if p.has_class("ward")]


def test_only_external_reference_is_the_licence_link() -> None:
    root = page_of(full_data())
    values = [v for e in root.iter() for v in e.attrs.values()] + [root.find("style").text()]
    urls = {u for v in values for u in re.findall(r"https?://\S+", v)}
    assert urls == {licence_url()}
    assert [a.attrs["href"] for a in root.iter("a")] == [licence_url()]


def test_report_has_no_scripts_stylesheets_or_remote_fonts() -> None:
    root = page_of(full_data())
    assert not [e for e in root.iter() if e.tag in {"script", "link", "iframe", "img", "object"}]
    css = " ".join(s.text() for s in root.iter("style")).lower()
    assert "@import" not in css and "@font-face" not in css


def test_css_is_inlined_from_the_package_data() -> None:
    css = resources.files("report").joinpath("static/report.css").read_text(encoding="utf-8")
    assert page_of(full_data()).find("style").text().strip() == css.strip()


def test_map_has_one_path_per_in_scope_ward() -> None:
    drawn = [p.attrs["data-ward"] for p in ward_paths(page_of(full_data()))]
    assert sorted(drawn) == sorted(w["code"] for w in IN_SCOPE)


def test_medway_is_greyed_not_coloured() -> None:
    root = page_of(full_data())
    medway_codes = {w["code"] for w in reference_wards() if w["district_code"] == MEDWAY}
    assert medway_codes
    assert not medway_codes & {p.attrs["data-ward"] for p in ward_paths(root)}
    assert len([p for p in root.iter("path") if p.has_class("out")]) == len(medway_codes)


def test_ward_tooltip_gives_name_district_value_and_interval() -> None:
    ward = IN_SCOPE[0]
    path = page_of(full_data()).find("path", data_ward=ward["code"])
    # 98.7 ± 1.96·1.5
    assert (
        path.find("title").text() == f"{ward['name']}, {ward['district_name']}: index 98.7 (95% interval 95.8 to 101.6)"
    )


def test_wards_without_data_are_hatched() -> None:
    hatched = [p for p in ward_paths(page_of(full_data())) if p.attrs["fill"] == "url(#nodata)"]
    assert len(hatched) == len(IN_SCOPE) - 2


def test_map_coordinates_have_at_most_one_decimal() -> None:
    root = page_of(full_data())
    path_data = " ".join(
        p.attrs["d"] for p in root.iter("path") if {"ward", "out", "lad"} & set(p.attrs["class"].split())
    )
    assert path_data and not re.search(r"\.\d\d", path_data)


def test_footer_carries_the_ogl_attribution_and_licence_link() -> None:
    footer = page_of(full_data()).find("footer")
    assert attribution() in footer.text() and "Crown copyright" in attribution()
    assert footer.find("a").attrs["href"] == licence_url()


def test_malicious_district_name_is_shown_as_text_not_markup() -> None:
    evil = '<script>alert("pwned")</script>'
    root = page_of(full_data(name=evil, campaign=evil))
    assert not list(root.iter("script"))
    assert evil in texts(root, "text", "name")
    cells = [td.text() for td in root.iter("td")]
    assert cells.count(evil) == 4  # unclaimed, campaign and budget rows name the district; one the campaign


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_any_title_and_note_text_comes_back_as_text(title: str, note: str) -> None:
    root = page_of(ReportData(title=title, generated_at=WHEN, notes=[note]))
    assert root.find("title").text() == title
    assert root.find("h1").text() == title
    assert [li.text() for li in root.iter("li")] == [note]


def test_empty_report_renders_every_section_with_a_placeholder() -> None:
    root = page_of(ReportData(title="Nothing yet", generated_at=WHEN))
    assert texts(root, "p", "empty") == [
        "No index values yet.",
        "No district benchmarks yet.",
        "No unclaimed-support estimates yet.",
        "No campaign results yet.",
        "No budget information from the nodes.",
    ]
    assert len([p for p in ward_paths(root) if p.attrs["fill"] == "url(#nodata)"]) == len(IN_SCOPE)


def test_missing_district_is_named_in_a_banner() -> None:
    banner = next(s for s in page_of(full_data()).iter("section") if s.has_class("missing"))
    assert banner.find("b").text() == "Thanet"


def test_rank_range_label_is_shown() -> None:
    assert texts(page_of(full_data()), "text", "rank") == ["1st–4th"]


def test_campaign_totals_carry_intervals() -> None:
    campaigns = next(s for s in page_of(full_data()).iter("section") if s.find("h2").text() == "Take-up campaigns")
    foot = [td.text() for td in campaigns.find("tfoot").iter("td")]
    # One campaign: the total equals it, 120 ± 1.96·5.
    assert foot[0] == "All campaigns" and foot[2] == "120 (110 to 130)"


def test_budget_row_shows_fraction_spent() -> None:
    budget = next(s for s in page_of(full_data()).iter("section") if s.find("h2").text() == "Privacy budget by node")
    row = [td.text() for td in budget.find("tbody").iter("td")]
    # The spend reads as the CLI's budget table and a node's refusal write it (privacy.spend_text).
    assert row[0] == "Dartford" and row[2:] == ["30%", "rho 0.3 (eps 2.4 at delta 1e-06)", "rho 1"]


def test_interval_lower_end_is_cut_at_zero_for_counts() -> None:
    data = full_data()
    small = UnclaimedRow("E07000108", "Dover", Estimate(3.0, 100.0), Estimate(5_000.0, 1e8), Estimate(2.0, 9.0))
    root = page_of(ReportData(title="t", generated_at=WHEN, unclaimed=[*data.unclaimed, small]))
    dover = next(tr for tr in root.find("tbody").iter("tr") if tr.find("td").text() == "Dover")
    assert [td.text() for td in dover.iter("td")][1] == "3 (0 to 23)"


@pytest.mark.parametrize("n_months", [1, 30])
def test_county_chart_renders_for_one_or_many_months(n_months: int) -> None:
    series = [SeriesPoint(f"m{i:02d}", Estimate(100.0 + i / 10, 0.5)) for i in range(n_months)]
    root = page_of(ReportData(title="t", generated_at=WHEN, county_series=series))
    assert len([c for c in root.iter("circle") if c.has_class("dot")]) == n_months


def test_report_stays_a_reasonable_size() -> None:
    assert len(render_report(full_data()).encode()) < 500_000
