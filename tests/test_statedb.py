"""Conformance suite for state database backends: every backend a store may sit on must pass all of it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from privacy.audit import AuditSigner, verify_chain
from privacy.ledger import BudgetExceeded, PrivacyStore, ReleaseRequest
from privacy.migrations import Migration, SchemaTooNew, migrate, schema_version
from privacy.policy import Policy
from privacy.statedb import MemoryState, SqliteState, StateDatabase, state_at
from tests.draws import costing

TODAY = dt.datetime.now(dt.UTC).date()
Backend = Callable[[Path], StateDatabase]
BACKENDS: dict[str, Backend] = {
    "sqlite-file": lambda tmp: SqliteState(tmp / "state.db"),
    "sqlite-memory": lambda tmp: MemoryState(),
}


@pytest.fixture(params=sorted(BACKENDS))
def db(request, tmp_path) -> StateDatabase:
    return BACKENDS[request.param](tmp_path)


def counter_table(db: StateDatabase) -> None:
    with db.transaction() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        conn.execute("INSERT OR IGNORE INTO counter VALUES (1, 0)")


def count(db: StateDatabase) -> int:
    with db.transaction(write=False) as conn:
        return conn.execute("SELECT n FROM counter WHERE id = 1").fetchone()[0]


def test_a_transaction_commits_on_success(db):
    counter_table(db)
    with db.transaction() as conn:
        conn.execute("UPDATE counter SET n = n + 1")
    assert count(db) == 1


def test_a_transaction_rolls_back_on_any_exception(db):
    counter_table(db)
    with pytest.raises(KeyError), db.transaction() as conn:
        conn.execute("UPDATE counter SET n = n + 1")
        raise KeyError("boom")
    assert count(db) == 0


def test_a_transaction_opened_inside_another_is_refused(db):
    with db.transaction(), pytest.raises(RuntimeError, match="inside another"), db.transaction(write=False):
        pass


def test_the_write_lock_is_reported_only_inside_a_write_transaction(db):
    assert not db.holding_write_lock()
    with db.transaction():
        assert db.holding_write_lock()
    with db.transaction(write=False):
        assert not db.holding_write_lock()
    assert not db.holding_write_lock()


def test_concurrent_writers_from_many_threads_lose_no_update(db):
    counter_table(db)

    def bump() -> None:
        for _ in range(25):
            with db.transaction() as conn:
                (n,) = conn.execute("SELECT n FROM counter WHERE id = 1").fetchone()
                conn.execute("UPDATE counter SET n = ?", (n + 1,))

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count(db) == 200


def test_the_longest_write_hold_is_recorded(db):
    counter_table(db)
    assert db.longest_write_hold > 0


STEPS = (
    Migration(1, "one", ("CREATE TABLE IF NOT EXISTS t (a INTEGER)",)),
    Migration(2, "two", ("ALTER TABLE t ADD COLUMN b INTEGER",)),
)


def test_migrations_run_once_each_and_record_the_version(db):
    for _ in range(2):
        with db.transaction() as conn:
            assert migrate(conn, "demo", STEPS) == 2
    with db.transaction(write=False) as conn:
        assert schema_version(conn, "demo") == 2
        assert [r[1] for r in conn.execute("PRAGMA table_info(t)")] == ["a", "b"]


def test_a_database_from_newer_software_is_refused_unchanged(db):
    with db.transaction() as conn:
        migrate(conn, "demo", STEPS)
    with pytest.raises(SchemaTooNew, match="newer software"), db.transaction() as conn:
        migrate(conn, "demo", STEPS[:1])
    with db.transaction(write=False) as conn:
        assert schema_version(conn, "demo") == 2


def test_migrations_with_a_gap_are_refused(db):
    with pytest.raises(ValueError, match="without gaps"), db.transaction() as conn:
        migrate(conn, "demo", STEPS[1:])


def test_components_sharing_a_database_keep_their_own_versions(db):
    with db.transaction() as conn:
        migrate(conn, "demo", STEPS)
        migrate(conn, "other", (Migration(1, "x", ("CREATE TABLE IF NOT EXISTS u (a)",)),))
        assert (schema_version(conn, "demo"), schema_version(conn, "other")) == (2, 1)


# ---- the ledger on every backend ------------------------------------------------------------------------------


def policy(total: float = 1.0) -> Policy:
    return Policy(
        "E07000110",
        (TODAY - dt.timedelta(days=1)).isoformat(),
        (TODAY + dt.timedelta(days=1)).isoformat(),
        total,
        total,
        1e-7,
        0,
        month_lifetime_rho=total,
    )


def request(qid: str, rho: float) -> ReleaseRequest:
    return ReleaseRequest(qid, f"fp-{qid}", "snap", "alice", "analyst", "test", json.dumps({"q": qid}), costing(rho))


def test_the_ledger_charges_replays_free_and_refuses_past_the_total_on_every_backend(db):
    store = PrivacyStore(db, policy(total=0.25), AuditSigner.generate())
    store.charge_and_release(request("q1", 0.2), lambda d: b"first")
    again = store.charge_and_release(request("q1", 0.2), lambda d: b"second")
    assert (again.payload, again.replayed) == (b"first", True)
    with pytest.raises(BudgetExceeded):
        store.charge_and_release(request("q2", 0.2), lambda d: b"x")
    assert store.spent().releases == 1


def test_concurrent_queries_never_overspend_on_any_backend(db):
    store = PrivacyStore(db, policy(total=0.5), AuditSigner.generate())
    admitted: list[str] = []

    def ask(i: int) -> None:
        try:
            store.charge_and_release(request(f"q{i}", 0.1), lambda d: b"x")
            admitted.append(f"q{i}")
        except BudgetExceeded:
            pass

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == store.spent().releases == 5


def test_stores_on_one_file_share_one_connection_per_process(tmp_path):
    signer = AuditSigner.generate()
    a = PrivacyStore(tmp_path / "n.db", policy(), signer)
    b = PrivacyStore.existing(tmp_path / "n.db", signer)
    assert a.db is b.db is state_at(tmp_path / "n.db")
    a.charge_and_release(request("q1", 0.1), lambda d: b"x")
    assert verify_chain(tmp_path / "n.db", signer.public_key).ok
