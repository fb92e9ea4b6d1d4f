"""Specifications for coordinator.report (the self-contained HTML report)."""

from __future__ import annotations

import csv
import html
import re
from datetime import UTC, datetime
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.benchmarks import RankRange
from coordinator.estimates import Estimate
from coordinator.report import (
    ATTRIBUTION,
    LICENCE_URL,
    BenchmarkRow,
    BudgetRow,
    CampaignRow,
    ReportData,
    SeriesPoint,
    UnclaimedRow,
    render_report,
)

WHEN = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
MEDWAY = "E06000035"


def reference_wards() -> list[dict[str, str]]:
    with resources.files("reference").joinpath("kent_wards.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


IN_SCOPE = [w for w in reference_wards() if w["lad_code"] != MEDWAY]


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
            IN_SCOPE[0]["ward_code"]: Estimate(98.7, 2.25),
            IN_SCOPE[1]["ward_code"]: Estimate(103.0, 1.0),
        },
        unclaimed=[UnclaimedRow("E07000107", name, e, Estimate(204_000.0, 1e8), e)],
        campaigns=[CampaignRow("E07000107", name, campaign, e, e, Estimate(50_000.0, 1e6))],
        budgets=[BudgetRow("E07000107", name, 0.3, 1.0, 2.4, 1e-6)],
        missing_districts=["E07000114"],
        notes=["Made-up test inputs."],
    )


def test_only_external_reference_is_the_licence_link() -> None:
    urls = re.findall(r"https?://[^\s\"'<>)]+", render_report(full_data()))
    assert urls and set(urls) == {LICENCE_URL}


def test_report_has_no_scripts_stylesheets_or_remote_fonts() -> None:
    page = render_report(full_data()).lower()
    assert (
        "<script" not in page and "<link" not in page and "@import" not in page and "@font-face" not in page
    )


def test_map_has_one_path_per_in_scope_ward() -> None:
    page = render_report(full_data())
    drawn = re.findall(r'<path class="ward" data-ward="([^"]+)"', page)
    assert sorted(drawn) == sorted(w["ward_code"] for w in IN_SCOPE)


def test_medway_is_greyed_not_coloured() -> None:
    page = render_report(full_data())
    medway_codes = {w["ward_code"] for w in reference_wards() if w["lad_code"] == MEDWAY}
    assert medway_codes
    assert not any(f'data-ward="{code}"' in page for code in medway_codes)
    assert page.count('<path class="out"') == len(medway_codes)


def test_ward_tooltip_gives_name_district_value_and_interval() -> None:
    ward = IN_SCOPE[0]
    page = render_report(full_data())
    # 98.7 ± 1.96·1.5
    tip = f"{ward['ward_name']}, {ward['lad_name']}: index 98.7 (95% interval 95.8 to 101.6)"
    assert f"<title>{html.escape(tip)}</title>" in page


def test_wards_without_data_are_hatched() -> None:
    page = render_report(full_data())
    hatched = re.findall(r'<path class="ward" data-ward="[^"]+" fill="url\(#nodata\)"', page)
    assert len(hatched) == len(IN_SCOPE) - 2


def test_map_coordinates_have_at_most_one_decimal() -> None:
    page = render_report(full_data())
    path_data = " ".join(re.findall(r'<path class="(?:ward|out|lad)"[^>]* d="([^"]*)"', page))
    assert path_data and not re.search(r"\.\d\d", path_data)


def test_footer_carries_the_ogl_attribution_and_licence_link() -> None:
    footer = render_report(full_data()).split("<footer>")[1]
    assert html.escape(ATTRIBUTION) in footer
    assert f'href="{LICENCE_URL}"' in footer


def test_malicious_district_name_is_escaped() -> None:
    evil = '<script>alert("pwned")</script>'
    page = render_report(full_data(name=evil, campaign=evil))
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_any_title_and_note_text_is_escaped(title: str, note: str) -> None:
    data = ReportData(title=title, generated_at=WHEN, notes=[note])
    page = render_report(data)
    for text in (title, note):
        assert html.escape(text) in page


def test_empty_report_renders_every_section_with_a_placeholder() -> None:
    page = render_report(ReportData(title="Nothing yet", generated_at=WHEN))
    for text in (
        "No index values yet.",
        "No district benchmarks yet.",
        "No unclaimed-support estimates yet.",
        "No campaign results yet.",
        "No budget information from the nodes.",
    ):
        assert text in page
    assert page.count('fill="url(#nodata)"') >= len(IN_SCOPE)


def test_missing_district_is_named_in_a_banner() -> None:
    page = render_report(full_data())
    assert "No answer from: <b>Thanet</b>" in page


def test_rank_range_label_is_shown() -> None:
    assert "1st–4th" in render_report(full_data())


def test_campaign_totals_carry_intervals() -> None:
    page = render_report(full_data())
    # One campaign: the total equals it, 120 ± 1.96·5.
    assert "All campaigns" in page and '120 <span class="ci">(110 to 130)</span>' in page


def test_budget_bar_shows_fraction_spent() -> None:
    page = render_report(full_data())
    assert "30%" in page and "0.3 of 1" in page and "1e-6" in page


def test_interval_lower_end_is_cut_at_zero_for_counts() -> None:
    data = full_data()
    small = UnclaimedRow(
        "E07000108", "Dover", Estimate(3.0, 100.0), Estimate(5_000.0, 1e8), Estimate(2.0, 9.0)
    )
    page = render_report(ReportData(title="t", generated_at=WHEN, unclaimed=[*data.unclaimed, small]))
    assert '3 <span class="ci">(0 to 23)</span>' in page


@pytest.mark.parametrize("n_months", [1, 30])
def test_county_chart_renders_for_one_or_many_months(n_months: int) -> None:
    series = [SeriesPoint(f"m{i:02d}", Estimate(100.0 + i / 10, 0.5)) for i in range(n_months)]
    page = render_report(ReportData(title="t", generated_at=WHEN, county_series=series))
    assert page.count('<circle class="dot"') == n_months


def test_report_stays_a_reasonable_size() -> None:
    assert len(render_report(full_data()).encode()) < 500_000
