"""A node holds each month once, in compact types, with exactly the same values."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from node.loader import compact


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
