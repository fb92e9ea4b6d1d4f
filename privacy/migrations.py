"""Numbered schema migrations for the state databases, applied at open and recorded per component.

Several components share one file (the node's ledger, audit log, campaigns and snapshot versions), so each keeps
its own version in ``schema_versions``. Migration 1 of each component is the schema as it stood before versions
were recorded, written idempotently (``IF NOT EXISTS``), so a database from before this module opens, runs it
harmlessly and is recorded at version 1; later migrations then run once each, in order, in one transaction with
the version they reach. A database written by newer software (a higher version than this code knows) is refused,
never silently used.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

Step = str | Callable[[sqlite3.Connection], None]

_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL "
    "CHECK (version >= 0), applied_at TEXT NOT NULL)"
)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of this software."""


@dataclass(frozen=True)
class Migration:
    """One numbered change to a component's schema: SQL statements or functions, run in order."""

    version: int
    description: str
    steps: tuple[Step, ...]


def schema_version(conn: sqlite3.Connection, component: str) -> int:
    """The component's recorded version (0: never migrated, including a database from before versions)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'").fetchone():
        return 0
    row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[Migration], label: str = "") -> int:
    """Bring one component up to its latest version inside the caller's write transaction; returns that version."""
    if not conn.in_transaction:
        raise RuntimeError("migrate must run inside a write transaction")
    numbers = [m.version for m in migrations]
    if numbers != list(range(1, len(migrations) + 1)):
        raise ValueError(f"{component} migrations must be numbered 1, 2, ... without gaps, got {numbers}")
    conn.execute(_TABLE)
    current, latest = schema_version(conn, component), len(migrations)
    if current > latest:
        raise SchemaTooNew(
            f"{label or 'the database'}: its {component} schema is version {current}, written by newer software "
            f"than this (which knows up to version {latest}); upgrade the software, or restore a backup made by "
            "this version. Nothing was changed."
        )
    for migration in migrations[current:]:
        for step in migration.steps:
            if isinstance(step, str):
                conn.execute(step)
            else:
                step(conn)
        conn.execute(
            "INSERT INTO schema_versions (component, version, applied_at) VALUES (?, ?, ?) "
            "ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at",
            (component, migration.version, datetime.now(UTC).isoformat(timespec="microseconds")),
        )
    return latest


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether a table has a column (for migrations that add one)."""
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))
