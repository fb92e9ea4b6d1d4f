"""The canonical question: filters normalised on the schema's domains select exactly the rows the query asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.canonical import NEVER, PlannedNoise, canonical_question, normalise_filters
from node.executor import filter_mask
from node.query import FilterClause, validate
from node.schema import TENURES, queryable_columns
from protos.lsi.v1 import query_pb2

COLUMNS = queryable_columns()
F = FilterClause


def normal(*clauses: FilterClause) -> tuple[FilterClause, ...]:
    return normalise_filters(clauses, COLUMNS)


def test_a_comparison_covering_a_required_whole_number_column_is_dropped() -> None:
    assert normal(F("claimant_age", "ge", -1.0)) == ()


def test_a_comparison_on_a_column_that_can_be_missing_is_kept_because_it_drops_missing_rows() -> None:
    assert normal(F("partner_age", "ge", -1.0)) == (F("partner_age", "ge", -1.0),)


def test_strict_comparisons_on_whole_numbers_become_closed_ones() -> None:
    assert normal(F("claimant_age", "gt", 64.5)) == normal(F("claimant_age", "ge", 65.0))
    assert normal(F("claimant_age", "gt", 64.0)) == normal(F("claimant_age", "ge", 65.0))
    assert normal(F("claimant_age", "lt", 65.0)) == normal(F("claimant_age", "le", 64.2))


def test_repeated_and_reordered_filters_are_one_question() -> None:
    a = normal(F("claimant_age", "ge", 65.0), F("on_uc", "eq", True), F("claimant_age", "ge", 60.0))
    b = normal(F("on_uc", "eq", True), F("claimant_age", "ge", 65.0))
    assert a == b


def test_not_true_is_false_for_a_flag_that_cannot_be_missing() -> None:
    assert normal(F("on_uc", "ne", True)) == normal(F("on_uc", "eq", False))


def test_category_equality_and_exclusion_become_one_sorted_in_set() -> None:
    others = tuple(t for t in TENURES if t != "council")
    assert normal(F("tenure", "ne", "council")) == normal(F("tenure", "in", tuple(reversed(others))))
    assert normal(F("tenure", "eq", "temporary")) == normal(F("tenure", "in", ("temporary",)))


def test_an_in_set_naming_every_category_is_dropped() -> None:
    assert normal(F("tenure", "in", TENURES)) == ()


def test_a_whole_number_equal_to_a_fraction_is_a_contradiction() -> None:
    assert normal(F("claimant_age", "eq", 40.5), F("on_uc", "eq", True)) == (NEVER,)


def test_the_canonical_question_leaves_out_indicator_and_purpose_but_keeps_the_noise() -> None:
    def vq(indicator: str, purpose: str) -> str:
        q = query_pb2.Query(
            query_id="q",
            measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
            privacy=query_pb2.PrivacyRequest(epsilon=1.0),
            indicator=indicator,
            purpose=purpose,
        )
        v = validate(q, columns=COLUMNS, months=["2025-10"])
        return canonical_question(v, COLUMNS, [PlannedNoise("discrete_laplace", 1.0)])

    assert vq("households", "a") == vq("anything else", "b")
    v = validate(
        query_pb2.Query(
            query_id="q",
            measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT),
            privacy=query_pb2.PrivacyRequest(epsilon=1.0),
        ),
        columns=COLUMNS,
        months=["2025-10"],
    )
    assert canonical_question(v, COLUMNS, [PlannedNoise("discrete_laplace", 1.0)]) != canonical_question(
        v, COLUMNS, [PlannedNoise("discrete_laplace", 2.0)]
    )


# ---- the property: same rows for every dataset the schema allows -------------------------------------------


def frames() -> st.SearchStrategy[pd.DataFrame]:
    row = st.fixed_dictionaries(
        {
            "claimant_age": st.integers(16, 110),
            "partner_age": st.one_of(st.none(), st.integers(16, 110)),
            "earnings_weekly": st.sampled_from([0.0, 0.5, 99.5, 100.0, 250.25, 5000.0]),
            "eligible_rent_weekly": st.one_of(st.none(), st.sampled_from([0.0, 100.0, 180.5])),
            "on_uc": st.booleans(),
            "tenure": st.sampled_from(TENURES),
        }
    )

    def build(rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "claimant_age": pd.Series([r["claimant_age"] for r in rows], dtype="int64"),
                "partner_age": pd.Series(pd.array([r["partner_age"] for r in rows], dtype="Int64")),
                "earnings_weekly": pd.Series([r["earnings_weekly"] for r in rows], dtype="float64"),
                "eligible_rent_weekly": pd.Series(
                    [np.nan if r["eligible_rent_weekly"] is None else r["eligible_rent_weekly"] for r in rows],
                    dtype="float64",
                ),
                "on_uc": pd.Series([r["on_uc"] for r in rows], dtype=bool),
                "tenure": pd.Categorical([r["tenure"] for r in rows], categories=TENURES),
            }
        )

    return st.lists(row, min_size=1, max_size=30).map(build)


NUMBERS = st.sampled_from([-1.0, 0.0, 0.5, 15.5, 16.0, 40.0, 40.5, 99.5, 100.0, 110.0, 110.5, 180.5, 5000.0, 6000.0])
ORDERED = st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"])


def clauses() -> st.SearchStrategy[FilterClause]:
    numeric = st.builds(
        FilterClause,
        st.sampled_from(["claimant_age", "partner_age", "earnings_weekly", "eligible_rent_weekly"]),
        ORDERED,
        NUMBERS,
    )
    flag = st.builds(FilterClause, st.just("on_uc"), st.sampled_from(["eq", "ne"]), st.booleans())
    category = st.one_of(
        st.builds(FilterClause, st.just("tenure"), st.sampled_from(["eq", "ne"]), st.sampled_from(TENURES)),
        st.builds(
            FilterClause,
            st.just("tenure"),
            st.just("in"),
            st.lists(st.sampled_from(TENURES), min_size=1, unique=True).map(tuple),
        ),
    )
    return st.one_of(numeric, flag, category)


def selected(frame: pd.DataFrame, filters: tuple[FilterClause, ...]) -> list[bool]:
    if NEVER in filters:
        return [False] * len(frame)
    return filter_mask(frame, filters).tolist()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), filters=st.lists(clauses(), max_size=5))
def test_normalised_filters_select_exactly_the_rows_the_query_asked_for(
    frame: pd.DataFrame, filters: list[FilterClause]
) -> None:
    assert selected(frame, normal(*filters)) == selected(frame, tuple(filters))


@settings(max_examples=200, deadline=None)
@given(filters=st.lists(clauses(), max_size=5), data=st.data())
def test_normalising_ignores_order_and_is_idempotent(filters: list[FilterClause], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(filters))
    once = normal(*filters)
    assert normal(*shuffled) == once
    if NEVER not in once:
        assert normal(*once) == once


@pytest.mark.parametrize("lower", [0.0, 0.4])
def test_bounds_that_round_to_the_same_clamp_are_the_same_question(lower: float) -> None:
    q = query_pb2.Query(
        query_id="q",
        measure=query_pb2.Measure(kind=query_pb2.Measure.SUM, column="earnings_weekly", lower=lower, upper=399.2),
        privacy=query_pb2.PrivacyRequest(epsilon=1.0),
    )
    v = validate(q, columns=COLUMNS, months=["2025-10"])
    assert (v.lower, v.upper) == (0, 400)
