"""The coordinator's result store: every federated result kept by query id, so a retry gets the same answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from privacy.migrations import Migration, migrate
from privacy.statedb import state_at
from protos.lsi.v1 import coordinator_pb2

# Numbered; append only. Version 1 is the schema as it stood before versions were recorded (idempotent).
MIGRATIONS = (
    Migration(
        1,
        "federated results by query id",
        (
            "CREATE TABLE IF NOT EXISTS results (query_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, "
            "complete INTEGER NOT NULL, result BLOB NOT NULL)",
        ),
    ),
)


class ResultStore:
    """SQLite (WAL, owner-only: the county's results and the nodes' receipts); results are immutable once stored."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = state_at(self.path)  # the process's one connection to this file, shared with the receipt book
        with self.db.transaction() as conn:
            migrate(conn, "results", MIGRATIONS, str(self.path))

    def get(self, query_id: str) -> coordinator_pb2.FederatedResult | None:
        """The stored result for a query id, if any."""
        with self.db.transaction(write=False) as conn:
            row = conn.execute("SELECT result FROM results WHERE query_id = ?", (query_id,)).fetchone()
        return coordinator_pb2.FederatedResult.FromString(row[0]) if row else None

    def put(self, result: coordinator_pb2.FederatedResult) -> None:
        """Keep a result; an incomplete one may later be replaced by a complete retry."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO results VALUES (?, ?, ?, ?) ON CONFLICT(query_id) DO UPDATE SET "
                "created_at = excluded.created_at, complete = excluded.complete, result = excluded.result "
                "WHERE results.complete = 0",
                (result.query_id, result.created_at, int(result.complete), result.SerializeToString()),
            )

    def newest(
        self, prefix: str, limit: int, readable: Callable[[coordinator_pb2.FederatedResult], bool]
    ) -> list[coordinator_pb2.FederatedResult]:
        """Up to `limit` stored results whose ids start with `prefix` and that `readable` allows, newest first."""
        out: list[coordinator_pb2.FederatedResult] = []
        for result in self._with_prefix(prefix):
            if readable(result):
                out.append(result)
                if len(out) >= limit:
                    break
        return out

    def _with_prefix(self, prefix: str) -> Iterator[coordinator_pb2.FederatedResult]:
        # substr, not LIKE: a prefix is matched literally, whatever '%' or '_' it holds.
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT result FROM results WHERE substr(query_id, 1, ?) = ? ORDER BY created_at DESC, rowid DESC",
                (len(prefix), prefix),
            ).fetchall()
        return (coordinator_pb2.FederatedResult.FromString(r[0]) for r in rows)
