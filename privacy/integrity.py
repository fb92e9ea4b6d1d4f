"""Start-up checks that a node's ledger is the one its audit chain describes, and the audited way back.

The audit log is signed and hash-chained; the ledger (charges, running totals) is not. So at start-up the node
checks the ledger against the chain, amounts included, and refuses to serve on any mismatch: a charge edited
down, charges deleted with their audit kept, running totals that disagree, a deleted database beside a kept key
(a reset ledger), or a deleted key beside a kept database (which would otherwise be silently re-created). A
tail of entries deleted together with their charges leaves a consistent but shorter ledger: only a copy of the
head kept elsewhere can catch that, which is what the coordinator's signed receipts are for.

Recovery is an IG officer's decision, made with `lsi node recover`, and is itself an audited entry.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from privacy.audit import AuditSigner, append_entry, ensure_schema, verify_chain
from privacy.ledger import DAILY_TABLES, LIFETIME_KEY, charge_units, month_key, rebuild_daily_totals
from privacy.statedb import make_private, transaction

_DETAIL = re.compile(
    r"^(?P<mechanism>\S+) scale (?P<scale>[^;]+); epsilon at delta (?P<delta>[^;]+)"
    r"(?:; months (?P<months>\S+))?$"
)


class LedgerIntegrityError(ValueError):
    """The ledger and its audit chain disagree, or one of them is missing; the node must not serve."""


@dataclass(frozen=True)
class Recovery:
    """What `recover` did: the audit seq of its entry and the problems it acknowledged or repaired."""

    seq: int
    problems: list[str]
    new_key: bool
    new_ledger: bool


def has_entries(db_path: Path) -> bool:
    """Whether a state database exists and holds at least one audit entry."""
    if not Path(db_path).exists():
        return False
    conn = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True, timeout=30)
    try:
        table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").fetchone()
        return bool(table) and conn.execute("SELECT 1 FROM audit_log LIMIT 1").fetchone() is not None
    finally:
        conn.close()


def open_signer(key_path: Path, db_path: Path) -> AuditSigner:
    """The node's audit key; created only for a brand-new node (no key, no ledger). Refuses a lone key or ledger."""
    key_path, db_path = Path(key_path), Path(db_path)
    ledger = has_entries(db_path)
    if key_path.exists() and not ledger:
        raise LedgerIntegrityError(
            f"the audit key {key_path} exists but the ledger {db_path} is missing or empty: the ledger was "
            "deleted or replaced, which would reset every budget. Restore the database from backup, or the "
            "district's IG officer must run `lsi node recover` (audited; the coordinator will also need county "
            "IT to accept the node again)."
        )
    if not key_path.exists() and ledger:
        raise LedgerIntegrityError(
            f"the ledger {db_path} has audit entries but the audit key {key_path} is missing: it will not be "
            "re-created silently. Restore the key from backup, or the district's IG officer must run "
            "`lsi node recover` (audited; the node then signs with a new key the coordinator must accept)."
        )
    return AuditSigner.load_or_create(key_path)


def ledger_problems(db_path: Path, signer: AuditSigner) -> list[str]:
    """Every way the ledger disagrees with its signed audit chain (empty: consistent)."""
    report = verify_chain(db_path, signer.public_key)
    problems = [] if report.ok else [f"audit chain: {report.reason}"]
    conn = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True, timeout=30)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'spend_totals'").fetchone():
            return problems
        problems += _amount_problems(conn)
    finally:
        conn.close()
    return problems


def _amount_problems(conn: sqlite3.Connection) -> list[str]:
    problems = []
    audited = {q: rho for q, rho in conn.execute("SELECT query_id, rho FROM audit_log WHERE action = 'release'")}
    charged = {q: (units, rho) for q, units, rho in conn.execute("SELECT query_id, rho_units, rho FROM charges")}
    for query_id, rho in audited.items():
        if query_id not in charged:
            problems.append(
                f"query {query_id}: the audit log has its release but the ledger has no charge (charge deleted?)"
            )
        elif charged[query_id][0] != charge_units(rho) or charged[query_id][1] != rho:
            problems.append(
                f"query {query_id}: the ledger charges rho {charged[query_id][1]!r} but its audit "
                f"entry says rho {rho!r} (charge edited?)"
            )
    totals = dict(conn.execute("SELECT key, units FROM spend_totals"))
    lifetime = sum(units for units, _ in charged.values())
    if totals.get(LIFETIME_KEY, 0) != lifetime:
        problems.append(
            f"running lifetime total {totals.get(LIFETIME_KEY, 0)} units differs from the charges' sum {lifetime} units"
        )
    months = dict(
        conn.execute(
            "SELECT m.month, SUM(c.rho_units) FROM charge_months m JOIN charges c USING (query_id) GROUP BY m.month"
        )
    )
    for key in sorted({k for k in totals if k.startswith("month:")} | {month_key(m) for m in months}):
        want = months.get(key.removeprefix("month:"), 0)
        if totals.get(key, 0) != want:
            problems.append(
                f"running total of snapshot month {key.removeprefix('month:')} is {totals.get(key, 0)} "
                f"units but its charges add up to {want}"
            )
    return problems + _daily_problems(conn)


def _daily_problems(conn: sqlite3.Connection) -> list[str]:
    """The daily running totals (which every limit check reads) against the charges and audit entries."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'daily_spend'").fetchone():
        return []
    problems = []
    for table, source in DAILY_TABLES:
        select = source.split(") ", 1)[1]  # the SELECT behind the INSERT
        held = set(conn.execute(f"SELECT * FROM {table}"))
        want = set(conn.execute(select))
        if held != want:
            days = sorted({row[0] for row in held ^ want})
            problems.append(f"running totals in {table} differ from what they count on {', '.join(days[:5])}")
    return problems


def check_ledger(db_path: Path, signer: AuditSigner) -> None:
    """Raise LedgerIntegrityError naming every mismatch, with what to do; return quietly if consistent."""
    problems = ledger_problems(db_path, signer)
    if problems:
        listed = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise LedgerIntegrityError(
            f"the ledger {db_path} does not match its signed audit chain: {listed}. The node will not serve. "
            "Restore the database from backup, or the district's IG officer must run `lsi node recover`."
        )


def recover(db_path: Path, key_path: Path, officer: str, reason: str) -> Recovery:
    """Accept the ledger as its audit chain states it, audited under the officer's name.

    A missing key is replaced (entries signed by the lost key keep their hash chain but cannot be re-checked);
    a missing ledger is started anew; charges and running totals are rebuilt from the signed audit entries.
    A broken audit chain cannot be repaired here: restore it from backup."""
    if not reason.strip():
        raise ValueError("--reason must say why the ledger is being recovered (it goes in the audit log)")
    db_path, key_path = Path(db_path), Path(key_path)
    new_key, new_ledger = not key_path.exists(), not has_entries(db_path)
    signer = AuditSigner.load_or_create(key_path)
    problems = [] if new_ledger else _recoverable_problems(db_path, signer, new_key)
    make_private(db_path)
    with transaction(db_path) as conn:
        ensure_schema(conn)
        if not new_ledger:
            _rebuild_from_audit(conn)
        detail = {
            "reason": reason,
            "new_key": new_key,
            "new_ledger": new_ledger,
            "problems": problems,
            "public_key": signer.public_key_pem().decode(),
        }
        seq = append_entry(
            conn,
            signer,
            actor=officer,
            role="ig_officer",
            action="recovery",
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
        )
    return Recovery(seq=seq, problems=problems, new_key=new_key, new_ledger=new_ledger)


def _recoverable_problems(db_path: Path, signer: AuditSigner, new_key: bool) -> list[str]:
    report = verify_chain(db_path, signer.public_key)
    if not report.ok and not (new_key and "bad signature" in report.reason):
        raise LedgerIntegrityError(
            f"the audit chain itself is broken ({report.reason}); it cannot be recovered "
            "in place: restore the database from backup"
        )
    if new_key:
        return ["audit key was missing: a new key signs from here on"]
    return ledger_problems(db_path, signer)


def _rebuild_from_audit(conn: sqlite3.Connection) -> None:
    """Charges and running totals as the signed release entries state them."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'spend_totals'").fetchone():
        return
    rows = conn.execute(
        "SELECT query_id, rho, epsilon, actor, role, purpose, detail, time FROM audit_log WHERE action = 'release'"
    ).fetchall()
    for query_id, rho, epsilon, actor, role, purpose, detail, time in rows:
        parsed = _DETAIL.match(detail or "")
        mechanism = parsed["mechanism"] if parsed else "unknown"
        scale = float(parsed["scale"]) if parsed else 0.0
        delta = float(parsed["delta"]) if parsed else 0.0
        months = parsed["months"].split(",") if parsed and parsed["months"] else []
        conn.execute(
            "INSERT INTO charges (query_id, analyst, role, purpose, mechanism, scale, rho, rho_units, epsilon, "
            "delta, created_at, charge_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (query_id) DO UPDATE SET rho = excluded.rho, rho_units = excluded.rho_units, "
            "epsilon = excluded.epsilon",
            (
                query_id,
                actor,
                role,
                purpose or "",
                mechanism,
                scale,
                rho,
                charge_units(rho),
                epsilon,
                delta,
                time,
                time[:10],
            ),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO charge_months (query_id, month) VALUES (?, ?)", [(query_id, m) for m in months]
        )
    conn.execute("DELETE FROM spend_totals")
    conn.execute(
        "INSERT INTO spend_totals (key, units) SELECT ?, COALESCE(SUM(rho_units), 0) FROM charges", (LIFETIME_KEY,)
    )
    conn.execute(
        "INSERT INTO spend_totals (key, units) SELECT 'month:' || m.month, SUM(c.rho_units) "
        "FROM charge_months m JOIN charges c USING (query_id) GROUP BY m.month"
    )
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'daily_spend'").fetchone():
        rebuild_daily_totals(conn)
