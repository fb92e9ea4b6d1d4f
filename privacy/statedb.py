"""State databases (SQLite, WAL): one long-lived connection per database per process, and the one way to run a
transaction in it.

The node's ledger, release store, audit log, campaigns and snapshot versions share one file, and the coordinator's
results and receipt book another; every store on a file shares its `SqliteState`, so a node answers on one
connection instead of opening six per answer. sqlite3 connections must not be used by two threads at once, so the
connection is guarded by a re-entrant lock (check_same_thread=False). Writes are short (nothing slow runs inside
a ledger transaction); on a synthetic mix of tiny transactions from 8 threads the shared connection took 0.60 ms
per round against 0.44 ms with a connection per thread (bench/statedb_connections.py), a difference lost in a
20 ms answer, and it is simpler: no connections stranded on finished threads, one place to close. Other processes
(the CLI, a second node process) still meet SQLite's own file lock, with busy_timeout.

Stores see the database through the `StateDatabase` protocol, so a second backend could be added later without
touching them; `tests/test_statedb.py` is the conformance suite every backend must pass.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

PRIVATE_MODE = 0o600
_SIDE_FILES = ("-wal", "-shm", "-journal")
BUSY_TIMEOUT_S = 60


class StateDatabase(Protocol):
    """What a store needs from its database: transactions, and to know whether this thread holds the write lock."""

    @property
    def label(self) -> str:
        """Where the database is, for messages."""
        ...

    def transaction(self, *, write: bool = True) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A transaction that commits on success and rolls back on any exception; writers serialise."""
        ...

    def holding_write_lock(self) -> bool:
        """Whether the calling thread is inside a write transaction on this database."""
        ...

    @property
    def longest_write_hold(self) -> float:
        """The longest any write transaction has held the lock, in seconds (for benchmarks and operators)."""
        ...


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


def connect(path: Path | str, *, uri: bool = False) -> sqlite3.Connection:
    """A new connection with the pragmas every state connection needs (shareable across threads under a lock)."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False, uri=uri)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")  # concurrent writers wait for the lock, not fail
    conn.execute("PRAGMA synchronous = FULL")  # a committed charge survives power loss
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def use_wal(path: Path) -> str:
    """Switch the database to write-ahead logging (it persists in the file); returns the mode now in force.

    Also makes the file and its side files owner-only, before SQLite creates them."""
    make_private(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
    finally:
        conn.close()
        make_private(path)


class _Held(threading.local):
    write = False


class _SqliteBase:
    """One connection, a re-entrant lock around it, and transactions that record how long they held the lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._held = _Held()
        self._longest = 0.0
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        raise NotImplementedError

    @property
    def longest_write_hold(self) -> float:
        """The longest any write transaction has held the lock, in seconds."""
        return self._longest

    def holding_write_lock(self) -> bool:
        """Whether the calling thread is inside a write transaction on this database."""
        return self._held.write

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction that commits on success and rolls back on any exception.

        Writers take the lock at BEGIN (IMMEDIATE), so check-then-write is atomic; readers get one consistent
        snapshot however many SELECTs they run (WAL)."""
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:
                raise RuntimeError("a state transaction was opened inside another (a render called the store)")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            started = time.perf_counter()
            self._held.write = write
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._held.write = False
            conn.execute("COMMIT")
            if write:
                self._longest = max(self._longest, time.perf_counter() - started)

    def close(self) -> None:
        """Close the connection (a later transaction reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __del__(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()


class SqliteState(_SqliteBase):
    """A state database in a file: WAL, owner-only, one long-lived connection shared by the process's stores."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._inode: int | None = None

    @property
    def label(self) -> str:
        """The database file."""
        return str(self.path)

    def _connection(self) -> sqlite3.Connection:
        # A file deleted or replaced under a running process (an operator restoring a backup, a test resetting a
        # ledger) must not be written through a connection to the old inode: reopen on the file as it is now.
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None
        if self._conn is None or inode != self._inode:
            if self._conn is not None:
                self._conn.close()
            use_wal(self.path)
            self._conn = connect(self.path)
            self._inode = self.path.stat().st_ino
        return self._conn


class MemoryState(_SqliteBase):
    """A state database in memory (tests, throwaway runs): the same SQL, nothing on disk."""

    def __init__(self, name: str = "state") -> None:
        super().__init__()
        self.name = name

    @property
    def label(self) -> str:
        """A name for messages."""
        return f"in-memory database {self.name!r}"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(":memory:")
        return self._conn


# Weak: a database no store uses any more is closed (its connection with it), so a long test run or a process that
# opens many throwaway databases does not run out of file descriptors.
_OPEN: weakref.WeakValueDictionary[Path, SqliteState] = weakref.WeakValueDictionary()
_OPEN_LOCK = threading.Lock()


def state_at(path: Path) -> SqliteState:
    """The process's one state database for this file (created on first use)."""
    key = Path(os.path.abspath(path))
    with _OPEN_LOCK:
        db = _OPEN.get(key)
        if db is None:
            key.parent.mkdir(parents=True, exist_ok=True)
            db = SqliteState(key)
            _OPEN[key] = db
        return db


@contextmanager
def transaction(path: Path, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """A transaction on the process's long-lived connection to this file (see SqliteState.transaction)."""
    db = state_at(path)  # held for the whole transaction, so the weak registry keeps it
    with db.transaction(write=write) as conn:
        yield conn
