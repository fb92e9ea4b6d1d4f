"""The node's durable privacy record: budget ledger, release store and audit log in one SQLite database.

The store charges what it runs: it is handed draws (exact integer vectors, each with its mechanism, scale and
sensitivity; `privacy.draw`), never a charge, and derives the charge from OpenDP's privacy map of the very
measurements it then runs. That map, like every plan and accuracy figure, is computed before the lock.

Every release is one ``BEGIN IMMEDIATE`` transaction: re-check for a stored answer, check the limits, insert the
charge, draw the noise (microseconds), render and store the answer, append the signed audit entry, COMMIT. Only
then does the answer leave. Nothing slow runs inside it. SQLite runs one writer at a time, so concurrent queries
queue on the lock (busy_timeout) and can never overspend; a crash before COMMIT leaves neither charge nor release
nor audit entry.

Budgets are kept as whole numbers of 1e-12 rho so that sums are exact and a long run of small charges
cannot creep past a limit through float rounding. Charges (OpenDP's float maps) are rounded up; limits are
read as the decimal the IG officer wrote (nearest 1e-12 rho), so a cap of 0.03 admits a charge of 0.03.

Periods are UTC dates; a charge counts against the period that contains its UTC date. Each charge is also
charged, in full, to every snapshot month its query reads (table ``charge_months``), against a lifetime cap per
month that no new period renews. Running totals (table ``spend_totals``: the lifetime spend and each month's)
are updated in the charging transaction, so checking a cap never scans history while the ledger is locked.

The policy in force lives in the database (table ``policy_state``), the one source of truth: the node's policy
file only seeds a new ledger, and a file that disagrees with the ledger at start-up stops the node
(see ``privacy.policy_sync``), so a restart can never silently undo an IG officer's change.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from privacy.accountant import Charge, epsilon_figures, rho_to_epsilon
from privacy.audit import AuditSigner, append_entry, migrate_audit, utc_now
from privacy.draw import Draw, charge_of, run
from privacy.migrations import Migration, has_column, migrate
from privacy.policy import Policy, PolicyError, diff_policy
from privacy.spend_text import spend_text
from privacy.statedb import SqliteState, StateDatabase, state_at

RHO_UNITS = 10**12  # ledger resolution: 1e-12 rho

_SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS charges (
        id INTEGER PRIMARY KEY,
        query_id TEXT NOT NULL UNIQUE,
        analyst TEXT NOT NULL,
        role TEXT NOT NULL,
        purpose TEXT NOT NULL,
        mechanism TEXT NOT NULL,
        scale REAL NOT NULL,
        rho REAL NOT NULL,
        rho_units INTEGER NOT NULL CHECK (rho_units > 0),
        epsilon REAL NOT NULL,
        delta REAL NOT NULL,
        created_at TEXT NOT NULL,
        charge_date TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS charges_by_date ON charges (charge_date)",
    """CREATE TABLE IF NOT EXISTS releases (
        id INTEGER PRIMARY KEY,
        query_id TEXT NOT NULL UNIQUE REFERENCES charges (query_id),
        fingerprint TEXT NOT NULL,
        snapshot_digest TEXT NOT NULL,
        canonical_query TEXT NOT NULL,
        payload BLOB NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (fingerprint, snapshot_digest)
    )""",
    # Every query id ever answered, including ids answered from another id's identical release.
    """CREATE TABLE IF NOT EXISTS query_ids (
        query_id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        release_id INTEGER NOT NULL REFERENCES releases (id)
    )""",
    "CREATE TABLE IF NOT EXISTS policy_state (id INTEGER PRIMARY KEY CHECK (id = 1), policy TEXT NOT NULL)",
    # The snapshot months each charge read: the charge counts in full against each month's lifetime cap.
    """CREATE TABLE IF NOT EXISTS charge_months (
        query_id TEXT NOT NULL REFERENCES charges (query_id),
        month TEXT NOT NULL,
        PRIMARY KEY (query_id, month)
    )""",
    # Running totals in ledger units: 'lifetime' (every charge ever) and 'month:YYYY-MM'.
    "CREATE TABLE IF NOT EXISTS spend_totals (key TEXT PRIMARY KEY, units INTEGER NOT NULL CHECK (units >= 0))",
    # A ledger from before running totals: its lifetime total is what its charges add up to.
    "INSERT OR IGNORE INTO spend_totals (key, units) SELECT 'lifetime', COALESCE(SUM(rho_units), 0) FROM charges",
)


def _record_draws_column(conn: sqlite3.Connection) -> None:
    if not has_column(conn, "charges", "draws"):
        conn.execute("ALTER TABLE charges ADD COLUMN draws TEXT")


# What the daily running totals must hold (migration 3 fills them with this; integrity checks them against it).
DAILY_SPEND_FROM_CHARGES = (
    "INSERT INTO daily_spend (day, analyst, purpose, units, charges) "
    "SELECT charge_date, analyst, purpose, SUM(rho_units), COUNT(*) FROM charges GROUP BY charge_date, analyst, purpose"
)
DAILY_ACTIONS_FROM_AUDIT = (
    "INSERT INTO daily_actions (day, action, entries) "
    "SELECT substr(time, 1, 10), action, COUNT(*) FROM audit_log WHERE action IN ('replay', 'refused') "
    "GROUP BY substr(time, 1, 10), action"
)
DAILY_TOTALS_FROM_CHARGES = (
    "INSERT INTO daily_totals (day, units, charges) SELECT charge_date, SUM(rho_units), COUNT(*) FROM charges "
    "GROUP BY charge_date"
)
# Each daily table and what it must hold (integrity checks them; recovery and tests that forge history rebuild them).
DAILY_TABLES = (
    ("daily_totals", DAILY_TOTALS_FROM_CHARGES),
    ("daily_spend", DAILY_SPEND_FROM_CHARGES),
    ("daily_actions", DAILY_ACTIONS_FROM_AUDIT),
)
COUNTED_ACTIONS = ("replay", "refused")  # only the ledger writes these; the budget summary reports them

# Numbered; append only. Version 1 is the schema as it stood before versions were recorded (idempotent).
MIGRATIONS = (
    Migration(1, "budget ledger, release store, query ids, policy, month charges, running totals", _SCHEMA_V1),
    # Each charge states the draws it paid for (mechanism, scale, sensitivity, cells), as the store ran them.
    Migration(2, "charges.draws: what each charge paid for", (_record_draws_column,)),
    # Running totals by day, so no answer scans history: a period's spend (in total, by analyst, by purpose) and
    # its replays and refusals are sums over at most a year of days, whatever the ledger's length.
    Migration(
        3,
        "daily running totals of spend and audited actions",
        (
            """CREATE TABLE daily_spend (day TEXT NOT NULL, analyst TEXT NOT NULL, purpose TEXT NOT NULL,
                units INTEGER NOT NULL CHECK (units >= 0), charges INTEGER NOT NULL CHECK (charges >= 0),
                PRIMARY KEY (day, analyst, purpose))""",
            DAILY_SPEND_FROM_CHARGES,
            # The period's whole spend, at most one row a day (what every answer reads), and the analyst's own.
            """CREATE TABLE daily_totals (day TEXT PRIMARY KEY, units INTEGER NOT NULL CHECK (units >= 0),
                charges INTEGER NOT NULL CHECK (charges >= 0))""",
            DAILY_TOTALS_FROM_CHARGES,
            "CREATE INDEX daily_spend_by_analyst ON daily_spend (analyst, day)",
            """CREATE TABLE daily_actions (day TEXT NOT NULL, action TEXT NOT NULL,
                entries INTEGER NOT NULL CHECK (entries >= 0), PRIMARY KEY (day, action))""",
            DAILY_ACTIONS_FROM_AUDIT,
        ),
    ),
)
LIFETIME_KEY = "lifetime"


def month_key(month: str) -> str:
    """The running-total key of one snapshot month."""
    return f"month:{month}"


class LedgerError(RuntimeError):
    """A query the ledger will not answer; the message says why and what to do."""


class PolicyConflict(LedgerError, ValueError):
    """The policy a node was started with differs from the one in force in its ledger."""

    def __init__(self, changes: list[str], changed_at: str, changed_by: str) -> None:
        super().__init__(
            f"the policy file differs from the policy in force in the ledger (set {changed_at} by {changed_by}): "
            f"{'; '.join(changes)}. The ledger's policy is the one in force; the node was not started."
        )
        self.changes = changes
        self.changed_at = changed_at
        self.changed_by = changed_by


class QueryIdReused(LedgerError):
    """A query id came back with a different question."""

    def __init__(self, query_id: str, stored_fingerprint: str = "", fingerprint: str = "") -> None:
        # No fingerprint, not even a prefix: fingerprints hash private state (campaign outcomes, snapshot
        # files), and this text reaches the analyst. The arguments stay for callers that pass them.
        del stored_fingerprint, fingerprint
        super().__init__(
            f"query id {query_id!r} was already used for a different question; nothing was released or "
            f"charged. The coordinator must give every new query a new id."
        )
        self.query_id = query_id


class PeriodClosed(LedgerError):
    """Today is outside the policy's privacy period."""


class MechanismNotAllowed(LedgerError):
    """The node's policy does not allow the requested mechanism."""


@dataclass(frozen=True)
class BudgetExceededDetail:
    """Figures behind a refusal: rho, and the epsilon increase at the node's delta."""

    limit: str
    requested_rho: float
    remaining_rho: float
    requested_epsilon: float
    remaining_epsilon: float
    delta: float


class BudgetExceeded(LedgerError):
    """A charge would break a limit; `detail` has the amounts and names the limit."""

    def __init__(self, query_id: str, detail: BudgetExceededDetail) -> None:
        d = detail
        super().__init__(
            f"query {query_id!r} refused by the {d.limit}: it needs "
            f"{spend_text(d.requested_rho, d.requested_epsilon, d.delta)} but only "
            f"{spend_text(d.remaining_rho, d.remaining_epsilon, d.delta)} remains. Nothing was charged or "
            f"released. Ask for less (coarser accuracy, fewer months) or ask the IG officer to review "
            f"the policy."
        )
        self.query_id = query_id
        self.detail = detail


@dataclass(frozen=True)
class ReleaseRequest:
    """What the node asks the ledger to release: who, why, which question, and the draws to run (not a charge)."""

    query_id: str
    fingerprint: str
    snapshot_digest: str
    analyst: str
    role: str
    purpose: str
    canonical_query: str
    draws: tuple[Draw, ...]
    months: tuple[str, ...] = ()  # the snapshot months the query reads (YYYY-MM); each is charged in full


@dataclass(frozen=True)
class Drawn:
    """What a release's renderer gets inside the transaction: the noisy vectors, their charge, the policy in force."""

    noisy: tuple[tuple[int, ...], ...]
    charge: Charge
    policy: Policy


# Turns the noisy vectors into the serialized answer; runs inside the transaction, so it must be quick and must
# not call back into the store.
Render = Callable[[Drawn], bytes]


@dataclass(frozen=True)
class LedgerHead:
    """The ledger as a receipt states it: audit head, lifetime spend, and the entry at the seq a verifier knows."""

    seq: int
    head_hash: str
    spent_units: int
    known_seq: int
    known_hash: str


@dataclass(frozen=True)
class StoredRelease:
    """A stored release; on a replay, query_id and charge are the original's and nothing new is spent."""

    query_id: str
    payload: bytes
    charge: Charge
    created_at: str
    replayed: bool


@dataclass(frozen=True)
class BudgetSummary:
    """Budget for one period: rho, and epsilon at delta (remaining_epsilon = total - spent epsilon).

    The epsilon figures are converted only when read: OpenDP's conversion is a search of a few milliseconds
    for every new spent total, and an answer's budget totals carry rho only."""

    period_start: str
    period_end: str
    delta: float
    total_rho: float
    spent_rho: float
    remaining_rho: float
    releases: int
    by_analyst: dict[str, float]
    by_purpose: dict[str, float]
    queries_by_analyst: dict[str, int]
    queries_by_purpose: dict[str, int]
    replays: int
    refusals: int
    per_query_rho: float  # the policy's cap on one query, read with the rest

    @property
    def total_epsilon(self) -> float:
        """The period's budget as epsilon at delta."""
        return epsilon_figures(self.total_rho, self.spent_rho, self.delta).total

    @property
    def spent_epsilon(self) -> float:
        """Spent so far as epsilon at delta."""
        return epsilon_figures(self.total_rho, self.spent_rho, self.delta).spent

    @property
    def remaining_epsilon(self) -> float:
        """Total minus spent epsilon (not the epsilon of the remaining rho)."""
        return epsilon_figures(self.total_rho, self.spent_rho, self.delta).remaining


def charge_units(rho: float) -> int:
    """A charge in whole ledger units, rounded up: rounding never under-charges."""
    return math.ceil(Fraction(rho) * RHO_UNITS)


def limit_units(rho: float) -> int:
    """A policy limit in whole ledger units: the nearest unit, i.e. the decimal the officer wrote."""
    return round(Fraction(rho) * RHO_UNITS)


def _rho(units: int) -> float:
    return units / RHO_UNITS


def _policy_json(policy: Policy) -> str:
    return json.dumps(dataclasses.asdict(policy), sort_keys=True)


@functools.lru_cache(maxsize=64)  # read several times per answer; a Policy is frozen, so sharing one is safe
def _policy_from_json(text: str) -> Policy:
    return Policy(**json.loads(text))


class PrivacyStore:
    """Budget ledger, release store and audit log of one node; safe to share across threads."""

    def __init__(self, path: Path | StateDatabase, policy: Policy, signer: AuditSigner) -> None:
        self.db = _database(path)
        self.path = Path(self.db.label)
        self.signer = signer
        with self.db.transaction() as conn:
            if isinstance(self.db, SqliteState):
                mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
                if mode.lower() != "wal":
                    raise LedgerError(f"privacy database {self.path} could not switch to WAL mode (got {mode})")
            migrate_schema(conn, self.db.label)
            self._seed_policy(conn, policy)

    @classmethod
    def existing(cls, path: Path | StateDatabase, signer: AuditSigner) -> PrivacyStore:
        """An existing ledger as it is, with its own policy (no policy file read or seeded)."""
        store = cls.__new__(cls)
        store.db = _database(path)
        store.path, store.signer = Path(store.db.label), signer
        with store.db.transaction() as conn:
            migrate_schema(conn, store.db.label)
        store.policy  # noqa: B018 - fails clearly if the database holds no ledger
        return store

    # -- connections -------------------------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.db.transaction()

    def _reading(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.db.transaction(write=False)

    def holding_lock(self) -> bool:
        """Whether the calling thread is inside this ledger's write transaction (for checks that nothing slow is)."""
        return self.db.holding_write_lock()

    # -- policy -------------------------------------------------------------------------------------

    @property
    def policy(self) -> Policy:
        """The policy in force (as stored in the database)."""
        with self._reading() as conn:
            return self._current_policy(conn)

    @staticmethod
    def _current_policy(conn: sqlite3.Connection) -> Policy:
        row = conn.execute("SELECT policy FROM policy_state WHERE id = 1").fetchone()
        if row is None:
            raise LedgerError("the privacy database has no policy; start the node with its policy file")
        return _policy_from_json(row[0])

    def _seed_policy(self, conn: sqlite3.Connection, policy: Policy) -> None:
        """A new ledger takes the file's policy; an existing one keeps its own, and a different file is refused."""
        row = conn.execute("SELECT policy FROM policy_state WHERE id = 1").fetchone()
        if row is None:
            self._record_policy(conn, policy, changed_by="policy file (read at node start)")
            return
        changes = diff_policy(_policy_from_json(row[0]), policy)
        if changes:
            last = conn.execute(
                "SELECT time, actor FROM audit_log WHERE action = 'policy_change' ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            changed_at, changed_by = last if last is not None else ("(unknown)", "(unknown)")
            raise PolicyConflict(changes, changed_at, changed_by)

    def _record_policy(self, conn: sqlite3.Connection, policy: Policy, changed_by: str) -> list[str]:
        row = conn.execute("SELECT policy FROM policy_state WHERE id = 1").fetchone()
        if row is None:
            changes = [f"initial policy: {_policy_json(policy)}"]
        else:
            changes = diff_policy(_policy_from_json(row[0]), policy)
            if not changes:
                return []
        conn.execute(
            "INSERT INTO policy_state (id, policy) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET policy = ?",
            (_policy_json(policy), _policy_json(policy)),
        )
        self._audit(
            conn,
            actor=changed_by,
            role="ig_officer",
            action="policy_change",
            detail=json.dumps(changes, ensure_ascii=False),
        )
        return changes

    def set_policy(self, new_policy: Policy, changed_by: str) -> list[str]:
        """Put a new policy in force and audit the change; returns the differences (empty: no change)."""
        if not changed_by.strip():
            raise ValueError("changed_by must name the person making the change (their certificate CN)")
        with self._transaction() as conn:
            _check_not_below_spent(conn, new_policy)
            return self._record_policy(conn, new_policy, changed_by=changed_by)

    # -- replay -------------------------------------------------------------------------------------

    @staticmethod
    def _find(
        conn: sqlite3.Connection, query_id: str, fingerprint: str, snapshot_digest: str | None
    ) -> tuple[StoredRelease, bool] | None:
        """(stored release, found by id?) or None; raises QueryIdReused for a reused id."""
        row = conn.execute("SELECT fingerprint, release_id FROM query_ids WHERE query_id = ?", (query_id,)).fetchone()
        if row is not None:
            if row[0] != fingerprint:
                raise QueryIdReused(query_id, row[0], fingerprint)
            stored = _load_release(conn, "r.id = ?", (row[1],))
            if stored is None:  # only a ledger edited outside this store has an id without its release
                raise LedgerError(
                    f"query id {query_id!r} is recorded against release {row[1]}, which is not in the ledger: "
                    "the ledger was altered outside the node; check it with `lsi audit verify`"
                )
            return stored, True
        if snapshot_digest is None:
            return None
        found = _load_release(conn, "r.fingerprint = ? AND r.snapshot_digest = ?", (fingerprint, snapshot_digest))
        return None if found is None else (found, False)

    def replay(self, query_id: str, fingerprint: str, snapshot_digest: str | None = None) -> StoredRelease | None:
        """Stored answer for a retried id, or for the same query on the same snapshot; None if new.

        Read-only and unaudited: the node should answer through charge_and_release, which replays too and
        audits the replay under the caller's name.
        """
        with self._reading() as conn:
            found = self._find(conn, query_id, fingerprint, snapshot_digest)
        return None if found is None else found[0]

    # -- charging -----------------------------------------------------------------------------------

    def charge_and_release(self, request: ReleaseRequest, render: Render) -> StoredRelease:
        """Charge what the draws cost, run them, render and audit, in one transaction; a replay costs nothing.

        The charge is derived here from OpenDP's map of the draws, before the lock. render() runs inside the
        transaction after the charge (it must be quick and must not call back into this store) and returns the
        serialized answer; if it raises, nothing is charged.
        """
        _check_request(request)
        delta = self.policy.delta
        charge = charge_of(request.draws, delta)
        refusal: LedgerError | None = None
        with self._transaction() as conn:
            try:
                found = self._find(conn, request.query_id, request.fingerprint, request.snapshot_digest)
            except QueryIdReused as e:
                self._audit_refusal(conn, request, str(e))
                refusal = e
                found = None
            if found is not None:
                stored, by_id = found
                if not by_id:  # remember the new id, so its retries and reuse are recognised too
                    conn.execute(
                        "INSERT INTO query_ids (query_id, fingerprint, release_id) "
                        "SELECT ?, ?, id FROM releases WHERE query_id = ?",
                        (request.query_id, request.fingerprint, stored.query_id),
                    )
                self._audit(
                    conn,
                    actor=request.analyst,
                    role=request.role,
                    action="replay",
                    query_id=request.query_id,
                    canonical_query=request.canonical_query,
                    purpose=request.purpose,
                    rho=0.0,
                    epsilon=0.0,
                    detail=f"answered from the release of query {stored.query_id}; no charge",
                )
                return dataclasses.replace(stored, replayed=True)
            if refusal is None:
                policy = self._current_policy(conn)
                if policy.delta != delta:  # an IG officer changed delta since: epsilon is stated at the new one
                    charge = charge_of(request.draws, policy.delta)
                units = charge_units(charge.rho)
                refusal = self._check_limits(conn, policy, request, charge, units)
                if refusal is not None:
                    self._audit_refusal(conn, request, str(refusal))
            if refusal is None:
                return self._release(conn, request, charge, units, lambda noisy: render(Drawn(noisy, charge, policy)))
        # The refusal's audit entry is committed (its own transaction, nothing charged); now refuse.
        raise refusal

    def _audit(self, conn: sqlite3.Connection, *, action: str, time: str | None = None, **fields: Any) -> int:
        """Append a signed audit entry and count it in the day's running totals (same transaction)."""
        now = time or utc_now()
        seq = append_entry(conn, self.signer, action=action, time=now, **fields)
        if action not in COUNTED_ACTIONS:
            return seq
        conn.execute(
            "INSERT INTO daily_actions (day, action, entries) VALUES (?, ?, 1) "
            "ON CONFLICT (day, action) DO UPDATE SET entries = entries + 1",
            (now[:10], action),
        )
        return seq

    def _audit_refusal(self, conn: sqlite3.Connection, request: ReleaseRequest, reason: str) -> None:
        self._audit(
            conn,
            actor=request.analyst,
            role=request.role,
            action="refused",
            query_id=request.query_id,
            canonical_query=request.canonical_query,
            purpose=request.purpose,
            rho=0.0,
            epsilon=0.0,
            detail=reason,
        )

    def _check_limits(
        self, conn: sqlite3.Connection, policy: Policy, request: ReleaseRequest, charge: Charge, units: int
    ) -> LedgerError | None:
        for mechanism in sorted({str(d.mechanism) for d in request.draws}):
            if mechanism not in policy.allowed_mechanisms:
                return MechanismNotAllowed(
                    f"query {request.query_id!r} refused: mechanism {mechanism!r} is not allowed "
                    f"by this node's policy (allowed: {', '.join(policy.allowed_mechanisms)})"
                )
        today = utc_now()[:10]
        if not policy.period_start <= today <= policy.period_end:
            return PeriodClosed(
                f"query {request.query_id!r} refused: today ({today} UTC) is outside the privacy period "
                f"{policy.period_start} to {policy.period_end}; the IG officer must set the new period"
            )
        period = (policy.period_start, policy.period_end)
        spent_total = conn.execute(
            "SELECT COALESCE(SUM(units), 0) FROM daily_totals WHERE day BETWEEN ? AND ?", period
        ).fetchone()[0]
        limits = [("per-query cap", limit_units(policy.per_query_rho), 0)]
        cap = policy.analyst_caps.get(request.analyst)
        if cap is not None:
            spent_analyst = conn.execute(
                "SELECT COALESCE(SUM(units), 0) FROM daily_spend WHERE analyst = ? AND day BETWEEN ? AND ?",
                (request.analyst, *period),
            ).fetchone()[0]
            limits.append((f"cap for analyst {request.analyst!r}", limit_units(cap), spent_analyst))
        limits.append(
            (
                f"period total ({policy.period_start} to {policy.period_end})",
                limit_units(policy.total_rho),
                spent_total,
            )
        )
        months = sorted(set(request.months))
        if months:
            keys = [month_key(m) for m in months]
            spent_by_key = dict(
                conn.execute(
                    f"SELECT key, units FROM spend_totals WHERE key IN ({', '.join('?' * len(keys))})", keys
                ).fetchall()
            )
            month_cap = limit_units(policy.month_lifetime_rho)
            limits.extend(
                (
                    f"lifetime cap for snapshot month {m} (rho {policy.month_lifetime_rho:g} over all periods, "
                    f"never renewed)",
                    month_cap,
                    spent_by_key.get(month_key(m), 0),
                )
                for m in months
            )
        for name, limit, spent in limits:
            if spent + units > limit:
                return BudgetExceeded(request.query_id, _refusal_detail(name, units, limit, spent, policy.delta))
        return None

    def _release(
        self,
        conn: sqlite3.Connection,
        request: ReleaseRequest,
        c: Charge,
        units: int,
        render: Callable[[tuple[tuple[int, ...], ...]], bytes],
    ) -> StoredRelease:
        now = utc_now()
        conn.execute(
            "INSERT INTO charges (query_id, analyst, role, purpose, mechanism, scale, rho, rho_units, "
            "epsilon, delta, created_at, charge_date, draws) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.query_id,
                request.analyst,
                request.role,
                request.purpose,
                c.mechanism,
                c.scale,
                c.rho,
                units,
                c.epsilon,
                c.delta,
                now,
                now[:10],
                _draws_json(request.draws),
            ),
        )
        months = sorted(set(request.months))
        conn.executemany(
            "INSERT INTO charge_months (query_id, month) VALUES (?, ?)", [(request.query_id, m) for m in months]
        )
        conn.executemany(
            "INSERT INTO spend_totals (key, units) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET units = units + excluded.units",
            [(k, units) for k in (LIFETIME_KEY, *(month_key(m) for m in months))],
        )
        conn.execute(
            "INSERT INTO daily_spend (day, analyst, purpose, units, charges) VALUES (?, ?, ?, ?, 1) "
            "ON CONFLICT (day, analyst, purpose) DO UPDATE SET units = units + excluded.units, charges = charges + 1",
            (now[:10], request.analyst, request.purpose, units),
        )
        conn.execute(
            "INSERT INTO daily_totals (day, units, charges) VALUES (?, ?, 1) "
            "ON CONFLICT (day) DO UPDATE SET units = units + excluded.units, charges = charges + 1",
            (now[:10], units),
        )
        # The noise is drawn only now, after the charge is written, from the measurements the charge was mapped from.
        payload = render(run(request.draws))
        if not isinstance(payload, bytes | bytearray):
            raise TypeError(f"render() must return the serialized answer as bytes, got {type(payload).__name__}")
        cursor = conn.execute(
            "INSERT INTO releases (query_id, fingerprint, snapshot_digest, canonical_query, payload, "
            "created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                request.query_id,
                request.fingerprint,
                request.snapshot_digest,
                request.canonical_query,
                bytes(payload),
                now,
            ),
        )
        conn.execute(
            "INSERT INTO query_ids (query_id, fingerprint, release_id) VALUES (?, ?, ?)",
            (request.query_id, request.fingerprint, cursor.lastrowid),
        )
        self._audit(
            conn,
            actor=request.analyst,
            role=request.role,
            action="release",
            query_id=request.query_id,
            canonical_query=request.canonical_query,
            purpose=request.purpose,
            rho=c.rho,
            epsilon=c.epsilon,
            detail=f"{c.mechanism} scale {c.scale!r}; epsilon at delta {c.delta:g}"
            + (f"; months {','.join(months)}" if months else ""),
            time=now,
        )
        return StoredRelease(
            query_id=request.query_id, payload=bytes(payload), charge=c, created_at=now, replayed=False
        )

    def head(self, known_seq: int = 0) -> LedgerHead:
        """Audit head, lifetime spend and the entry hash at `known_seq`, read together (for a signed receipt)."""
        with self._reading() as conn:
            row = conn.execute("SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            seq, head_hash = row if row is not None else (0, "")
            spent = conn.execute("SELECT units FROM spend_totals WHERE key = ?", (LIFETIME_KEY,)).fetchone()
            known = (
                conn.execute("SELECT entry_hash FROM audit_log WHERE seq = ?", (known_seq,)).fetchone()
                if known_seq > 0
                else None
            )
        return LedgerHead(
            seq=seq,
            head_hash=head_hash,
            spent_units=spent[0] if spent else 0,
            known_seq=max(known_seq, 0),
            known_hash=known[0] if known else "",
        )

    def month_spent(self, month: str) -> float:
        """Rho charged to one snapshot month over every period (its lifetime spend)."""
        with self._reading() as conn:
            row = conn.execute("SELECT units FROM spend_totals WHERE key = ?", (month_key(month),)).fetchone()
        return _rho(row[0]) if row else 0.0

    # -- reporting ----------------------------------------------------------------------------------

    def spent(self, period: tuple[str, str] | None = None, *, detail: bool = True) -> BudgetSummary:
        """Budget spent in a period (default: the policy's current period), with breakdowns if `detail`."""
        with self._reading() as conn:
            policy = self._current_policy(conn)
            start, end = period if period is not None else (policy.period_start, policy.period_end)
            total_units, count = conn.execute(
                "SELECT COALESCE(SUM(units), 0), COALESCE(SUM(charges), 0) FROM daily_totals WHERE day BETWEEN ? AND ?",
                (start, end),
            ).fetchone()
            where = "FROM daily_spend WHERE day BETWEEN ? AND ?"
            by_analyst, queries_by_analyst = _breakdown(conn, "analyst", where, start, end) if detail else ({}, {})
            by_purpose, queries_by_purpose = _breakdown(conn, "purpose", where, start, end) if detail else ({}, {})
            # Audit times are ISO timestamps; a date range covers them by comparing with the day after the end.
            actions = dict(
                conn.execute(
                    "SELECT action, SUM(entries) FROM daily_actions WHERE day BETWEEN ? AND ? GROUP BY action",
                    (start, end),
                )
            )
        limit = limit_units(policy.total_rho)
        remaining = max(limit - total_units, 0)
        return BudgetSummary(
            period_start=start,
            period_end=end,
            delta=policy.delta,
            total_rho=_rho(limit),
            spent_rho=_rho(total_units),
            remaining_rho=_rho(remaining),
            releases=count,
            by_analyst=by_analyst,
            by_purpose=by_purpose,
            queries_by_analyst=queries_by_analyst,
            queries_by_purpose=queries_by_purpose,
            replays=actions.get("replay", 0),
            refusals=actions.get("refused", 0),
            per_query_rho=policy.per_query_rho,
        )

    def history(self, since: str, limit: int) -> list[tuple[str, str, str, float, int]]:
        """(day, analyst, purpose, rho, charges) from `since` (YYYY-MM-DD) on, oldest first; the newest `limit` rows
        (the daily running totals: one indexed read, however many charges lie behind them)."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT day, analyst, purpose, units, charges FROM daily_spend WHERE day >= ? "
                "ORDER BY day DESC, units DESC, analyst, purpose LIMIT ?",
                (since, limit),
            ).fetchall()
        return [(d, analyst, purpose, _rho(units), n) for d, analyst, purpose, units, n in reversed(rows)]


def rebuild_daily_totals(conn: sqlite3.Connection) -> None:
    """Recompute every daily running total from the charges and the audit log (recovery; history forged in tests)."""
    for table, fill in DAILY_TABLES:
        conn.execute(f"DELETE FROM {table}")
        conn.execute(fill)


def _database(path: Path | StateDatabase) -> StateDatabase:
    return state_at(Path(path)) if isinstance(path, str | Path) else path


def migrate_schema(conn: sqlite3.Connection, label: str = "") -> None:
    """Bring the audit log and the ledger up to this code's schema (inside a write transaction)."""
    migrate_audit(conn, label)
    migrate(conn, "ledger", MIGRATIONS, label)


def _breakdown(
    conn: sqlite3.Connection, column: str, where: str, start: str, end: str
) -> tuple[dict[str, float], dict[str, int]]:
    """Rho spent and queries charged per value of `column` (analyst or purpose)."""
    rows = conn.execute(
        f"SELECT {column}, SUM(units), SUM(charges) {where} GROUP BY {column} ORDER BY {column}", (start, end)
    ).fetchall()
    return {k: _rho(units) for k, units, _ in rows}, {k: n for k, _, n in rows}


def _load_release(conn: sqlite3.Connection, where: str, args: tuple) -> StoredRelease | None:
    row = conn.execute(
        "SELECT r.query_id, r.payload, r.created_at, c.rho, c.epsilon, c.delta, c.mechanism, c.scale "
        f"FROM releases r JOIN charges c ON c.query_id = r.query_id WHERE {where}",
        args,
    ).fetchone()
    if row is None:
        return None
    charge = Charge(rho=row[3], epsilon=row[4], delta=row[5], mechanism=row[6], scale=row[7])
    return StoredRelease(query_id=row[0], payload=bytes(row[1]), charge=charge, created_at=row[2], replayed=True)


def _refusal_detail(limit_name: str, units: int, limit: int, spent: int, delta: float) -> BudgetExceededDetail:
    # Epsilon figures are increases in the cumulative epsilon at delta, so they compare like the rho
    # figures do: the request fits exactly when its increase is within what remains.
    spent_eps = rho_to_epsilon(_rho(spent), delta)
    return BudgetExceededDetail(
        limit=limit_name,
        requested_rho=_rho(units),
        remaining_rho=_rho(max(limit - spent, 0)),
        requested_epsilon=rho_to_epsilon(_rho(spent + units), delta) - spent_eps,
        remaining_epsilon=max(rho_to_epsilon(_rho(max(limit, spent)), delta) - spent_eps, 0.0),
        delta=delta,
    )


def _check_not_below_spent(conn: sqlite3.Connection, policy: Policy) -> None:
    """Refuse a policy whose limits are already spent past: it would state a budget the ledger has broken."""
    spent = conn.execute(
        "SELECT COALESCE(SUM(units), 0) FROM daily_totals WHERE day BETWEEN ? AND ?",
        (policy.period_start, policy.period_end),
    ).fetchone()[0]
    if limit_units(policy.total_rho) < spent:
        raise PolicyError(
            "total_rho",
            f"rho {policy.total_rho:g} is below the rho {_rho(spent):.6g} already spent in "
            f"{policy.period_start} to {policy.period_end}; a total cannot be lowered below what is spent "
            f"(nothing was changed)",
        )
    row = conn.execute(
        "SELECT key, units FROM spend_totals WHERE key LIKE 'month:%' ORDER BY units DESC LIMIT 1"
    ).fetchone()
    if row is not None and limit_units(policy.month_lifetime_rho) < row[1]:
        raise PolicyError(
            "month_lifetime_rho",
            f"rho {policy.month_lifetime_rho:g} is below the rho {_rho(row[1]):.6g} already charged to snapshot "
            f"month {row[0].removeprefix('month:')}; a cap cannot be lowered below what is spent "
            f"(nothing was changed)",
        )


def _draws_json(draws: tuple[Draw, ...]) -> str:
    """What a charge paid for, as the store ran it: never the exact cells, only how many there were."""
    return json.dumps(
        [
            {
                "mechanism": str(d.mechanism),
                "scale": d.scale,
                "l1": float(d.sensitivity.l1),
                "l2": d.sensitivity.l2,
                "cells": len(d.exact),
            }
            for d in draws
        ]
    )


def _check_request(request: ReleaseRequest) -> None:
    if not request.draws or not all(isinstance(d, Draw) for d in request.draws):
        raise ValueError(f"query {request.query_id!r}: a release request needs its draws (privacy.draw.Draw)")
    for name in ("query_id", "fingerprint", "snapshot_digest", "analyst", "role", "canonical_query"):
        value = getattr(request, name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"release request field {name!r} must be a non-empty string, got {value!r}")
    if not isinstance(request.purpose, str):
        raise ValueError("release request field 'purpose' must be a string")
