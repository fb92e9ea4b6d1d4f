"""The node's state database (SQLite, WAL): one way to open it and one way to run a transaction in it.

The ledger, release store, audit log and campaigns share this file, so they must agree on how it is opened."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_MODE = 0o600
_SIDE_FILES = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Create the database file owner-only (0600) if absent, and tighten it and its side files if present.

    The file holds the release store and audit log: no other local user may read it. SQLite gives -wal and -shm
    the main file's mode when it creates them, so creating the main file 0600 first covers them too."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    for file in (path, *(path.with_name(path.name + s) for s in _SIDE_FILES)):
        try:
            if file.stat().st_mode & 0o777 != PRIVATE_MODE:
                os.chmod(file, PRIVATE_MODE)
        except FileNotFoundError:
            continue


def connect(path: Path) -> sqlite3.Connection:
    """A new connection: one per call, because sqlite3 connections must not cross threads."""
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 60000")  # concurrent writers wait for the lock, not fail
    conn.execute("PRAGMA synchronous = FULL")  # a committed charge survives power loss
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def use_wal(path: Path) -> str:
    """Switch the database to write-ahead logging (it persists in the file); returns the mode now in force.

    Also makes the file and its side files owner-only, before SQLite creates them."""
    make_private(path)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
    finally:
        conn.close()
        make_private(path)


@contextmanager
def transaction(path: Path, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """A transaction that commits on success and rolls back on any exception.

    Writers take the lock at BEGIN (IMMEDIATE), so check-then-write is atomic; readers get one consistent
    snapshot however many SELECTs they run (WAL)."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()
