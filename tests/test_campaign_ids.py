"""Specifications for the ids campaign results are stored under: found by name, in the order they were asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from analysis.campaigns import batch_of, campaign_queries, new_batch
from common.limits import MAX_QUERY_ID

SECOND = datetime(2026, 12, 2, 8, 54, 33, tzinfo=UTC)


@given(st.integers(min_value=1, max_value=999_999))
def test_two_askings_in_the_same_second_sort_in_the_order_they_were_asked(microseconds: int) -> None:
    assert new_batch(SECOND + timedelta(microseconds=microseconds)) > new_batch(SECOND)


def test_the_longest_campaign_name_still_makes_ids_within_the_query_id_limit() -> None:
    name = "a" * 64  # the longest name a node accepts
    queries = campaign_queries(name, epsilon=1.0, batch=new_batch())
    assert all(len(q.query_id) <= MAX_QUERY_ID for q in queries)
    assert {batch_of(q.query_id) for q in queries} == {(name, batch_of(queries[0].query_id)[1])}
