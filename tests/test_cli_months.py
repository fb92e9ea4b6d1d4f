"""Analysts name one month or a range; a range of k months costs k contributions per household at each node."""

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.query_cmd import month_range


def test_a_single_month_is_itself() -> None:
    assert month_range("2025-10") == ["2025-10"]


def test_a_range_crosses_the_year_end() -> None:
    assert month_range("2024-11..2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]


def test_a_backwards_range_is_refused() -> None:
    with pytest.raises(click.BadParameter, match="ends before it starts"):
        month_range("2025-03..2025-01")


@given(st.integers(2000, 2040), st.integers(1, 12), st.integers(0, 40))
def test_a_range_holds_every_month_once_in_order(year: int, month: int, length: int) -> None:
    start = f"{year:04d}-{month:02d}"
    total = year * 12 + month - 1 + length
    end = f"{total // 12:04d}-{total % 12 + 1:02d}"
    months = month_range(f"{start}..{end}")
    assert len(months) == length + 1 and months == sorted(set(months))
    assert months[0] == start and months[-1] == end
