"""A node holds each month once, in compact types, with exactly the same values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from node.compact import PENNIES, compact, exact_values
from node.executor import PandasExecutor
from node.query import FilterClause, LossRequest, ValidatedQuery
from node.schema import queryable_columns
from privacy.mechanisms import Mechanism


@given(st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=1, max_size=30))
def test_compacting_keeps_every_whole_number_and_missing_value(values: list[int | None]) -> None:
    column = pd.Series(values, dtype="Int64")
    assert compact(pd.DataFrame({"x": column}))["x"].astype("Int64").equals(column)


def test_small_ranges_shrink_to_one_byte_and_repeated_text_becomes_a_category() -> None:
    frame = pd.DataFrame({"age": [16, 110, 40, 40, 40, 40, 40, 40], "sector": ["CT9 1"] * 8, "money": [1.5] * 8})
    out = compact(frame)
    assert out["age"].dtype == "int8"
    assert isinstance(out["sector"].dtype, pd.CategoricalDtype)
    assert out["money"].dtype == "float64"  # money is never narrowed: rounding must not move
    assert (out.astype({"sector": str}) == frame).all().all()


PENNY_AMOUNTS = st.lists(st.one_of(st.none(), st.integers(-(10**9), 10**9).map(lambda p: p / 100)), min_size=1)


def exact(frame: pd.DataFrame, name: str) -> np.ndarray:
    return exact_values(frame, name).to_numpy(dtype=np.float64)


@given(PENNY_AMOUNTS)
def test_money_in_whole_pennies_reads_back_as_the_very_same_float(values: list[float | None]) -> None:
    original = pd.DataFrame({"earnings_weekly": pd.Series(values, dtype="float64")})
    held = compact(original)
    assert np.array_equal(exact(held, "earnings_weekly"), original["earnings_weekly"].to_numpy(), equal_nan=True)


@given(st.lists(st.one_of(st.none(), st.floats(-1e12, 1e12, allow_nan=False)), min_size=1))
def test_money_not_in_whole_pennies_keeps_every_value(values: list[float | None]) -> None:
    original = pd.DataFrame({"weekly_income": pd.Series(values, dtype="float64")})
    held = compact(original)
    assert np.array_equal(exact(held, "weekly_income"), original["weekly_income"].to_numpy(), equal_nan=True)


def test_whole_penny_money_is_held_in_sixteen_bits_when_its_range_allows() -> None:
    frame = pd.DataFrame({"hb_award_weekly": np.arange(10_000, 12_000) / 100})
    held = compact(frame)
    assert held["hb_award_weekly"].dtype == "int16"
    assert held.attrs[PENNIES] == ["hb_award_weekly"]


def test_money_with_few_distinct_amounts_is_held_as_one_byte_codes() -> None:
    # A modelled bill: a handful of amounts, none a whole number of pennies.
    frame = pd.DataFrame({"water_bill_annual": np.tile([401.123, 512.9876, 640.0001, np.nan], 50)})
    held = compact(frame)
    assert held["water_bill_annual"].memory_usage(index=False, deep=True) < 2 * len(frame)
    assert np.array_equal(exact(held, "water_bill_annual"), frame["water_bill_annual"].to_numpy(), equal_nan=True)


@given(
    st.lists(st.tuples(st.sampled_from(["W1", "W2"]), st.integers(-50_000, 500_000), st.booleans()), min_size=1),
    st.tuples(st.integers(-100, 0), st.integers(1, 3000)),
    st.integers(-100, 3000),
)
def test_exact_aggregation_over_compact_frames_equals_the_original(
    rows: list[tuple[str, int, bool]], bounds: tuple[int, int], threshold: int
) -> None:
    ward, pennies, flag = zip(*rows, strict=True)
    original = pd.DataFrame(
        {
            "ward_code": pd.Categorical(ward, categories=["W1", "W2"]),
            "earnings_weekly": np.array(pennies) / 100,  # amounts ending .50 round half to even either way
            "on_uc": np.array(flag),
        }
    )
    loss = LossRequest(epsilon=None, rho=0.1, accuracy=None, mechanism=Mechanism.DISCRETE_GAUSSIAN)
    q = ValidatedQuery(
        "q",
        "sum",
        "earnings_weekly",
        bounds[0],
        bounds[1],
        (FilterClause("earnings_weekly", "gt", threshold / 7),),
        ("ward_code", "on_uc"),
        ("2025-10",),
        loss,
        "",
        "",  # type: ignore[arg-type]
    )
    columns = queryable_columns()
    held = PandasExecutor({"2025-10": compact(original)}).aggregate(q, columns, ["W1", "W2"])
    assert held == PandasExecutor({"2025-10": original}).aggregate(q, columns, ["W1", "W2"])
