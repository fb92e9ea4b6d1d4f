"""Opaque snapshot versions: what a release says about the data it came from, instead of the file's digest.

A file digest is a function of every household's record, so a hash of a candidate file can be tested against
it. A version ("2025-10.v1") is the month and a counter the node assigns the first time it sees a file for
that month, kept in the node's state database: a restart over the same file gives the same version, a
replaced file the next one. It tells the county only that the district's data for the month changed.
"""

from __future__ import annotations

from pathlib import Path

from privacy.audit import utc_now
from privacy.migrations import Migration, migrate
from privacy.statedb import state_at

_SCHEMA = """CREATE TABLE IF NOT EXISTS snapshot_versions (
    month TEXT NOT NULL,
    digest TEXT NOT NULL,
    number INTEGER NOT NULL CHECK (number > 0),
    first_seen TEXT NOT NULL,
    PRIMARY KEY (month, digest),
    UNIQUE (month, number)
)"""
# Numbered; append only. Version 1 is the schema as it stood before versions were recorded (idempotent).
MIGRATIONS = (Migration(1, "snapshot files seen, by month", (_SCHEMA,)),)


def version_label(month: str, number: int) -> str:
    """The version's public text, e.g. 2025-10.v1."""
    return f"{month}.v{number}"


class SnapshotVersions:
    """The node's register of snapshot files seen, by month; safe to share across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = state_at(self.path)  # shared with the ledger: one connection per process
        with self.db.transaction() as conn:
            migrate(conn, "snapshot_versions", MIGRATIONS, str(self.path))

    def version(self, month: str, digest: str) -> str:
        """The version of the file with this digest for this month, assigning the next number if it is new."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT number FROM snapshot_versions WHERE month = ? AND digest = ?", (month, digest)
            ).fetchone()
            if row is None:
                (last,) = conn.execute(
                    "SELECT COALESCE(MAX(number), 0) FROM snapshot_versions WHERE month = ?", (month,)
                ).fetchone()
                row = (last + 1,)
                conn.execute(
                    "INSERT INTO snapshot_versions (month, digest, number, first_seen) VALUES (?, ?, ?, ?)",
                    (month, digest, row[0], utc_now()),
                )
        return version_label(month, int(row[0]))
