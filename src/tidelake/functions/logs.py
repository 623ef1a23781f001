"""Function logs: one record per invocation (``START`` line, the handler's output, ``END``, ``REPORT``),
kept in SQLite under ``functions/logs/`` and read back as lines.

Each function keeps at most ``max_bytes`` of log text; the oldest invocations go first. Logs
outlive the function, as a CloudWatch log group does, until the bound pushes them out. Each
invocation records the log stream of the worker that ran it, so a stream reads as that worker's
history. A line's position (invocation id, line index) orders lines as they were stored and is what
paging cursors hold: stable while the log grows and is trimmed.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Sequence

from tidelake import sqlite
from tidelake.functions.models import LINE_BITS, LogEvent, LogGroup, LogPage, LogStream

SCAN_BUDGET_BYTES = 8 * 1024 * 1024  # log text split per read: bounds one request's time; the caller continues
EVENT_OVERHEAD_BYTES = 26  # what CloudWatch counts per event on top of its message's UTF-8 bytes
_LAST_LINE = (1 << LINE_BITS) - 1
# AUTOINCREMENT: ids never go back, even when trimming empties the table, so positions stay ordered.
_INVOCATIONS = ("CREATE TABLE IF NOT EXISTS invocations (id INTEGER PRIMARY KEY AUTOINCREMENT, function TEXT NOT NULL, "
                "log_stream TEXT NOT NULL, request_id TEXT NOT NULL, started REAL NOT NULL, ended REAL NOT NULL, "
                "text TEXT NOT NULL)")


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


def millis(epoch: float) -> int:
    """Epoch milliseconds of a timestamp, as reads compare and report them."""
    return int(epoch * 1000)


class LogStore:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # the writer connection
        self._read_lock = threading.Lock()  # the reader connection: reads never hold up invocations
        self._closed = False
        self._db = sqlite.connect(path, synchronous="OFF")  # logs need not survive a power cut; invocations stay fast
        # A group lives from its function's first logged invocation on, even once trimming has emptied it.
        self._db.execute("CREATE TABLE IF NOT EXISTS groups (function TEXT PRIMARY KEY, created REAL NOT NULL)")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(invocations)")}
        if columns and "log_stream" not in columns:
            self._add_log_streams()
        self._db.execute(_INVOCATIONS)
        self._db.execute("CREATE INDEX IF NOT EXISTS by_function ON invocations (function, id)")
        self._db.execute("CREATE INDEX IF NOT EXISTS by_stream ON invocations (function, log_stream, id)")
        self._db.execute("CREATE INDEX IF NOT EXISTS by_end ON invocations (function, ended)")  # time ranges
        self._sizes = dict(self._db.execute("SELECT function, SUM(length(text)) FROM invocations GROUP BY function"))
        self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    def _add_log_streams(self) -> None:
        """Upgrade logs stored before invocations recorded their worker's stream: those go to one
        stream per day (``[$LATEST]`` and 32 zeros: no worker has that id)."""
        self._db.executescript(f"""
            BEGIN;
            ALTER TABLE invocations RENAME TO invocations_old;
            DROP INDEX IF EXISTS by_function;
            {_INVOCATIONS};
            INSERT INTO invocations (id, function, log_stream, request_id, started, ended, text)
                SELECT id, function, strftime('%Y/%m/%d', started, 'unixepoch') || '/[$LATEST]{"0" * 32}',
                       request_id, started, ended, text FROM invocations_old ORDER BY id;
            DROP TABLE invocations_old;
            INSERT OR IGNORE INTO groups (function, created)
                SELECT function, MIN(started) FROM invocations GROUP BY function;
            COMMIT;""")

    def append(self, function: str, log_stream: str, request_id: str, started: float, ended: float,
               text: str) -> None:
        with self._lock:
            if self._closed:  # an invocation that outlived the service's close: nowhere to write
                return
            if function not in self._sizes:
                self._db.execute("INSERT OR IGNORE INTO groups (function, created) VALUES (?, ?)", (function, started))
            self._db.execute("INSERT INTO invocations (function, log_stream, request_id, started, ended, text) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (function, log_stream, request_id, started, ended, text))
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

    # -- groups and streams ----------------------------------------------------------------------

    def groups(self) -> list[LogGroup]:
        """Every function that has logged, by name."""
        with self._read_lock:
            rows = self._reader.execute("SELECT function, created FROM groups ORDER BY function").fetchall()
        with self._lock:
            sizes = dict(self._sizes)
        return [LogGroup(function, created, sizes.get(function, 0)) for function, created in rows]

    def group(self, function: str) -> LogGroup | None:
        with self._read_lock:
            row = self._reader.execute("SELECT created FROM groups WHERE function = ?", (function,)).fetchone()
        with self._lock:
            size = self._sizes.get(function, 0)
        return LogGroup(function, row[0], size) if row else None

    def streams(self, function: str) -> list[LogStream]:
        """The function's log streams that still hold invocations, by name."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT log_stream, MIN(started), MAX(ended) FROM invocations WHERE function = ? "
                "GROUP BY log_stream ORDER BY log_stream", (function,)).fetchall()
        return [LogStream(name, first, last, last) for name, first, last in rows]

    def has_stream(self, function: str, log_stream: str) -> bool:
        with self._read_lock:
            return self._reader.execute("SELECT 1 FROM invocations WHERE function = ? AND log_stream = ? LIMIT 1",
                                        (function, log_stream)).fetchone() is not None

    # -- lines ---------------------------------------------------------------------------------------

    def read(self, function: str, *, cursor: int | None = None, backward: bool = False,
             streams: Sequence[str] | None = None, stream_prefix: str | None = None, start_ms: int | None = None,
             end_ms: int | None = None, terms: Sequence[str] = (), limit: int = 10_000,
             max_bytes: int | None = None) -> LogPage:
        """Lines of a function's log in the order they were stored, after position ``cursor``
        (forward) or before it (``backward``, newest first); None starts at the oldest line (forward)
        or the newest (backward). Only lines of ``streams`` (or of streams named ``stream_prefix...``),
        with ``start_ms <= timestamp < end_ms`` (epoch milliseconds) and containing every one of
        ``terms`` (case-sensitive) count. The page stops at ``limit`` lines, at ``max_bytes`` (counted
        as CloudWatch does), or after ``SCAN_BUDGET_BYTES`` of log text: ``next`` continues from there."""
        with self._read_lock:
            if cursor is None:
                cursor = self._end() if backward else 0
            rows = self._rows(function, cursor, backward, streams, stream_prefix, start_ms, end_ms, terms)
            events: list[LogEvent] = []
            size = scanned = 0
            for row in rows:
                lines = _lines(*row)
                for event in reversed(lines) if backward else lines:
                    position = event.position
                    if (position >= cursor) if backward else (position <= cursor):
                        continue  # the rest of a row a previous page stopped in
                    stamp = millis(event.timestamp)
                    if ((start_ms is not None and stamp < start_ms) or (end_ms is not None and stamp >= end_ms)
                            or not all(term in event.message for term in terms)):
                        continue
                    event_size = len(event.message.encode()) + EVENT_OVERHEAD_BYTES
                    if len(events) >= limit or (max_bytes is not None and events and size + event_size > max_bytes):
                        return LogPage(events, cursor, events[-1].position, True)
                    events.append(event)
                    size += event_size
                scanned += len(row[-1])
                if scanned >= SCAN_BUDGET_BYTES:
                    row_start = row[0] << LINE_BITS
                    return LogPage(events, cursor, row_start if backward else row_start | _LAST_LINE, True)
            return LogPage(events, cursor, events[-1].position if events else cursor, False)

    def _end(self) -> int:
        """The position after every line stored so far."""
        row = self._reader.execute("SELECT seq FROM sqlite_sequence WHERE name = 'invocations'").fetchone()
        return ((row[0] if row else 0) + 1) << LINE_BITS

    def _rows(self, function: str, cursor: int, backward: bool, streams: Sequence[str] | None,
              stream_prefix: str | None, start_ms: int | None, end_ms: int | None,
              terms: Sequence[str]) -> sqlite3.Cursor | list[tuple]:
        # The rows holding positions past the cursor (a cursor at a row's last line excludes the row).
        if backward:
            low, high = 0, (cursor - 1) >> LINE_BITS
        else:
            low, high = (cursor + 1) >> LINE_BITS, None
        if start_ms is not None:
            # Lines are stamped no later than their invocation's end: the first invocation that ended
            # since ``start_ms`` bounds the scan (found in the by_end index, without reading rows).
            first = self._reader.execute("SELECT MIN(id) FROM invocations WHERE function = ? AND ended >= ?",
                                         (function, (start_ms - 1) / 1000)).fetchone()[0]
            if first is None:
                return []
            low = max(low, first)
        where, args = ["function = ?", "id >= ?"], [function, low]
        if high is not None:
            where.append("id <= ?")
            args.append(high)
        if end_ms is not None:
            where.append("started < ?")  # lines are stamped no earlier than their invocation's start
            args.append((end_ms + 1) / 1000)
        if streams is not None:
            if len(streams) == 1:
                where.append("log_stream = ?")  # the by_stream index
            else:
                where.append(f"+log_stream IN ({', '.join('?' * len(streams))})")
            args.extend(streams)
        if stream_prefix:
            where.append("substr(log_stream, 1, ?) = ?")
            args.extend((len(stream_prefix), stream_prefix))
        for term in terms:
            where.append("instr(text, ?) > 0")  # whole invocations without the term are never split
            args.append(term)
        order = "DESC" if backward else ""
        return self._reader.execute(
            f"SELECT id, request_id, started, ended, log_stream, text FROM invocations WHERE {' AND '.join(where)} "
            f"ORDER BY id {order}", args)

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._closed = True
            self._reader.close()
            self._db.close()


def _lines(row_id: int, request_id: str, started: float, ended: float, log_stream: str, text: str) -> list[LogEvent]:
    events = []
    for index, line in enumerate(text.splitlines()):
        closing = line.startswith(("END RequestId:", "REPORT RequestId:"))
        events.append(LogEvent(ended if closing else started, line, request_id, row_id, index, log_stream, ended))
    return events
