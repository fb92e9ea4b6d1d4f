"""The indicator catalogue: names other code relies on, and filters that the schema can answer."""

from __future__ import annotations

import pytest

from analysis.indicators import CATALOGUE, indicator
from node.campaigns import CAMPAIGN_COLUMNS
from node.schema import queryable_columns

REQUIRED = {
    "households", "cts_caseload", "cts_spend", "hb_caseload", "uc_households", "households_in_crisis",
    "households_at_risk", "households_struggling", "households_coping", "cash_shortfall", "fuel_poverty",
    "water_poverty", "food_poverty", "pc_unclaimed_households", "pc_unclaimed_value",
    "fsm_unclaimed_households", "fsm_unclaimed_children", "uc_without_cts", "mean_monthly_surplus",
}  # fmt: skip
INDICATORS = list(CATALOGUE.values())


def columns_for(ind):
    return CAMPAIGN_COLUMNS if ind.dataset == "campaign" else queryable_columns()


def test_catalogue_has_every_required_indicator():
    assert REQUIRED.issubset(CATALOGUE)


@pytest.mark.parametrize("ind", INDICATORS, ids=lambda i: i.name)
def test_every_filter_names_a_queryable_column_with_a_valid_value(ind):
    cols = columns_for(ind)
    for f in ind.filters:
        assert f.column in cols, f"{ind.name}: {f.column}"
        col = cols[f.column]
        if col.kind == "bool":
            assert isinstance(f.value, bool) and f.op in ("eq", "ne")
        if col.kind == "category" and col.categories:
            values = f.value if isinstance(f.value, tuple) else (f.value,)
            assert set(values) <= set(col.categories)


@pytest.mark.parametrize("ind", [i for i in INDICATORS if i.measure != "count"], ids=lambda i: i.name)
def test_sums_and_means_have_a_numeric_column_and_bounds(ind):
    col = columns_for(ind)[ind.column]
    assert col.kind in ("int", "float")
    assert ind.lower < ind.upper


def test_published_bounds_are_part_of_the_definition():
    assert (indicator("cts_spend").lower, indicator("cts_spend").upper) == (0, 4000)
    assert (indicator("pc_unclaimed_value").lower, indicator("pc_unclaimed_value").upper) == (0, 12000)
    assert (indicator("fsm_unclaimed_children").lower, indicator("fsm_unclaimed_children").upper) == (0, 6)
    assert (indicator("mean_monthly_surplus").lower, indicator("mean_monthly_surplus").upper) == (-1500, 1500)


def test_households_counts_every_record():
    assert indicator("households").filters == () and indicator("households").measure == "count"


def test_surplus_is_better_when_higher():
    assert not indicator("mean_monthly_surplus").higher_is_worse
    assert indicator("households_in_crisis").higher_is_worse


def test_unknown_indicator_lists_the_known_names():
    with pytest.raises(KeyError, match="known indicators: households, cts_caseload"):
        indicator("pension_gap")
