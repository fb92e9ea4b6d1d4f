"""The coordinator's record of each node's signed ledger receipts: a reset, rewound or re-keyed ledger shows.

Certificate Transparency's signed tree heads are the model. The coordinator pins a node's audit key the first
time it sees it and keeps every receipt head it accepts. With each query it tells the node the last seq it saw
(gRPC metadata ``lsi-receipt-seq``) and the node signs its entry hash at that seq into the receipt, so the
coordinator can check that the node's chain still contains the head it saw: a deleted ledger, a tail of
entries deleted with their charges, or a rewritten history all fail that check. Accepting a recovered node is
county IT's decision, and is recorded in the same database.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.fanout import NodePool, NodeReply
from privacy.audit import utc_now
from privacy.migrations import Migration, migrate
from privacy.receipt import signature_ok
from privacy.statedb import SqliteState, state_at
from protos.lsi.v1 import query_pb2

METADATA_KEY = "lsi-receipt-seq"
RECOVER = (
    "the district's IG officer must check and recover the node (lsi node recover), then county IT accept it "
    "(lsi coordinator accept-node)"
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS node_keys (district_code TEXT PRIMARY KEY, public_key BLOB NOT NULL, "
    "pinned_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS node_receipts (district_code TEXT NOT NULL, seq INTEGER NOT NULL, "
    "head_hash TEXT NOT NULL, spent_units INTEGER NOT NULL, issued_at TEXT NOT NULL, "
    "PRIMARY KEY (district_code, seq))",
    "CREATE TABLE IF NOT EXISTS receipt_events (id INTEGER PRIMARY KEY, time TEXT NOT NULL, "
    "district_code TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL)",
)
# The highest receipt seq accepted from one node: read off the primary key (district_code, seq), never a scan.
LATEST_SEQ = "SELECT MAX(seq) FROM node_receipts WHERE district_code = ?"
# Numbered; append only. Version 1 is the schema as it stood before versions were recorded (idempotent).
MIGRATIONS = (Migration(1, "pinned node keys, accepted receipt heads, acceptance events", _SCHEMA),)


@dataclass(frozen=True)
class Seen:
    """One receipt head the coordinator accepted."""

    seq: int
    head_hash: str
    spent_units: int
    issued_at: str


@dataclass
class _Held:
    """Each node's pinned key and latest accepted receipt as the database holds them, read once and then kept.

    A county query checks twelve receipts; reading the key and the latest head of each from SQLite was most of
    the check's statements. The copy is valid for one connection while no other connection has committed (SQLite's
    data_version): `lsi coordinator accept-node` in another process, or a reopened file, empties it."""

    connection: sqlite3.Connection | None = None
    version: int = -1
    keys: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    latest: dict[str, Seen | None] = field(default_factory=dict)


# One copy per state database (every ReceiptBook on a file shares its SqliteState, and so this).
_HELD: weakref.WeakKeyDictionary[SqliteState, _Held] = weakref.WeakKeyDictionary()


class ReceiptBook:
    """Pinned audit keys and accepted receipt heads per node, in the coordinator's state database."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = state_at(self.path)  # owner-only, WAL; shared with the result store on the same file
        with self.db.transaction() as conn:
            migrate(conn, "receipts", MIGRATIONS, str(self.path))
        self._held = _HELD.setdefault(self.db, _Held())

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction in which the kept copy is current; the copy is dropped if the transaction fails."""
        try:
            with self.db.transaction(write=write) as conn:
                version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                held = self._held
                if held.connection is not conn or held.version != version:
                    held.connection, held.version = conn, version
                    held.keys.clear()
                    held.latest.clear()
                yield conn
        except BaseException:
            self._forget()
            raise

    def _forget(self) -> None:
        self._held.keys.clear()
        self._held.latest.clear()
        self._held.connection = None

    def _latest(self, conn: sqlite3.Connection, code: str) -> Seen | None:
        held = self._held.latest
        if code not in held:
            held[code] = _newest(conn, code)
        return held[code]

    def known_seq(self, code: str) -> int:
        """The highest seq accepted from a node (0 before its first receipt): sent with the next query."""
        return self.known_seqs([code])[code]

    def known_seqs(self, codes: list[str]) -> dict[str, int]:
        """known_seq for several nodes in one read."""
        # One indexed MAX per node (SQLite reads it off the primary key), and only for a node not read before.
        with self._transaction(write=False) as conn:
            out = {}
            for code in codes:
                latest = self._latest(conn, code)
                out[code] = 0 if latest is None else latest.seq
            return out

    def check(self, code: str, receipt: query_pb2.Receipt) -> str | None:
        """Record a node's receipt if its ledger extends what was seen before; else the reason to refuse it."""
        return self.check_all([(code, receipt)])[0]

    def check_all(self, receipts: list[tuple[str, query_pb2.Receipt]]) -> list[str | None]:
        """check() for the receipts of one county query, in one transaction (one commit, not one per district)."""
        reasons: list[str | None] = [_unsigned(code, receipt) for code, receipt in receipts]
        with self._transaction() as conn:
            for i, (code, receipt) in enumerate(receipts):
                if reasons[i] is not None:
                    continue
                latest = self._latest(conn, code)
                reasons[i] = self._pin(conn, code, receipt) or extension_problem(conn, code, receipt, latest)
                if reasons[i] is None:
                    conn.execute(
                        "INSERT OR IGNORE INTO node_receipts VALUES (?, ?, ?, ?, ?)",
                        (code, receipt.seq, receipt.head_hash, receipt.spent_units, receipt.issued_at),
                    )
                    if latest is None or receipt.seq > latest.seq:
                        self._held.latest[code] = Seen(
                            receipt.seq, receipt.head_hash, receipt.spent_units, receipt.issued_at
                        )
        return reasons

    def _pin(self, conn: sqlite3.Connection, code: str, receipt: query_pb2.Receipt) -> str | None:
        """Pin the node's audit key on first sight; afterwards, why a receipt signed by another key is refused."""
        held = self._held.keys
        if code not in held:
            row = conn.execute(
                "SELECT public_key, pinned_at FROM node_keys WHERE district_code = ?", (code,)
            ).fetchone()
            if row is None:
                pinned_at = utc_now()
                conn.execute("INSERT INTO node_keys VALUES (?, ?, ?)", (code, receipt.public_key, pinned_at))
                row = (receipt.public_key, pinned_at)
            held[code] = (bytes(row[0]), str(row[1]))
        key, pinned_at = held[code]
        if key != receipt.public_key:
            return (
                f"its ledger is signed by a different audit key from the one first seen on {pinned_at}: possible "
                f"reset or replaced key; {RECOVER}"
            )
        return None

    def accept_node(self, code: str, actor: str, reason: str) -> None:
        """Forget a node's pinned key and receipts after a recovery, recording who accepted it and why."""
        if not actor.strip() or not reason.strip():
            raise ValueError("accepting a recovered node needs who accepts it (--by) and why (--reason)")
        with self._transaction() as conn:
            self._forget()  # shared by every book on this database: none may keep the forgotten key or heads
            latest = _newest(conn, code)
            was = (
                f"last receipt seq {latest.seq}, spent {latest.spent_units} units, {latest.issued_at}"
                if latest
                else "no receipt on record"
            )
            conn.execute("DELETE FROM node_keys WHERE district_code = ?", (code,))
            conn.execute("DELETE FROM node_receipts WHERE district_code = ?", (code,))
            conn.execute(
                "INSERT INTO receipt_events (time, district_code, actor, action, detail) "
                "VALUES (?, ?, ?, 'accept_recovered', ?)",
                (utc_now(), code, actor, f"{reason} ({was})"),
            )

    def events(self, code: str) -> list[tuple[str, str, str, str]]:
        """(time, actor, action, detail) of every acceptance recorded for a node."""
        with self.db.transaction(write=False) as conn:
            return conn.execute(
                "SELECT time, actor, action, detail FROM receipt_events WHERE district_code = ? ORDER BY id", (code,)
            ).fetchall()


def _unsigned(code: str, receipt: query_pb2.Receipt) -> str | None:
    if not receipt.signature:
        return f"sent no signed ledger receipt, so its ledger cannot be checked; {RECOVER}"
    if receipt.district_code != code:
        return f"sent a ledger receipt for district {receipt.district_code!r}, not {code}"
    if not signature_ok(receipt):
        return "sent a ledger receipt whose signature does not verify"
    return None


def _seen(conn: sqlite3.Connection, code: str, where: str, *args: object) -> Seen | None:
    row = conn.execute(
        f"SELECT seq, head_hash, spent_units, issued_at FROM node_receipts WHERE district_code = ? AND {where}",
        (code, *args),
    ).fetchone()
    return Seen(*row) if row else None


def _newest(conn: sqlite3.Connection, code: str) -> Seen | None:
    """The newest receipt kept from a node, read off the primary key (LATEST_SEQ)."""
    return _seen(conn, code, f"seq = ({LATEST_SEQ})", code)


_UNREAD = Seen(-1, "", -1, "")


def extension_problem(
    conn: sqlite3.Connection, code: str, receipt: query_pb2.Receipt, latest: Seen | None = _UNREAD
) -> str | None:
    """Why a node's receipt does not extend the receipts kept from it (reset, rewrite or edit), or None.

    `latest` is the newest receipt kept from the node, if the caller has already read it."""
    if latest is _UNREAD:
        latest = _newest(conn, code)
    if latest is None:
        return None
    # known_seq 0 means the query left before any receipt from this node was on record (concurrent first queries):
    # there is no anchor to check, but it must still fit between its neighbours below.
    first_contact = receipt.known_seq == 0
    if receipt.known_seq == latest.seq:
        known: Seen | None = latest  # the usual case: the node answers the seq most recently accepted from it
    else:
        known = _seen(conn, code, "seq = ?", receipt.known_seq) if receipt.known_seq > 0 else None
    if not first_contact and (
        known is None or receipt.known_hash != known.head_hash or receipt.seq < receipt.known_seq
    ):
        basis = known or latest
        return f"ledger does not extend the receipt of {basis.issued_at} (seq {basis.seq}): possible reset; {RECOVER}"
    same: Seen | None
    before: Seen | None
    after: Seen | None
    if receipt.seq > latest.seq:
        # The usual case, a receipt newer than any kept: nothing at its seq or after it, and the latest is before it.
        same, before, after = None, latest, None
    else:
        same = _seen(conn, code, "seq = ?", receipt.seq)
        before = _seen(
            conn,
            code,
            "seq = (SELECT MAX(seq) FROM node_receipts WHERE district_code = ? AND seq < ?)",
            code,
            receipt.seq,
        )
        after = _seen(
            conn,
            code,
            "seq = (SELECT MIN(seq) FROM node_receipts WHERE district_code = ? AND seq > ?)",
            code,
            receipt.seq,
        )
    if same is not None and (same.head_hash != receipt.head_hash or same.spent_units != receipt.spent_units):
        return f"ledger rewrote entry {receipt.seq} since the receipt of {same.issued_at}: {RECOVER}"
    if (before and receipt.spent_units < before.spent_units) or (after and receipt.spent_units > after.spent_units):
        edited = before if before and receipt.spent_units < before.spent_units else after
        assert edited is not None
        return (
            f"ledger's cumulative spend does not match the receipt of {edited.issued_at} (seq {edited.seq}): "
            f"possible edit; {RECOVER}"
        )
    return None


def check_receipts(
    book: ReceiptBook,
    pool: NodePool,
    codes: list[str],
    query: query_pb2.Query,
    deadline: float,
    on_start: Callable[[list], None] | None = None,
) -> list[NodeReply]:
    """Ask each node, telling it the seq last seen from it; a node whose receipt fails shows as missing."""
    seqs = book.known_seqs(codes)
    replies = pool.call(
        codes, "Query", query, deadline, metadata=lambda code: ((METADATA_KEY, str(seqs[code])),), on_start=on_start
    )
    answered = [r for r in replies if r.message is not None and _answered_seq(r, seqs) is None]
    verdicts = dict(
        zip(
            [id(r) for r in answered],
            book.check_all([(r.entry.district_code, r.message.receipt) for r in answered if r.message is not None]),
            strict=True,
        )
    )
    checked = []
    for reply in replies:
        if reply.message is None:
            checked.append(reply)
            continue
        reason = _answered_seq(reply, seqs) or verdicts[id(reply)]
        checked.append(
            reply if reason is None else NodeReply(reply.entry, None, code="FAILED_PRECONDITION", error=reason)
        )
    return checked


def _answered_seq(reply: NodeReply, seqs: dict[str, int]) -> str | None:
    """Why a receipt does not answer the seq this coordinator sent (so a 0, 'no anchor', is only ever ours)."""
    asked = seqs[reply.entry.district_code]
    got = reply.message.receipt.known_seq  # type: ignore[union-attr]
    if got != asked:
        return f"its ledger receipt answers seq {got}, but the coordinator sent seq {asked}; {RECOVER}"
    return None
