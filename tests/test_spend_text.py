"""Specifications for writing a spend: one rule (rho, then epsilon at its delta) in refusals and every table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.render import budget_table, epsilon_text
from node.engine import budget_message
from privacy.accountant import rho_to_epsilon
from privacy.audit import AuditSigner
from privacy.ledger import BudgetExceeded, PrivacyStore, ReleaseRequest
from privacy.policy import Policy, diff_policy
from privacy.spend_text import spend_text
from protos.lsi.v1 import query_pb2
from tests.draws import costing

TODAY = dt.datetime.now(dt.UTC).date()
POLICY = Policy(
    "E07000110",
    (TODAY - dt.timedelta(days=10)).isoformat(),
    (TODAY + dt.timedelta(days=10)).isoformat(),
    0.6,
    0.6,
    1e-7,
    10,
)


def ask(qid: str, rho: float) -> ReleaseRequest:
    return ReleaseRequest(qid, f"fp-{qid}", "snap", "alice", "analyst", "poverty", json.dumps({"q": qid}), costing(rho))


def refused_after_spending(tmp_path) -> tuple[PrivacyStore, BudgetExceeded]:
    store = PrivacyStore(tmp_path / "n.db", POLICY, AuditSigner.generate())
    store.charge_and_release(ask("q1", 0.5), lambda _: b"x")
    with pytest.raises(BudgetExceeded) as err:
        store.charge_and_release(ask("q2", 0.5), lambda _: b"y")
    return store, err.value


def test_what_a_refusal_says_remains_is_written_exactly_as_the_budget_table_writes_it(tmp_path) -> None:
    store, refusal = refused_after_spending(tmp_path)
    status = budget_message(store.spent(), "E07000110", "Maidstone", POLICY.per_query_rho)
    d = refusal.detail
    remains = spend_text(d.remaining_rho, d.remaining_epsilon, d.delta)
    assert f"only {remains} remains" in str(refusal)
    row = next(line for line in budget_table([status]).splitlines() if line.startswith("Maidstone"))
    assert remains in row


def test_the_budget_table_writes_spent_and_total_with_the_delta(tmp_path) -> None:
    store, _ = refused_after_spending(tmp_path)
    s = budget_message(store.spent(), "E07000110", "Maidstone", POLICY.per_query_rho)
    drawn = budget_table([s])
    assert spend_text(s.spent_rho, s.spent_epsilon, 1e-7) in drawn
    assert spend_text(0.6, rho_to_epsilon(0.6, 1e-7), 1e-7) in drawn


def test_a_charge_reads_as_the_policy_change_reads_the_same_rho() -> None:
    rho = 0.25
    charge = query_pb2.Charge(rho=rho, epsilon=rho_to_epsilon(rho, 1e-7), delta=1e-7)
    changed = diff_policy(POLICY, dataclasses.replace(POLICY, per_query_rho=rho))
    assert any(epsilon_text(charge) in line for line in changed)


@given(st.floats(0, 100), st.floats(0, 1000), st.sampled_from([0.0, 1e-7, 1e-6]))
def test_a_spend_names_rho_first_then_epsilon_at_its_delta(rho: float, eps: float, delta: float) -> None:
    text = spend_text(rho, eps, delta)
    assert text.startswith(f"rho {rho:.4g} (eps {eps:.4g} at delta {delta:g})")


def test_a_rounding_error_below_zero_is_written_as_nothing_spent() -> None:
    assert spend_text(-1e-18, -1e-15, 1e-7) == "rho 0 (eps 0 at delta 1e-07)"
