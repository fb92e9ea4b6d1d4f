"""Specifications for the report's parts: formatting, charts as safe markup, geometry."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from analysis.benchmarks import RankRange
from analysis.report_data import BenchmarkRow, SeriesPoint
from common.estimates import Estimate
from reference.geography import reference_wards
from report.charts import benchmark_chart, change_text, series_chart
from report.formatting import MINUS, fmt, fmt_money, with_interval
from report.geometry import fit_projection, map_wards, ring_path
from report.map import ward_map
from tests.html_tree import parse

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@given(finite)
def test_negative_numbers_get_a_true_minus_sign(x: float) -> None:
    text = fmt(x, 1)
    assert text.startswith(MINUS) == (round(x, 1) < 0)
    assert "-" not in text


@given(st.floats(min_value=0, max_value=1e9))
def test_money_is_shown_in_pounds_thousands_or_millions(x: float) -> None:
    assert re.fullmatch(r"£[\d,]+(\.\d\d)?[km]?", fmt_money(x))


def test_interval_text_is_markup_with_its_interval_in_a_muted_span() -> None:
    cell = with_interval(Estimate(120.0, 25.0), lambda v, ref: fmt(v))
    assert isinstance(cell, Markup)
    span = parse(str(cell)).find("span")
    assert span.attrs["class"] == "ci" and span.text() == "(110 to 130)"


def test_charts_escape_the_text_they_are_given() -> None:
    evil = '<tspan onclick="x()">&</tspan>'
    row = BenchmarkRow("E07000107", evil, Estimate(31.0, 4.0), RankRange(1, 1, 2))
    svg = parse(str(benchmark_chart([row])))
    assert not list(svg.iter("tspan", onclick="x()"))
    assert [t.text() for t in svg.iter("text") if t.has_class("name")] == [evil]


def test_series_chart_title_gives_month_value_and_interval() -> None:
    svg = parse(str(series_chart([SeriesPoint("2025-05", Estimate(101.5, 1.44))])))
    assert svg.find("circle").find("title").text() == "2025-05: 101.5 (95% interval 99.1 to 103.9)"


def test_a_change_is_bold_only_when_its_interval_excludes_zero() -> None:
    sure = parse(str(change_text(Estimate(5.0, 1.0))))
    unsure = parse(str(change_text(Estimate(1.0, 1.0))))
    assert next(sure.iter("tspan")).has_class("sure")
    assert not next(unsure.iter("tspan")).has_class("sure")


def test_map_draws_every_reference_ward_once() -> None:
    svg = parse(str(ward_map({})))
    drawn = [p for p in svg.iter("path") if p.has_class("ward") or p.has_class("out")]
    assert len(drawn) == len(reference_wards()) == len(map_wards())


def test_ring_paths_stay_on_the_tenth_of_a_unit_grid() -> None:
    wards = map_wards()
    proj = fit_projection(wards, 900.0)
    d = ring_path(wards[0].rings[0], proj)
    assert d.startswith("M") and not re.search(r"\.\d\d", d)
