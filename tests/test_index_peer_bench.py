"""The index-against-SmartNoise benchmark's own parts, without SmartNoise: the SQL, the split of the loss, and the
peer's cells turned into the ward index."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from analysis.index_refresh import INDEX_QUERIES
from analysis.indicators import FilterSpec, indicator
from bench.index_allocation import BASE, CODE, MONTH, _engine, ward_series
from bench.index_peer import (
    SUM_UNIT,
    YEAR_MONTHS,
    _rmse,
    check_exact,
    interval,
    months_ending,
    peer_cells,
    peer_frame,
    peer_series,
    peer_spec,
    peer_variance,
    peer_ward_index,
    series_loss,
    sql_condition,
    squared_errors,
    verdict,
)
from bench.peer_index import even_loss, metadata, select_sql
from common.estimates import Estimate
from node.synth import generate_district
from privacy.accountant import rho_to_epsilon

LAPLACE = {"kind": "laplace", "scale": 2.0}
GAUSSIAN = {"kind": "gaussian", "scale": 3.0}


@pytest.mark.parametrize(
    ("spec", "sql"),
    [
        (FilterSpec("cash_shortfall", "eq", True), "cash_shortfall = TRUE"),
        (FilterSpec("on_uc", "eq", False), "on_uc = FALSE"),
        (FilterSpec("resilience", "eq", "in_crisis"), "resilience = 'in_crisis'"),
        (FilterSpec("resilience", "ne", "o'clock"), "resilience <> 'o''clock'"),
        (FilterSpec("household_size", "ge", 3), "household_size >= 3"),
        (FilterSpec("tenure", "in", ("social", "private")), "tenure IN ('social', 'private')"),
    ],
)
def test_filters_become_sql_conditions(spec: FilterSpec, sql: str) -> None:
    assert sql_condition(spec) == sql


def test_the_spec_asks_every_index_input_in_both_months_with_money_in_the_peers_unit() -> None:
    spec = peer_spec()
    assert [(q["month"], q["name"]) for q in spec["queries"]] == [(m, n) for m in (BASE, MONTH) for n in INDEX_QUERIES]
    mean = next(q for q in spec["queries"] if q["measure"] == "mean")
    surplus = indicator("mean_monthly_surplus")
    assert (mean["lower"] * SUM_UNIT, mean["upper"] * SUM_UNIT) == (surplus.lower, surplus.upper)
    assert spec["columns"]["cash_shortfall"] == {"type": "boolean"}
    assert spec["columns"]["resilience"] == {"type": "string"}
    assert spec["columns"]["monthly_surplus"] == {"type": "float"}
    crisis = next(q for q in spec["queries"] if q["name"] == "households_in_crisis" and q["month"] == MONTH)
    assert select_sql(crisis) == (
        "SELECT ward_code, COUNT(*) AS n FROM bench.households "
        f"WHERE snapshot_month = '{MONTH}' AND resilience = 'in_crisis' GROUP BY ward_code"
    )
    # A mean as SUM and COUNT(*): two measured columns, the count doubling as SmartNoise's key count.
    assert select_sql(mean) == (
        "SELECT ward_code, SUM(monthly_surplus) AS s, COUNT(*) AS n FROM bench.households "
        f"WHERE snapshot_month = '{BASE}' GROUP BY ward_code"
    )
    table = metadata(spec["columns"], spec["queries"], 10, censor=False)["Bench"]["bench"]["households"]
    assert table["monthly_surplus"] == {"type": "float", "lower": -15.0, "upper": 15.0}
    assert table["row_privacy"] is True and table["censor_dims"] is False


def test_the_loss_is_split_evenly_so_the_columns_compose_to_the_total() -> None:
    def basic(eps: float, delta: float, pattern: Sequence[bool]) -> tuple[float, float]:
        return eps * len(pattern), 1 - (1 - delta / 2) * (1 - delta) ** sum(pattern)

    pattern = [True] * 14 + [False] * 2
    eps, delta = even_loss(pattern, 8.0, 1e-7, basic)
    assert eps == pytest.approx(0.5, rel=1e-12)
    assert delta == pytest.approx(1e-7 / 14.5, rel=1e-6)
    spent = basic(eps, delta, pattern)
    assert spent[0] <= 8.0 and spent[1] <= 1e-7


def test_peer_noise_variance_follows_its_mechanism() -> None:
    assert peer_variance(LAPLACE) == 8.0
    assert peer_variance(GAUSSIAN) == 9.0
    with pytest.raises(ValueError):
        peer_variance({"kind": "exponential", "scale": 1.0})


def test_a_peer_mean_is_post_processed_as_the_nodes_mean_is() -> None:
    surplus = indicator("mean_monthly_surplus")
    noise = {"s": LAPLACE, "n": GAUSSIAN}
    cells = {"W1": {"s": 30.0, "n": 100.0}, "W2": {"s": 30.0, "n": 0.4}, "W3": {"s": -400.0, "n": 2.0}}
    got = peer_cells(surplus, cells, noise)
    mean = 30.0 * SUM_UNIT / 100.0
    assert got["W1"].value == mean
    assert got["W1"].variance == pytest.approx((8.0 * SUM_UNIT**2 + mean**2 * 9.0) / 100.0**2)
    assert "W2" not in got  # a noisy count under 1 withholds the mean
    assert got["W3"].value == surplus.lower  # clamped to the bounds


def _cells(households: float, share: float, surplus: float) -> dict[str, dict[str, dict[str, float]]]:
    out = {name: {"n": households * share} for name in INDEX_QUERIES}
    out["households"] = {"n": households}
    out["mean_monthly_surplus"] = {"s": surplus * households / SUM_UNIT, "n": households}
    return {name: {"W1": cell} for name, cell in out.items()}


def test_peer_cells_make_the_libraries_ward_index() -> None:
    noise = {m: {n: {"n": LAPLACE, "s": LAPLACE} for n in INDEX_QUERIES} for m in (BASE, MONTH)}
    same = peer_ward_index({BASE: _cells(500, 0.2, 100.0), MONTH: _cells(500, 0.2, 100.0)}, noise)
    assert same["W1"].value == pytest.approx(100.0)
    assert same["W1"].variance > 0
    # Every hardship share down from 0.2 to 0.1 (each term (0.1 - 0.2) / 0.8, higher is worse) and the same surplus.
    better = peer_ward_index({BASE: _cells(500, 0.2, 100.0), MONTH: _cells(500, 0.1, 100.0)}, noise)
    assert better["W1"].value == pytest.approx(100.0 * (1 + 0.85 * 0.125))
    # A ward with an input censored in the current month has no index.
    censored = _cells(500, 0.1, 100.0)
    del censored["food_poverty"]["W1"]
    assert peer_ward_index({BASE: _cells(500, 0.2, 100.0), MONTH: censored}, noise) == {}
    assert math.isfinite(better["W1"].sd)


def test_the_peers_rows_give_the_nodes_exact_answers(tmp_path: Path) -> None:
    engine = _engine(tmp_path, 0.02)
    spec = peer_spec()
    frame = peer_frame(engine, spec)
    assert len(frame) == sum(len(engine.frames[m]) for m in (BASE, MONTH))
    exact: dict[str, dict[str, Any]] = {BASE: {}, MONTH: {}}
    for q in spec["queries"]:
        rows = frame[frame["snapshot_month"] == q["month"]]
        for f in indicator(q["name"]).filters:
            assert f.op == "eq"  # what the index's inputs use; the peer gets them as SQL (tested above)
            rows = rows[rows[f.column] == f.value]
        by_ward = rows.groupby("ward_code")
        n = by_ward.size()
        s = by_ward[q["column"]].sum() if q["column"] else n * 0
        exact[q["month"]][q["name"]] = {w: {"n": float(n[w]), "s": float(s[w])} for w in n.index}
    check_exact(engine, 0.5, exact)
    exact[MONTH]["food_poverty"][next(iter(exact[MONTH]["food_poverty"]))]["n"] += 1
    with pytest.raises(AssertionError, match="food_poverty"):
        check_exact(engine, 0.5, exact)


def test_the_ratio_interval_brackets_the_ratio_and_needs_published_indexes() -> None:
    node = [{"W1": 1.0, "W2": 1.0}, {"W1": 4.0, "W2": 4.0}]
    peer = [{"W1": 4.0, "W2": 4.0}, {"W1": 16.0, "W2": 16.0}]
    low, high = interval(node, peer) or (math.nan, math.nan)
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)  # every resample: RMSE half the peer's
    assert interval(node, [{}, {}]) is None


def test_a_ratio_on_censored_wards_is_not_judged_against_the_target() -> None:
    published = {"ratio": 0.3, "ward_indexes_published": 10}
    assert verdict(published, 10, 0.5) == "met"
    assert verdict({**published, "ratio": 0.6}, 10, 0.5) == "not met"
    assert verdict({**published, "ward_indexes_published": 4}, 10, 0.5).startswith("not comparable")
    assert verdict({"ratio": None, "ward_indexes_published": 0}, 10, 0.5) == "no ward index published"


def test_the_years_months_end_with_the_current_month_across_a_calendar_year() -> None:
    months = months_ending(MONTH, YEAR_MONTHS)
    assert months[0] == "2024-10" and months[-1] == MONTH and len(months) == 13
    assert months_ending("2025-01", 3) == ("2024-11", "2024-12", "2025-01")
    assert months_ending(MONTH, 2) == (BASE, MONTH)
    with pytest.raises(ValueError):
        months_ending(MONTH, 0)


def test_the_synthetic_district_has_exactly_the_years_months() -> None:
    frames = generate_district(CODE, scale=0.01, months=4, end_month=MONTH)
    assert tuple(frames) == months_ending(MONTH, 4)


def test_the_series_loss_adds_rho_and_converts_once() -> None:
    rho, eps = series_loss(0.5, 2, 1e-7)
    assert (rho, eps) == (1.0, rho_to_epsilon(1.0, 1e-7))
    rho, eps = series_loss(0.5, 13, 1e-7)
    assert rho == 6.5 and eps == rho_to_epsilon(6.5, 1e-7)
    # Converted once, epsilon grows more slowly than the months (13/2 times the rho, not 13/2 times the epsilon).
    two = series_loss(0.5, 2, 1e-7)[1]
    assert math.sqrt(13 / 2) * two < eps < 13 / 2 * two


def test_the_years_spec_asks_every_input_every_month_in_104_measured_columns() -> None:
    months = months_ending(MONTH, YEAR_MONTHS)
    spec = peer_spec(months)
    assert [(q["month"], q["name"]) for q in spec["queries"]] == [(m, n) for m in months for n in INDEX_QUERIES]
    # Each query's measured columns as SmartNoise sees them with censoring off: a count one, a mean SUM and COUNT(*).
    columns = [select_sql(q).count(" AS ") for q in spec["queries"]]
    assert sum(columns) == 13 * 8 == 104

    def basic(eps: float, delta: float, pattern: Sequence[bool]) -> tuple[float, float]:
        return eps * len(pattern), delta * sum(pattern)

    _, total = series_loss(0.5, YEAR_MONTHS, 1e-7)
    eps, delta = even_loss([True] * sum(columns), total, 1e-7, basic)
    assert eps == pytest.approx(total / 104, rel=1e-9) and delta == pytest.approx(1e-7 / 104, rel=1e-6)


def test_squared_errors_pool_every_month_and_ward_and_skip_what_was_not_published() -> None:
    truth = {"W1": {"m2": 100.0, "m3": 110.0}, "W2": {"m2": 90.0, "m3": 95.0}}
    got = {"W1": {"m2": Estimate(101.0, 1.0), "m3": Estimate(107.0, 1.0)}, "W2": {"m3": Estimate(95.0, 1.0)}}
    errors = squared_errors(got, truth)
    assert errors == {"m2 W1": 1.0, "m3 W1": 9.0, "m3 W2": 0.0}
    assert squared_errors(got, truth, months={"m3"}) == {"m3 W1": 9.0, "m3 W2": 0.0}
    assert _rmse([errors, {"m2 W1": 4.0}]) == pytest.approx(math.sqrt(14.0 / 4))


def test_peer_series_gives_every_later_month_against_the_base() -> None:
    noise = {m: {n: {"n": LAPLACE, "s": LAPLACE} for n in INDEX_QUERIES} for m in ("2025-08", BASE, MONTH)}
    middle = _cells(500, 0.1, 100.0)
    cells = {"2025-08": _cells(500, 0.2, 100.0), BASE: middle, MONTH: _cells(500, 0.2, 100.0)}
    series = peer_series(cells, noise, "2025-08")
    assert set(series["W1"]) == {BASE, MONTH}
    assert series["W1"][BASE].value == pytest.approx(100.0 * (1 + 0.85 * 0.125))
    assert series["W1"][MONTH].value == pytest.approx(100.0)
    del middle["food_poverty"]["W1"]  # an input missing in one month drops that month only
    assert set(peer_series(cells, noise, "2025-08")["W1"]) == {MONTH}


def test_the_nodes_series_and_the_peers_rows_over_several_months(tmp_path: Path) -> None:
    engine = _engine(tmp_path, 0.02, 3)
    months = months_ending(MONTH, 3)
    exact = ward_series(engine, 0.5, months, exact=True)
    assert all(set(s) == set(months[1:]) for s in exact.values()) and exact
    frame = peer_frame(engine, peer_spec(months), months)
    assert sorted(frame["snapshot_month"].unique()) == list(months)
