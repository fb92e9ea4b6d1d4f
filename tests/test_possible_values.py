"""Specifications for possible values between figures, and for the analyst's purpose reaching every query."""

from __future__ import annotations

import pytest

from analysis.campaigns import possible_campaign_figures
from analysis.federated import NotStoredError, stored_only, with_purpose
from analysis.unclaimed import UnclaimedArea, possible
from common.estimates import Estimate
from protos.lsi.v1 import coordinator_pb2, query_pb2


def area(pc_h: Estimate | None, pc_v: Estimate | None, fsm_h: Estimate | None, fsm_c: Estimate | None):
    return UnclaimedArea("district", "D", "D", pc_h, pc_v, fsm_h, fsm_c)


def test_children_missing_free_school_meals_are_at_least_the_households_they_live_in() -> None:
    shown = possible(area(None, None, Estimate(40, 4), Estimate(31, 9)))
    assert shown.fsm_children == Estimate(40, 9)


def test_a_pound_figure_is_withheld_when_its_household_count_is() -> None:
    assert possible(area(None, Estimate(120_000, 1e6), None, None)).pc_value is None


def count_result(value: float, ci: tuple[float, float], code: str = "D") -> coordinator_pb2.FederatedResult:
    cell = query_pb2.Cell(
        level=query_pb2.Cell.DISTRICT,
        district_code=code,
        keys=[query_pb2.GroupKey(column="month", value="2025-10")],
        value=value,
        ci_low=ci[0],
        ci_high=ci[1],
    )
    query = query_pb2.Query(measure=query_pb2.Measure(kind=query_pb2.Measure.COUNT))
    return coordinator_pb2.FederatedResult(query=query, cells=[cell])


def test_campaign_figures_are_bounded_contacted_by_targeted_and_claimed_by_contacted() -> None:
    shown = possible_campaign_figures(
        {
            "campaign_households": count_result(50, (48, 52)),
            "campaign_contacted": count_result(53, (51, 55)),
            "campaign_claimed": count_result(60, (58, 62)),
        }
    )
    (targeted,) = shown["campaign_households"].cells
    (contacted,) = shown["campaign_contacted"].cells
    (claimed,) = shown["campaign_claimed"].cells
    assert contacted.value == 50 <= targeted.value and contacted.raw_value == 53
    assert claimed.value <= contacted.value and claimed.raw_value == 60


def test_a_negative_campaign_count_is_shown_as_zero() -> None:
    shown = possible_campaign_figures({"campaign_claimed": count_result(-3, (-5, -1))})
    (cell,) = shown["campaign_claimed"].cells
    assert (cell.value, cell.ci_low, cell.ci_high, cell.raw_value) == (0, 0, 0, -3)


def test_the_analysts_purpose_is_recorded_on_every_query() -> None:
    asked: list[str] = []

    def submit(fq: coordinator_pb2.FederatedQuery) -> coordinator_pb2.FederatedResult:
        asked.append(fq.query.purpose)
        return coordinator_pb2.FederatedResult()

    with_purpose(submit, "Cabinet paper, March")(
        coordinator_pb2.FederatedQuery(query=query_pb2.Query(purpose="default"))
    )
    assert asked == ["Cabinet paper, March"]


def test_reading_only_never_submits_and_names_what_was_never_asked() -> None:
    read = stored_only(lambda query_id: None)
    with pytest.raises(NotStoredError, match="lsi-x"):
        read(coordinator_pb2.FederatedQuery(query=query_pb2.Query(query_id="lsi-x", indicator="households")))


def test_every_printed_result_table_shows_a_count_below_zero_as_zero() -> None:
    from cli.render import result_table

    text = result_table(count_result(-7, (-19, 5), code="E07000105"))
    assert "-7" not in text and "-19" not in text
    assert "0 to 5" in text
