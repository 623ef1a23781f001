"""SQLite in WAL mode with one writer thread doing group commit: the stream log and the key-value
tables both keep their data this way.

Every change is a *job* (a function of the writer's connection) submitted to the writer. The writer
takes all jobs that queued up while the previous commit was running, applies each in its own
savepoint (so one failing job fails alone) and commits once: one fsync acknowledges many requests.
A caller's future resolves only after that commit, which is what makes an acknowledged write survive
``kill -9``; an uncommitted transaction is rolled back by SQLite's WAL recovery at the next start.
Jobs run one at a time, so a check and the write it guards, inside one job, are atomic. Reads use a
connection per thread (WAL lets them run beside the writer) and see only committed writes.
"""
from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from tidelake import sqlite

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]


class GroupCommitWriter:
    def __init__(self, path: Path, *, fsync: bool, schema: str, name: str, pragmas: Sequence[str] = ()) -> None:
        self.path = path
        self._synchronous = "FULL" if fsync else "NORMAL"
        self._pragmas = list(pragmas)
        self.connection = self.connect()  # the writer's; also fine for reads at start-up
        self.connection.executescript(schema)
        self._pending: list[tuple[Job, Future[Any]]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._local = threading.local()
        self._thread = threading.Thread(target=self._run, name=f"{name}-writer", daemon=True)
        self._thread.start()

    def connect(self) -> sqlite3.Connection:
        conn = sqlite.connect(self.path, synchronous=self._synchronous)
        for pragma in self._pragmas:
            conn.execute(f"PRAGMA {pragma}")
        return conn

    def submit(self, job: Callable[[sqlite3.Connection], T]) -> "Future[T]":
        """Queue a job for the next group commit; the future resolves once it is durable."""
        future: Future[T] = Future()
        with self._cond:
            if self._closing:
                raise RuntimeError(f"{self.path.name} is closed")
            self._pending.append((job, future))
            self._cond.notify()
        return future

    def write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` in the next group; returns once its effects are committed."""
        return self.submit(job).result()

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
        return conn

    @property
    def closed(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Commit what is queued, stop the writer, and fold the WAL back into the database."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.connection.close()

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
