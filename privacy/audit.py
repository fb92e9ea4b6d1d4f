"""Append-only, tamper-evident audit log, kept in the node's privacy database (table ``audit_log``).

Each entry holds the hash of the one before it and is signed with the node's Ed25519 key, so editing a
row breaks its hash, deleting a row leaves a gap in ``seq`` and breaks the next ``prev_hash``, and a forger
without the key cannot re-sign a rewritten chain. Deleting entries at the very end leaves no gap; the
verifier therefore also checks that every charge in the ledger has its audit entry, and governance reports
should record the head (entries, last hash) so a later check can compare.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from privacy.migrations import Migration, migrate

GENESIS_HASH = "0" * 64
ACTIONS = (
    "release",
    "replay",
    "policy_change",
    "refused",
    "campaign_create",
    "campaign_outcomes",
    "recovery",
)

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    query_id TEXT,
    canonical_query TEXT,
    purpose TEXT,
    rho REAL,
    epsilon REAL,
    detail TEXT,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL,
    signature TEXT NOT NULL
)
"""
# The fields the hash covers, in order; entry_hash and signature are derived from them.
HASHED_FIELDS = (
    "seq",
    "time",
    "actor",
    "role",
    "action",
    "query_id",
    "canonical_query",
    "purpose",
    "rho",
    "epsilon",
    "detail",
    "prev_hash",
)


class AuditKeyError(RuntimeError):
    """The node's signing key cannot be used safely."""


class AuditSigner:
    """The node's Ed25519 audit-signing key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def generate(cls) -> AuditSigner:
        """A fresh in-memory key (for tests and first start)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> AuditSigner:
        """Load the PEM key at path, or create it there with mode 0600."""
        path = Path(path)
        if not path.exists():
            signer = cls.generate()
            pem = signer._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return cls.load_or_create(path)  # another process created it first: use theirs
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            return signer
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AuditKeyError(
                f"audit signing key {path} is readable by other users (mode {mode:o}); "
                f"restrict it with: chmod 600 {path}"
            )
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as e:
            raise AuditKeyError(f"audit signing key {path} is not a readable PEM private key: {e}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditKeyError(f"audit signing key {path} is not an Ed25519 key")
        return cls(key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The key that verifies this node's audit entries."""
        return self._key.public_key()

    def public_key_pem(self) -> bytes:
        """The public key as PEM, for `lsi audit verify` elsewhere."""
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature over data."""
        return self._key.sign(data)


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of checking the audit chain; first_bad_seq names the first entry that fails."""

    ok: bool
    entries: int
    first_bad_seq: int | None
    reason: str


def utc_now() -> str:
    """Current UTC time as ISO 8601 with microseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def entry_hash(fields: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of an entry's hashed fields (prev_hash included)."""
    canonical = json.dumps(
        {k: fields[k] for k in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the audit table if this database has none, at this code's schema version."""
    migrate_audit(conn)


def migrate_audit(conn: sqlite3.Connection, label: str = "") -> None:
    """Bring the audit log up to this code's schema (inside a write transaction)."""
    migrate(conn, "audit", (Migration(1, "signed, hash-chained audit log", (AUDIT_SCHEMA,)),), label)


def append_entry(
    conn: sqlite3.Connection,
    signer: AuditSigner,
    *,
    actor: str,
    role: str,
    action: str,
    query_id: str | None = None,
    canonical_query: str | None = None,
    purpose: str | None = None,
    rho: float | None = None,
    epsilon: float | None = None,
    detail: str | None = None,
    time: str | None = None,
) -> int:
    """Append a signed entry inside the caller's write transaction; returns its seq."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; expected one of {ACTIONS}")
    if not conn.in_transaction:
        # Reading the head and appending must be atomic, or two writers could fork the chain.
        raise RuntimeError("append_entry must run inside a BEGIN IMMEDIATE transaction")
    head = conn.execute("SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    fields: dict[str, Any] = {
        "seq": seq,
        "time": time or utc_now(),
        "actor": actor,
        "role": role,
        "action": action,
        "query_id": query_id,
        "canonical_query": canonical_query,
        "purpose": purpose,
        "rho": None if rho is None else float(rho),
        "epsilon": None if epsilon is None else float(epsilon),
        "detail": detail,
        "prev_hash": prev,
    }
    digest = entry_hash(fields)
    signature = signer.sign(bytes.fromhex(digest)).hex()
    conn.execute(
        f"INSERT INTO audit_log ({', '.join(HASHED_FIELDS)}, entry_hash, signature) "
        f"VALUES ({', '.join('?' * (len(HASHED_FIELDS) + 2))})",
        [fields[k] for k in HASHED_FIELDS] + [digest, signature],
    )
    return seq


def _public_key(key: Ed25519PublicKey | bytes | Path) -> Ed25519PublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    pem = Path(key).read_bytes() if isinstance(key, Path) else key
    loaded = serialization.load_pem_public_key(pem)
    if not isinstance(loaded, Ed25519PublicKey):
        raise AuditKeyError("the audit public key is not an Ed25519 key")
    return loaded


def _open_readonly(db_path: Path) -> sqlite3.Connection:
    if not Path(db_path).exists():
        raise FileNotFoundError(f"privacy database {db_path} does not exist")
    conn = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def verify_chain(db_path: Path, public_key: Ed25519PublicKey | bytes | Path) -> VerifyReport:
    """Check seq continuity, hash links, entry hashes and signatures; name the first bad entry."""
    key = _public_key(public_key)
    conn = _open_readonly(db_path)
    try:
        rows = conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
        signed_from = _key_replaced_at(rows)
        prev, expected_seq = GENESIS_HASH, 1
        for row in rows:
            seq = row["seq"]
            if seq != expected_seq:
                return VerifyReport(
                    False,
                    len(rows),
                    expected_seq,
                    f"entry {expected_seq} is missing (deleted?): next entry is {seq}",
                )
            if row["prev_hash"] != prev:
                return VerifyReport(
                    False,
                    len(rows),
                    seq,
                    f"entry {seq} does not link to entry {seq - 1} (prev_hash mismatch)",
                )
            fields = {k: row[k] for k in HASHED_FIELDS}
            if entry_hash(fields) != row["entry_hash"]:
                return VerifyReport(
                    False, len(rows), seq, f"entry {seq} was altered after it was written (hash mismatch)"
                )
            try:
                if seq >= signed_from:
                    key.verify(bytes.fromhex(row["signature"]), bytes.fromhex(row["entry_hash"]))
            except (InvalidSignature, ValueError):
                return VerifyReport(
                    False, len(rows), seq, f"entry {seq} has a bad signature (not signed by this node's key)"
                )
            prev, expected_seq = row["entry_hash"], seq + 1
        missing = _charges_without_audit(conn)
        if missing:
            return VerifyReport(
                False,
                len(rows),
                None,
                f"charge for query {missing} has no release entry in the audit log "
                f"(audit entries removed from the end?)",
            )
        return VerifyReport(True, len(rows), None, f"{len(rows)} entries verified")
    finally:
        conn.close()


def _key_replaced_at(rows: list[sqlite3.Row]) -> int:
    """Seq of the last audited recovery that replaced a lost key (1 if none).

    Entries before it were signed by the lost key: their hash chain is still checked, their signatures cannot
    be. The recovery entry is signed by the new key, and the coordinator pins the key it first saw, so a forged
    "recovery" still needs the current key and still shows as a changed key to the county."""
    for row in reversed(rows):
        if row["action"] == "recovery":
            try:
                if json.loads(row["detail"] or "{}").get("new_key"):
                    return int(row["seq"])
            except (ValueError, AttributeError):
                continue
    return 1


def _charges_without_audit(conn: sqlite3.Connection) -> str | None:
    has_charges = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'charges'").fetchone()
    if not has_charges:
        return None
    row = conn.execute(
        "SELECT c.query_id FROM charges c WHERE NOT EXISTS (SELECT 1 FROM audit_log a "
        "WHERE a.action = 'release' AND a.query_id = c.query_id) ORDER BY c.id LIMIT 1"
    ).fetchone()
    return None if row is None else row[0]


_CSV_FIELDS = (*HASHED_FIELDS, "entry_hash", "signature")
_TEXT_FIELDS = {"time", "actor", "role", "action", "query_id", "canonical_query", "purpose", "detail"}


def _spreadsheet_safe(value: Any) -> Any:
    # Analysts write the purpose text; a cell starting with = + - @ would run as a formula in Excel.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_csv(db_path: Path, out: Path | TextIO) -> int:
    """Write the audit log as CSV for governance reports; returns the number of entries."""
    conn = _open_readonly(db_path)
    try:
        rows = conn.execute(f"SELECT {', '.join(_CSV_FIELDS)} FROM audit_log ORDER BY seq").fetchall()
    finally:
        conn.close()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_CSV_FIELDS)
    for row in rows:
        writer.writerow([_spreadsheet_safe(row[k]) if k in _TEXT_FIELDS else row[k] for k in _CSV_FIELDS])
    if isinstance(out, str | Path):
        Path(out).write_text(buffer.getvalue(), encoding="utf-8", newline="")
    else:
        out.write(buffer.getvalue())
    return len(rows)
