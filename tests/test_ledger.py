"""Ledger: exact, durable budget accounting with replay, refusals and crash safety."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.audit import AuditSigner, verify_chain
from privacy.draw import charge_of
from privacy.ledger import (
    RHO_UNITS,
    BudgetExceeded,
    LedgerError,
    MechanismNotAllowed,
    PeriodClosed,
    PolicyConflict,
    PrivacyStore,
    QueryIdReused,
    ReleaseRequest,
    charge_units,
    limit_units,
)
from privacy.policy import Policy
from tests.draws import costing

REPO = Path(__file__).resolve().parents[1]
TODAY = dt.datetime.now(dt.UTC).date()


def make_policy(total: float = 1.0, per_query: float = 0.5, **changes) -> Policy:
    base = Policy(
        "E07000110",
        (TODAY - dt.timedelta(days=100)).isoformat(),
        (TODAY + dt.timedelta(days=100)).isoformat(),
        total,
        per_query,
        1e-7,
        10,
    )
    return dataclasses.replace(base, **changes)


def request(
    qid: str,
    rho: float = 0.1,
    *,
    fingerprint: str | None = None,
    digest: str = "snap-1",
    analyst: str = "alice",
    purpose: str = "poverty",
    mechanism: str = "discrete_gaussian",
) -> ReleaseRequest:
    return ReleaseRequest(
        qid,
        fingerprint or f"fp-{qid}",
        digest,
        analyst,
        "analyst",
        purpose,
        json.dumps({"q": qid}),
        costing(rho, mechanism),
    )


@pytest.fixture
def store(tmp_path) -> PrivacyStore:
    return PrivacyStore(tmp_path / "node.db", make_policy(), AuditSigner.generate())


def actions(store: PrivacyStore) -> list[str]:
    conn = sqlite3.connect(store.path)
    try:
        return [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY seq")]
    finally:
        conn.close()


def test_a_release_is_charged_and_returned(store):
    out = store.charge_and_release(request("q1", 0.1), lambda _: b"noisy")
    assert (out.payload, out.replayed, out.charge.rho) == (b"noisy", False, pytest.approx(0.1, rel=1e-12))
    assert store.spent().spent_rho == pytest.approx(0.1)


def test_a_retried_query_id_is_answered_from_the_store_at_no_cost(store):
    store.charge_and_release(request("q1", 0.1), lambda _: b"first")
    calls = []
    again = store.charge_and_release(request("q1", 0.1), lambda _: calls.append(1) or b"second")
    assert (again.payload, again.replayed, calls) == (b"first", True, [])
    assert store.spent().releases == 1 and store.spent().spent_rho == pytest.approx(0.1)
    assert store.replay("q1", "fp-q1").payload == b"first"


def test_an_identical_query_on_the_same_snapshot_costs_nothing(store):
    store.charge_and_release(request("q1", 0.1, fingerprint="same"), lambda _: b"first")
    twin = store.charge_and_release(request("q2", 0.1, fingerprint="same"), lambda _: b"second")
    assert (twin.payload, twin.replayed) == (b"first", True)
    assert store.spent().releases == 1
    assert actions(store)[-1] == "replay"


def test_the_same_query_on_a_new_snapshot_is_charged(store):
    store.charge_and_release(request("q1", 0.1, fingerprint="same", digest="snap-1"), lambda _: b"first")
    fresh = store.charge_and_release(request("q2", 0.1, fingerprint="same", digest="snap-2"), lambda _: b"second")
    assert not fresh.replayed and store.spent().releases == 2


def test_a_reused_query_id_with_a_different_query_is_refused_and_audited(store):
    store.charge_and_release(request("q1", 0.1), lambda _: b"first")
    with pytest.raises(QueryIdReused, match="q1"):
        store.charge_and_release(request("q1", 0.1, fingerprint="other"), lambda _: b"second")
    with pytest.raises(QueryIdReused):
        store.replay("q1", "other")
    assert actions(store)[-1] == "refused" and store.spent().releases == 1


def test_a_retried_id_whose_release_was_deleted_is_refused_as_an_altered_ledger(store):
    store.charge_and_release(request("q1", 0.1), lambda _: b"first")
    conn = sqlite3.connect(store.path)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DELETE FROM releases WHERE query_id = 'q1'")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="release .* is not in the ledger"):
        store.charge_and_release(request("q1", 0.1), lambda _: b"second")
    assert store.spent().spent_rho == pytest.approx(0.1)


def test_a_failing_computation_charges_nothing(store):
    def boom(_drawn) -> bytes:
        raise RuntimeError("snapshot unreadable")

    with pytest.raises(RuntimeError):
        store.charge_and_release(request("q1", 0.1), boom)
    assert store.spent().spent_rho == 0 and actions(store) == ["policy_change"]
    assert verify_chain(store.path, store.signer.public_key).ok


def test_over_budget_error_gives_requested_and_remaining_in_rho_and_epsilon(tmp_path):
    s = PrivacyStore(tmp_path / "n.db", make_policy(total=0.6, per_query=0.6), AuditSigner.generate())
    s.charge_and_release(request("q1", 0.5), lambda _: b"x")
    with pytest.raises(BudgetExceeded) as err:
        s.charge_and_release(request("q2", 0.5), lambda _: b"y")
    d, text = err.value.detail, str(err.value)
    assert "period total" in text and "rho 0.5" in text and "rho 0.1 " in text
    assert f"eps {d.requested_epsilon:.4g}" in text and f"eps {d.remaining_epsilon:.4g}" in text
    assert d.requested_epsilon > d.remaining_epsilon > 0


def test_refusals_are_audited_and_charge_nothing(tmp_path):
    s = PrivacyStore(tmp_path / "n.db", make_policy(total=0.15, per_query=0.15), AuditSigner.generate())
    s.charge_and_release(request("q1", 0.1), lambda _: b"x")
    with pytest.raises(BudgetExceeded):
        s.charge_and_release(request("q2", 0.1), lambda _: b"y")
    assert actions(s) == ["policy_change", "release", "refused"]
    assert s.spent().releases == 1


def test_the_per_query_cap_is_named(store):
    with pytest.raises(BudgetExceeded, match="per-query cap"):
        store.charge_and_release(request("q1", 0.6), lambda _: b"x")


def test_an_analysts_cap_is_named_and_binds_only_them(tmp_path):
    s = PrivacyStore(tmp_path / "n.db", make_policy(analyst_caps={"bob": 0.15}), AuditSigner.generate())
    s.charge_and_release(request("q1", 0.1, analyst="bob"), lambda _: b"x")
    with pytest.raises(BudgetExceeded, match="cap for analyst 'bob'"):
        s.charge_and_release(request("q2", 0.1, analyst="bob"), lambda _: b"y")
    s.charge_and_release(request("q3", 0.1, analyst="alice"), lambda _: b"z")


def test_a_mechanism_the_policy_forbids_is_refused(tmp_path):
    s = PrivacyStore(tmp_path / "n.db", make_policy(allowed_mechanisms=("discrete_laplace",)), AuditSigner.generate())
    with pytest.raises(MechanismNotAllowed, match="discrete_gaussian"):
        s.charge_and_release(request("q1", 0.1), lambda _: b"x")


def test_queries_outside_the_privacy_period_are_refused(tmp_path):
    past = make_policy(period_start="2020-04-01", period_end="2021-03-31")
    s = PrivacyStore(tmp_path / "n.db", past, AuditSigner.generate())
    with pytest.raises(PeriodClosed, match="new period"):
        s.charge_and_release(request("q1", 0.1), lambda _: b"x")


def test_spent_breaks_down_by_analyst_and_purpose(store):
    store.charge_and_release(request("q1", 0.1, analyst="alice", purpose="a"), lambda _: b"x")
    store.charge_and_release(request("q2", 0.2, analyst="bob", purpose="a"), lambda _: b"x")
    summary = store.spent()
    assert summary.by_analyst == pytest.approx({"alice": 0.1, "bob": 0.2})
    assert summary.by_purpose == pytest.approx({"a": 0.3})
    assert summary.remaining_rho == pytest.approx(0.7)
    assert summary.remaining_epsilon == pytest.approx(summary.total_epsilon - summary.spent_epsilon)


def test_history_gives_each_days_spend_by_analyst_and_purpose_newest_rows_within_the_limit(store):
    store.charge_and_release(request("q1", 0.1, analyst="alice", purpose="a"), lambda _: b"x")
    store.charge_and_release(request("q2", 0.2, analyst="bob", purpose="a"), lambda _: b"x")
    store.charge_and_release(request("q3", 0.05, analyst="alice", purpose="a"), lambda _: b"x")
    today = TODAY.isoformat()
    rows = store.history(today, 10)
    assert [(d, who, why, n) for d, who, why, _, n in rows] == [(today, "alice", "a", 2), (today, "bob", "a", 1)]
    assert sum(r[3] for r in rows) == pytest.approx(store.spent().spent_rho)
    assert [r[1] for r in store.history(today, 1)] == ["bob"]  # the biggest spend of the newest day is kept
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    assert store.history(tomorrow, 10) == []


def test_a_policy_change_is_audited_with_its_diff(store):
    changes = store.set_policy(make_policy(total=2.0), changed_by="ig.officer")
    conn = sqlite3.connect(store.path)
    actor, detail = conn.execute("SELECT actor, detail FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    conn.close()
    assert actor == "ig.officer" and json.loads(detail) == changes and changes[0].startswith("total_rho")
    assert store.policy.total_rho == 2.0


def test_a_policy_file_changed_while_stopped_is_refused_at_start_not_applied(tmp_path):
    # Changed deliberately (issue 8 point 10): the ledger's policy is the one source of truth.
    signer = AuditSigner.generate()
    PrivacyStore(tmp_path / "n.db", make_policy(), signer)
    with pytest.raises(PolicyConflict, match="total_rho"):
        PrivacyStore(tmp_path / "n.db", make_policy(total=3.0), signer)
    assert PrivacyStore(tmp_path / "n.db", make_policy(), signer).policy.total_rho == make_policy().total_rho


def test_parallel_queries_admit_exactly_what_the_budget_allows(tmp_path):
    total, rho, threads = 0.5, 0.03, 32
    s = PrivacyStore(tmp_path / "n.db", make_policy(total=total, per_query=rho), AuditSigner.generate())
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            s.charge_and_release(request(f"q{i}", rho), lambda _: b"x")
            outcomes.append("admitted")
        except BudgetExceeded:
            outcomes.append("refused")

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    expected = limit_units(total) // charge_units(rho)
    assert outcomes.count("admitted") == expected == math.floor(Fraction("0.5") / Fraction("0.03")) == 16
    assert outcomes.count("refused") == threads - expected
    assert s.spent().releases == expected


@settings(max_examples=25, deadline=None)
@given(rhos=st.lists(st.floats(1e-4, 0.4), min_size=1, max_size=12), total=st.floats(0.05, 1.0))
def test_no_sequence_of_charges_spends_more_than_the_total(rhos, total):
    with tempfile.TemporaryDirectory() as d:
        s = PrivacyStore(Path(d) / "n.db", make_policy(total=total, per_query=total), AuditSigner.generate())
        spent_units = 0
        for i, rho in enumerate(rhos):
            # The store charges what OpenDP maps the draws to: the stated rho, never more.
            cost = charge_units(charge_of(costing(rho), 1e-7).rho)
            assert cost <= charge_units(rho)
            fits = spent_units + cost <= limit_units(total)
            try:
                s.charge_and_release(request(f"q{i}", rho), lambda _: b"x")
                spent_units += cost
                assert fits
            except BudgetExceeded:
                assert not fits
        summary = s.spent()
        # The ledger reads a limit as the decimal the officer wrote, to 1e-12 rho; never more than that.
        assert summary.spent_rho <= limit_units(total) / RHO_UNITS
        assert summary.spent_rho == spent_units / RHO_UNITS


CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from privacy.audit import AuditSigner
    from privacy.ledger import PrivacyStore, ReleaseRequest
    from privacy.policy import Policy
    from tests.draws import costing

    policy = Policy(**json.loads(sys.argv[4]))
    store = PrivacyStore(sys.argv[2], policy, AuditSigner.load_or_create(sys.argv[3]))
    draws = costing(0.001)

    def compute(_drawn):
        time.sleep(0.0005)  # a little work inside the transaction, so kills land mid-transaction too
        return b"payload" * 50

    i = 0
    while True:
        store.charge_and_release(
            ReleaseRequest(f"q{i}", f"fp{i}", "snap", "alice", "analyst", "load", "{}", draws), compute
        )
        i += 1
    """
)


def test_a_node_killed_mid_query_restarts_consistent(tmp_path):
    db, key, script = tmp_path / "n.db", tmp_path / "audit.pem", tmp_path / "child.py"
    script.write_text(CHILD)
    policy = make_policy(total=1000.0, per_query=1.0)
    child = subprocess.Popen(
        [sys.executable, str(script), str(REPO), str(db), str(key), json.dumps(dataclasses.asdict(policy))]
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if db.exists():
                try:
                    conn = sqlite3.connect(db, timeout=5)
                    n = conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0]
                    conn.close()
                    if n >= 40:
                        break
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.02)
        assert child.poll() is None, "the child stopped on its own"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    signer = AuditSigner.load_or_create(key)
    store = PrivacyStore(db, policy, signer)  # reopen as a restarted node would
    conn = sqlite3.connect(db)
    releases = conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0]
    orphans = conn.execute(
        "SELECT (SELECT COUNT(*) FROM releases r WHERE NOT EXISTS"
        "    (SELECT 1 FROM charges c WHERE c.query_id = r.query_id))"
        " + (SELECT COUNT(*) FROM charges c WHERE NOT EXISTS"
        "    (SELECT 1 FROM releases r WHERE r.query_id = c.query_id))"
        " + (SELECT COUNT(*) FROM releases r WHERE NOT EXISTS (SELECT 1 FROM audit_log a"
        "    WHERE a.action = 'release' AND a.query_id = r.query_id))"
    ).fetchone()[0]
    audited = conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'release'").fetchone()[0]
    conn.close()
    assert releases >= 40 and orphans == 0 and audited == releases
    assert verify_chain(db, signer.public_key).ok
    assert store.spent().releases == releases
    assert store.spent().spent_rho == pytest.approx(releases * 0.001)
