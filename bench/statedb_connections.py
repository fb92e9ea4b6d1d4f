"""One shared connection under a lock versus a connection per thread, for the node's state database.

Writes bench/results/statedb_connections.md: wall time of the same mix of short write and read transactions from
several threads (like gRPC workers answering queries and budget calls). `python -m bench.statedb_connections`
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.common import write_results
from privacy.statedb import SqliteState, connect, use_wal

THREADS, ROUNDS = 8, 300


def per_thread(path: Path) -> Callable[[bool], contextlib.AbstractContextManager[sqlite3.Connection]]:
    local = threading.local()

    @contextlib.contextmanager
    def transaction(write: bool) -> Iterator[sqlite3.Connection]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = connect(path)
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    return transaction


def shared(path: Path) -> Callable[[bool], contextlib.AbstractContextManager[sqlite3.Connection]]:
    db = SqliteState(path)
    return lambda write: db.transaction(write=write)


def run(
    make: Callable[[Path], Callable[[bool], contextlib.AbstractContextManager[sqlite3.Connection]]], path: Path
) -> float:
    use_wal(path)
    transaction = make(path)
    with transaction(True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")

    def work() -> None:
        for i in range(ROUNDS):
            with transaction(True) as conn:
                conn.execute("INSERT INTO t (v) VALUES (?)", (str(i),))
            with transaction(False) as conn:
                conn.execute("SELECT COUNT(*) FROM t").fetchone()

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        one = run(shared, Path(tmp) / "shared.db")
        many = run(per_thread, Path(tmp) / "per_thread.db")
    n = THREADS * ROUNDS
    write_results(
        "statedb_connections.md",
        "\n".join(
            [
                "# One shared connection vs a connection per thread (statedb_connections.md)",
                "",
                f"{THREADS} threads x {ROUNDS} rounds of (one INSERT, one read transaction); WAL, synchronous=FULL.",
                "",
                "- one connection under a lock (privacy.statedb.SqliteState): "
                f"{one:.2f} s, {one / n * 1000:.2f} ms per round",
                f"- a connection per thread: {many:.2f} s, {many / n * 1000:.2f} ms per round",
                f"- ratio shared / per-thread: {one / many:.2f}",
                "",
            ]
        ),
    )


if __name__ == "__main__":
    main()
