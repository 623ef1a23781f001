"""SQLite in WAL mode with one writer thread doing group commit: the stream log and the key-value
tables both keep their data this way.

Every change is a *job* (a function of the writer's connection) submitted to the writer. The writer
takes all jobs that queued up while the previous commit was running, applies each in its own
savepoint (so one failing job fails alone) and commits once: one fsync acknowledges many requests.
A caller's future resolves only after that commit, which is what makes an acknowledged write survive
``kill -9``; an uncommitted transaction is rolled back by SQLite's WAL recovery at the next start.
Jobs run one at a time, so a check and the write it guards, inside one job, are atomic. Reads use a
connection per thread (WAL lets them run beside the writer) and see only committed writes.

The WAL is copied back into the database by a thread of its own. SQLite's automatic checkpoint runs
inside the commit that crosses its threshold: every ~64 MiB of log it held the writer, and every
request waiting on it, for 100-300 ms (mostly the database file's fsync).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, TypeVar

from tidelake import sqlite

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]

log = logging.getLogger(__name__)

_SMALL_BACKLOG = 1024  # pages (4 MiB): what the writer may copy itself when it restarts the WAL


class GroupCommitWriter:
    def __init__(self, path: Path, *, fsync: bool, schema: str, name: str, checkpoint_seconds: float = 0.2,
                 restart_pages: int = 16384) -> None:
        """Every ``checkpoint_seconds`` while writes arrive, new WAL pages are copied into the
        database; once the WAL holds ``restart_pages`` pages it is restarted from its beginning."""
        self.path = path
        self._synchronous = "FULL" if fsync else "NORMAL"
        self._checkpoint_seconds = checkpoint_seconds
        self._restart_pages = restart_pages
        self.connection = self.connect()  # the writer's; also fine for reads at start-up
        self.connection.executescript(schema)
        self._pending: list[tuple[Job, Future[Any]]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._written = threading.Event()
        self._checkpoint_lock = threading.Lock()
        self._restart_due = False
        self._stopped = threading.Event()
        self._local = threading.local()
        self._thread = threading.Thread(target=self._run, name=f"{name}-writer", daemon=True)
        self._thread.start()
        self._checkpointer = threading.Thread(target=self._checkpoints, name=f"{name}-checkpoints", daemon=True)
        self._checkpointer.start()

    def connect(self) -> sqlite3.Connection:
        conn = sqlite.connect(self.path, synchronous=self._synchronous)
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread does it
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
        self._stopped.set()
        self._written.set()
        self._checkpointer.join()
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
            if self._restart_due:
                self._restart_wal()
            self._written.set()

    def _checkpoints(self) -> None:
        conn = self.connect()
        try:
            while True:
                self._written.wait()
                if self._stopped.is_set():
                    return
                self._written.clear()
                pages = self._passive(conn)
                # Under a steady load a passive checkpoint never catches up exactly, so the WAL
                # never restarts by itself. Once it is long, more rounds copy what came in during
                # the last one (less each time), then the writer restarts it after its next
                # commit, with little left to copy while it holds every request.
                for _ in range(3):
                    if pages < self._restart_pages:
                        break
                    previous, pages = pages, self._passive(conn)
                    if pages - previous < _SMALL_BACKLOG:
                        self._restart_due = True
                        break
                self._stopped.wait(self._checkpoint_seconds)
        finally:
            conn.close()

    def _passive(self, conn: sqlite3.Connection) -> int:
        """Copy what is committed into the database without holding the writer; the WAL's length."""
        with self._checkpoint_lock:
            try:
                return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
            except sqlite3.Error as e:  # a full disk, say: the next round tries again
                log.warning("checkpoint of %s failed: %s", self.path.name, e)
                return 0

    def _restart_wal(self) -> None:
        conn = self.connection
        with self._checkpoint_lock:  # not beside a passive checkpoint: SQLite's busy wait backs off in 100 ms steps
            self._restart_due = False
            conn.execute("PRAGMA busy_timeout=100")  # a reader still on the old WAL: the next round retries
            try:
                conn.execute("PRAGMA wal_checkpoint(RESTART)")
            except sqlite3.Error as e:
                log.warning("restarting the WAL of %s failed: %s", self.path.name, e)
            finally:
                conn.execute("PRAGMA busy_timeout=5000")

    def _commit(self, group: list[tuple[Job, Future[Any]]]) -> None:
        # Step 1: apply every job in its own savepoint; a lone job needs none (each savepoint costs
        # the writer two more trips back to the GIL), its failure rolls back the whole transaction.
        # Step 2: commit once (the one fsync of the group).
        # Step 3: only then resolve the futures: acknowledging before step 2 could lose a write.
        conn = self.connection
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        savepoints = len(group) > 1
        try:
            conn.execute("BEGIN")
            for job, future in group:
                if savepoints:
                    conn.execute("SAVEPOINT job")
                try:
                    results.append((future, job(conn), None))
                except Exception as e:  # the job's own error goes to its caller
                    conn.execute("ROLLBACK TO job" if savepoints else "ROLLBACK")
                    results.append((future, None, e))
                if savepoints:
                    conn.execute("RELEASE job")
            if conn.in_transaction:
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
