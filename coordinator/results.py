"""The coordinator's result store: every federated result kept by query id, so a retry gets the same answer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from privacy.statedb import make_private
from protos.lsi.v1 import coordinator_pb2


class ResultStore:
    """SQLite, WAL mode; results are immutable once stored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        make_private(path)  # the county's results and the nodes' receipts: owner-only (0600)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS results (query_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, "
                "complete INTEGER NOT NULL, result BLOB NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get(self, query_id: str) -> coordinator_pb2.FederatedResult | None:
        """The stored result for a query id, if any."""
        with self._connect() as db:
            row = db.execute("SELECT result FROM results WHERE query_id = ?", (query_id,)).fetchone()
        return coordinator_pb2.FederatedResult.FromString(row[0]) if row else None

    def put(self, result: coordinator_pb2.FederatedResult) -> None:
        """Keep a result; an incomplete one may later be replaced by a complete retry."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO results VALUES (?, ?, ?, ?) ON CONFLICT(query_id) DO UPDATE SET "
                "created_at = excluded.created_at, complete = excluded.complete, result = excluded.result "
                "WHERE results.complete = 0",
                (result.query_id, result.created_at, int(result.complete), result.SerializeToString()),
            )
