"""Function logs: one record per invocation (``START`` line, the handler's output, ``END``, ``REPORT``),
kept in SQLite under ``functions/logs/`` and read back as lines.

Each function keeps at most ``max_bytes`` of log text; the oldest invocations go first. Logs
outlive the function, as a CloudWatch log group does, until the bound pushes them out.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from tidelake.functions.models import LogEvent


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


def report_line(request_id: str, duration_ms: float, memory_size: int, max_memory_mb: int,
                init_ms: float | None, status: str = "") -> str:
    billed = max(1, int(-(-duration_ms // 1)))  # Lambda bills whole milliseconds, rounded up
    line = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {memory_size} MB\tMax Memory Used: {max_memory_mb} MB")
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    if status:
        line += f"\tStatus: {status}"
    return line + "\t\n"


def timestamp_prefix(epoch: float) -> str:
    """``2026-01-02T03:04:05.678Z``: how Lambda stamps the lines it writes itself (timeouts)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def log_path(data_dir: Path) -> Path:
    return data_dir / "functions" / "logs" / "logs.db"


class LogStore:
    def __init__(self, path: Path, max_bytes: int, read_only: bool = False) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._closed = False
        if read_only:  # another process (``tidelake functions logs``) reading the server's logs
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            self._sizes: dict[str, int] = {}
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")  # logs need not survive a power cut; invocations stay fast
        self._db.execute("CREATE TABLE IF NOT EXISTS invocations (id INTEGER PRIMARY KEY, function TEXT NOT NULL, "
                         "request_id TEXT NOT NULL, started REAL NOT NULL, ended REAL NOT NULL, text TEXT NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS by_function ON invocations (function, id)")
        self._sizes = dict(self._db.execute("SELECT function, SUM(length(text)) FROM invocations GROUP BY function"))

    def append(self, function: str, request_id: str, started: float, ended: float, text: str) -> None:
        with self._lock:
            if self._closed:  # an invocation that outlived the service's close: nowhere to write
                return
            self._db.execute("INSERT INTO invocations (function, request_id, started, ended, text) VALUES (?, ?, ?, ?, ?)",
                             (function, request_id, started, ended, text))
            size = self._sizes[function] = self._sizes.get(function, 0) + len(text)
            if size > self.max_bytes:
                self._trim(function, size - self.max_bytes * 3 // 4)  # room for a while: not a delete per insert

    def _trim(self, function: str, excess: int) -> None:
        freed, last = 0, None
        for row_id, length in self._db.execute(
                "SELECT id, length(text) FROM invocations WHERE function = ? ORDER BY id", (function,)):
            freed += length
            last = row_id
            if freed >= excess:
                break
        if last is not None:
            self._db.execute("DELETE FROM invocations WHERE function = ? AND id <= ?", (function, last))
            self._sizes[function] -= freed

    def events(self, function: str, since: float | None = None, limit: int = 1000) -> list[LogEvent]:
        """Lines of the function's log: from ``since`` on (oldest first, at most ``limit``), or else
        the last ``limit`` lines."""
        if limit <= 0:
            return []
        with self._lock:
            if since is None:
                rows = self._last_rows(function, limit)
            else:
                rows = self._db.execute(
                    "SELECT id, request_id, started, ended, text FROM invocations WHERE function = ? AND ended >= ? "
                    "ORDER BY id", (function, since)).fetchmany(limit)
        lines = [event for row in rows for event in _lines(*row) if since is None or event.timestamp >= since]
        return lines[-limit:] if since is None else lines[:limit]

    def last_invocation(self, function: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM invocations WHERE function = ?", (function,)).fetchone()
        return row[0] or 0

    def events_after(self, function: str, invocation_id: int, limit: int = 10_000) -> list[LogEvent]:
        """Lines of the invocations stored after ``invocation_id`` (for following a log)."""
        with self._lock:
            rows = self._db.execute("SELECT id, request_id, started, ended, text FROM invocations "
                                    "WHERE function = ? AND id > ? ORDER BY id", (function, invocation_id)).fetchmany(limit)
        return [event for row in rows for event in _lines(*row)]

    def _last_rows(self, function: str, limit: int) -> list[tuple[int, str, float, float, str]]:
        rows: list[tuple[int, str, float, float, str]] = []
        count = 0
        for row in self._db.execute("SELECT id, request_id, started, ended, text FROM invocations "
                                    "WHERE function = ? ORDER BY id DESC", (function,)):
            rows.append(row)
            count += row[4].count("\n") + 1
            if count >= limit:
                break
        return rows[::-1]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()


def _lines(row_id: int, request_id: str, started: float, ended: float, text: str) -> list[LogEvent]:
    events = []
    for line in text.splitlines():
        closing = line.startswith(("END RequestId:", "REPORT RequestId:"))
        events.append(LogEvent(ended if closing else started, line, request_id, row_id))
    return events
