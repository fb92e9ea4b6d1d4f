"""Audit log: a signed hash chain that names the first edited, deleted or forged entry."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import sqlite3

import pytest

from privacy.audit import AuditKeyError, AuditSigner, append_entry, export_csv, verify_chain
from privacy.ledger import PrivacyStore, ReleaseRequest
from privacy.policy import Policy
from tests.draws import costing

DRAWS = costing(0.01)


@pytest.fixture
def store(tmp_path) -> PrivacyStore:
    today = dt.datetime.now(dt.UTC).date()
    policy = Policy(
        "E07000110",
        (today - dt.timedelta(days=10)).isoformat(),
        (today + dt.timedelta(days=10)).isoformat(),
        1.0,
        0.1,
        1e-7,
        10,
    )
    s = PrivacyStore(tmp_path / "node.db", policy, AuditSigner.generate())
    for i in range(5):
        s.charge_and_release(
            ReleaseRequest(f"q{i}", f"f{i}", "snap", "alice", "analyst", "=cmd|' /C calc'!A0", "{}", DRAWS),
            lambda _: b"answer",
        )
    return s


def _sql(store: PrivacyStore, statement: str) -> None:
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute(statement)
    conn.close()


def test_an_untouched_chain_verifies(store):
    report = verify_chain(store.path, store.signer.public_key)
    assert (report.ok, report.entries, report.first_bad_seq) == (True, 6, None)


def test_an_edited_entry_is_named(store):
    _sql(store, "UPDATE audit_log SET rho = 0.0001 WHERE seq = 3")
    report = verify_chain(store.path, store.signer.public_key)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "altered" in report.reason


def test_a_deleted_entry_is_named_by_its_missing_seq(store):
    _sql(store, "DELETE FROM audit_log WHERE seq = 4")
    report = verify_chain(store.path, store.signer.public_key)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert "missing" in report.reason


def test_a_renumbered_deletion_breaks_the_hash_link(store):
    _sql(store, "DELETE FROM audit_log WHERE seq = 4")
    _sql(store, "UPDATE audit_log SET seq = seq - 1 WHERE seq > 4")
    report = verify_chain(store.path, store.signer.public_key)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert "prev_hash" in report.reason


def test_deleting_the_last_release_entry_is_detected_from_its_charge(store):
    _sql(store, "DELETE FROM audit_log WHERE seq = 6")
    report = verify_chain(store.path, store.signer.public_key)
    assert not report.ok and "q4" in report.reason


def test_entries_signed_by_another_key_are_refused(store):
    report = verify_chain(store.path, AuditSigner.generate().public_key)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "signature" in report.reason


def test_verify_accepts_the_public_key_as_pem(store):
    assert verify_chain(store.path, store.signer.public_key_pem()).ok


def test_key_is_created_private_and_reloaded(tmp_path):
    path = tmp_path / "keys" / "audit.pem"
    first = AuditSigner.load_or_create(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert AuditSigner.load_or_create(path).public_key_pem() == first.public_key_pem()


def test_a_key_readable_by_others_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "audit.pem"
    AuditSigner.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(AuditKeyError, match="chmod 600"):
        AuditSigner.load_or_create(path)


def test_csv_export_has_every_entry_and_defuses_spreadsheet_formulas(store, tmp_path):
    out = tmp_path / "audit.csv"
    assert export_csv(store.path, out) == 6
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["action"] for r in rows] == ["policy_change"] + ["release"] * 5
    assert rows[1]["purpose"].startswith("'=")


def test_append_outside_a_transaction_is_refused(store):
    conn = sqlite3.connect(store.path, isolation_level=None)
    with pytest.raises(RuntimeError, match="BEGIN IMMEDIATE"):
        append_entry(conn, store.signer, actor="x", role="y", action="release")
    conn.close()


def test_unknown_actions_are_refused(store):
    conn = sqlite3.connect(store.path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(ValueError, match="unknown audit action"):
        append_entry(conn, store.signer, actor="x", role="y", action="delete")
    conn.execute("ROLLBACK")
    conn.close()
