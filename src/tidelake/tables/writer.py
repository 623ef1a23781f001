"""One writer thread per database, with group commit: the writes of concurrent requests share one
commit (one fsync), each in its own savepoint so that one failing write fails alone.

A job runs on the writer thread with the writer's connection, one job at a time: a condition check
and the write it guards, inside one job, are atomic. Reads use a connection per thread (WAL mode
lets them run beside the writer) and see only committed writes.
"""
from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]


class Writer:
    def __init__(self, path: Path, fsync: bool, schema: str) -> None:
        self.path = path
        self._synchronous = "FULL" if fsync else "NORMAL"
        self.connection = self._connect()
        self.connection.executescript(schema)
        self._pending: list[tuple[Job, Future[Any]]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._local = threading.local()
        self._thread = threading.Thread(target=self._run, name="tables-writer", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        return conn

    def write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` in the next group; returns once its effects are committed (durable)."""
        future: Future[T] = Future()
        with self._cond:
            if self._closing:
                raise RuntimeError("the table store is closed")
            self._pending.append((job, future))
            self._cond.notify()
        return future.result()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                group, self._pending = self._pending, []
            if not group:
                return  # closing and drained
            self._commit(group)

    def _commit(self, group: list[tuple[Job, Future[Any]]]) -> None:
        # Step 1: apply every job in its own savepoint.
        # Step 2: commit once (the one fsync of the group).
        # Step 3: only then resolve the futures: acknowledging before step 2 could lose a write.
        conn = self.connection
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN")
            for job, future in group:
                conn.execute("SAVEPOINT job")
                try:
                    results.append((future, job(conn), None))
                    conn.execute("RELEASE job")
                except Exception as e:  # the job's own error goes to its caller
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    results.append((future, None, e))
            conn.execute("COMMIT")
        except BaseException as e:  # disk full, I/O error: nothing in the group is durable
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _, future in group:
                if not future.done():
                    future.set_exception(e)
            return
        for future, value, error in results:
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)

    def reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.connection.close()
