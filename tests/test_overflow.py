"""No exact aggregate can leave the exact integer range: bounds and snapshot sizes are limited so it cannot wrap."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.engine import MAX_NOISE_SCALE, check_noise, check_snapshot_size
from node.executor import exact_aggregate
from node.query import EXACT_LIMIT, MAX_CLAMP_ABS, MAX_MONTHS, MAX_ROWS_PER_SNAPSHOT, QueryError, validate
from node.schema import queryable_columns
from privacy.accountant import plan_release
from privacy.mechanisms import Mechanism
from privacy.sensitivity import sensitivity
from protos.lsi.v1 import query_pb2

COLUMNS = queryable_columns()
MONTH = "2025-10"


def sum_query(lower: float, upper: float) -> query_pb2.Query:
    return query_pb2.Query(
        query_id="q",
        months=[MONTH],
        privacy=query_pb2.PrivacyRequest(epsilon=0.25),
        measure=query_pb2.Measure(kind=query_pb2.Measure.SUM, column="earnings_weekly", lower=lower, upper=upper),
    )


def test_a_sum_clamped_near_the_int64_limit_over_n_households_is_refused_naming_the_bound() -> None:
    # The attack: every household clamped to 2^63 / N, so the exact sum wraps exactly when N households match.
    with pytest.raises(QueryError) as err:
        validate(sum_query(2**63 / 5003 - 1, 2**63 / 5003), columns=COLUMNS, months=[MONTH])
    assert err.value.field == "measure.lower" and f"{MAX_CLAMP_ABS:,}" in str(err.value)


def test_an_upper_bound_beyond_the_limit_is_refused_naming_the_upper_bound() -> None:
    with pytest.raises(QueryError) as err:
        validate(sum_query(0, 2**63 / 5003), columns=COLUMNS, months=[MONTH])
    assert err.value.field == "measure.upper" and f"{MAX_CLAMP_ABS:,}" in str(err.value)


def test_a_lower_bound_beyond_the_limit_is_refused_naming_the_lower_bound() -> None:
    with pytest.raises(QueryError) as err:
        validate(sum_query(-(2**62), 0), columns=COLUMNS, months=[MONTH])
    assert err.value.field == "measure.lower" and f"{MAX_CLAMP_ABS:,}" in str(err.value)


def test_bounds_at_the_limit_are_accepted() -> None:
    vq = validate(sum_query(-MAX_CLAMP_ABS, MAX_CLAMP_ABS), columns=COLUMNS, months=[MONTH])
    assert (vq.lower, vq.upper) == (-MAX_CLAMP_ABS, MAX_CLAMP_ABS)


def test_a_snapshot_larger_than_the_limit_is_not_served() -> None:
    check_snapshot_size(MONTH, MAX_ROWS_PER_SNAPSHOT)
    with pytest.raises(ValueError, match=f"at most {MAX_ROWS_PER_SNAPSHOT:,}"):
        check_snapshot_size(MONTH, MAX_ROWS_PER_SNAPSHOT + 1)


BOUNDS = st.floats(min_value=-4.0 * MAX_CLAMP_ABS, max_value=4.0 * MAX_CLAMP_ABS, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(lower=BOUNDS, upper=BOUNDS, rows=st.integers(1, 40), months=st.integers(1, MAX_MONTHS))
def test_no_accepted_bound_lets_an_exact_aggregate_leave_the_int64_range(
    lower: float, upper: float, rows: int, months: int
) -> None:
    try:
        vq = validate(sum_query(lower, upper), columns=COLUMNS, months=[MONTH])
    except QueryError:
        return
    c = max(abs(vq.lower), abs(vq.upper))
    # The worst any cell can reach at any size the node serves, in exact (Python) arithmetic.
    assert c * MAX_ROWS_PER_SNAPSHOT * months < EXACT_LIMIT
    # And the executor's 64-bit sum agrees with exact arithmetic for households at the extreme of the clamp.
    extreme = float(vq.upper if abs(vq.upper) >= abs(vq.lower) else vq.lower)
    frame = pd.DataFrame({"earnings_weekly": [extreme] * rows})
    agg = exact_aggregate({MONTH: frame}, vq, COLUMNS, [])
    assert agg.sums == (rows * int(extreme),)


def test_a_loss_so_small_its_noise_could_leave_64_bits_is_refused_naming_privacy() -> None:
    sens = sensitivity(
        "sum",
        -MAX_CLAMP_ABS,
        MAX_CLAMP_ABS,
        contributions=MAX_MONTHS,
        cells_per_contribution=2,
        months_in_separate_cells=True,
    )
    plan = plan_release(
        Mechanism.DISCRETE_LAPLACE, sens, epsilon=1e-12, rho=None, accuracy=None, alpha=0.05, delta=1e-7
    )
    assert plan.scale > MAX_NOISE_SCALE
    with pytest.raises(QueryError) as err:
        check_noise([plan])
    assert err.value.field == "privacy"
