"""A node taken down mid-round through the coordinator (real mutual-TLS links, not the protocol-level fake): the
county total still comes from at least t contributors, coverage says who is missing, every ledger is charged once,
and a retry is answered from the store."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from analysis.queries import build_query
from protos.lsi.v1 import coordinator_pb2, query_pb2
from protos.serde import measure_to_wire
from reference.geography import districts
from tests.county import RunningCounty, running_county

CODES = [d.code for d in districts()[:4]]
VICTIM = CODES[1]
DROPOUTS = 1  # t = 4 - 1 = 3
# The caller's deadline, shared by the three steps: a node gone mid-step is waited for only its step's share.
DEADLINE_SECONDS = 10.0


@dataclass(frozen=True)
class Round:
    step: str
    result: coordinator_pb2.FederatedResult
    again: coordinator_pb2.FederatedResult
    before: dict[str, float]
    after: dict[str, float]
    after_retry: dict[str, float]


def _spent(county: RunningCounty) -> dict[str, float]:
    return {code: e.store.spent().spent_rho for code, e in county.engines.items()}


def _take_down_before(county: RunningCounty, step: str) -> None:
    """Stop the victim's node server the moment the coordinator starts `step` (after the earlier steps)."""
    real = county.pool.call  # type: ignore[attr-defined]

    def call(codes, method, request, deadline, **kw):  # noqa: ANN001, ANN202, ANN003
        if method == step and VICTIM in county.node_servers:
            county.stop_node(VICTIM)
        return real(codes, method, request, deadline, **kw)

    county.pool.call = call  # type: ignore[attr-defined]


def _round(step: str, root) -> Round:  # noqa: ANN001
    settings = {"secure_dropouts": DROPOUTS}
    with running_county(root, codes=CODES, months=1, coordinator_settings=settings) as c:
        query = build_query(measure_to_wire("count"), months=["2025-10"], rho=0.01, purpose="dropout test")
        asked = coordinator_pb2.FederatedQuery(query=query, secure=True, deadline_seconds=DEADLINE_SECONDS)
        before = _spent(c)
        _take_down_before(c, step)
        result = c.coordinator_stub().Submit(asked, timeout=120)
        after = _spent(c)
        again = c.coordinator_stub().Submit(asked, timeout=120)
        return Round(step, result, again, before, after, _spent(c))


@pytest.fixture(scope="module")
def lost_before_share(tmp_path_factory) -> Round:
    return _round("SecureShare", tmp_path_factory.mktemp("share"))


@pytest.fixture(scope="module")
def lost_before_sum(tmp_path_factory) -> Round:
    return _round("SecureSum", tmp_path_factory.mktemp("sum"))


@pytest.fixture(params=["lost_before_share", "lost_before_sum"])
def dropped(request) -> Round:
    return request.getfixturevalue(request.param)


def test_a_county_total_is_still_produced_from_at_least_t_contributors(dropped: Round) -> None:
    contributors = [d.district_code for d in dropped.result.districts if d.answered]
    assert len(contributors) >= len(CODES) - DROPOUTS
    (cell,) = dropped.result.cells
    assert cell.level == query_pb2.Cell.COUNTY and cell.variance > 0


def test_a_district_lost_before_sharing_is_named_missing_and_its_ledger_is_untouched(lost_before_share: Round) -> None:
    dropped = lost_before_share
    (month,) = dropped.result.coverage.months
    assert [m.district_code for m in month.missing] == [VICTIM]
    assert VICTIM not in month.contributing and not dropped.result.complete
    assert dropped.after[VICTIM] == dropped.before[VICTIM]


def test_a_district_lost_after_sharing_still_counts_as_a_contributor(lost_before_sum: Round) -> None:
    (month,) = lost_before_sum.result.coverage.months
    # Its noisy vector is in the total (its shares reached the others), so the figure covers it.
    assert VICTIM in month.contributing and not month.missing


def test_every_contributor_is_charged_exactly_once(dropped: Round) -> None:
    for d in dropped.result.districts:
        if d.answered:
            assert d.charge.rho > 0
            assert dropped.after[d.district_code] - dropped.before[d.district_code] == pytest.approx(d.charge.rho)


def test_each_contributor_reports_its_budget_left_after_the_charge(dropped: Round) -> None:
    for d in dropped.result.districts:
        if d.answered:
            assert d.budget.total_rho > 0
            assert d.budget.spent_rho == pytest.approx(dropped.after[d.district_code])
            assert d.budget.remaining_rho == pytest.approx(d.budget.total_rho - d.budget.spent_rho)


def test_a_retry_is_answered_from_the_store_at_no_charge(dropped: Round) -> None:
    assert [c.value for c in dropped.again.cells] == [c.value for c in dropped.result.cells]
    assert dropped.after_retry == dropped.after
    assert all(d.replayed for d in dropped.again.districts if d.answered)
