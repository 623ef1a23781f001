"""The durable stream log: SQLite in WAL mode with one writer thread doing group commit
(``tidelake.group_commit``).

Every change (records and metadata) is a job for the writer; many requests share one commit, and a
caller's future resolves only after it, which is what makes an acknowledged record survive
``kill -9``. SQLite's WAL recovery rolls back an uncommitted transaction at the next start, so
nothing unacknowledged is half-visible.

Records are stored as one row per (put request, shard): a packed payload of partition keys and
data, addressed by the counters it holds. Reads decode payloads into records.
"""
from __future__ import annotations

import sqlite3
import struct
from array import array
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

from tidelake.group_commit import GroupCommitWriter, Job
from tidelake.stream.keys import _BASE, _COUNTER, _SHARD, stream_tag
from tidelake.stream.models import ChildShard, Record

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    key INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a re-created stream is another stream
    name TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    stream_key INTEGER NOT NULL,
    shard_index INTEGER NOT NULL,
    last_counter INTEGER NOT NULL,
    first_counter INTEGER NOT NULL,
    arrival_ms INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS batches_position ON batches (stream_key, shard_index, last_counter);
CREATE INDEX IF NOT EXISTS batches_arrival ON batches (stream_key, shard_index, arrival_ms);
CREATE TABLE IF NOT EXISTS checkpoints (
    consumer TEXT NOT NULL,
    stream_key INTEGER NOT NULL,
    shard_index INTEGER NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (consumer, stream_key, shard_index)
) WITHOUT ROWID;
"""

_HEADER = struct.Struct("<I")

# (stream_key, shard_index, last_counter, first_counter, arrival_ms, payload): a row of batches
Batch = tuple[int, int, int, int, int, bytes]


@dataclass(slots=True)
class Columns:
    """Records as parallel lists: what the platform's own consumers read, cheaply."""

    data: list[bytes]
    partition_keys: list[bytes]  # UTF-8
    arrivals: list[float]
    counters: list[int]

    def sequence_numbers(self, stream_key: int, shard_index: int) -> list[str]:
        base = _BASE + shard_index * _SHARD + stream_tag(stream_key)
        return [str(base + c * _COUNTER) for c in self.counters]

    def records(self, stream_key: int, shard_index: int) -> list[Record]:
        return [Record(s, a, d, k.decode()) for s, a, d, k in
                zip(self.sequence_numbers(stream_key, shard_index), self.arrivals, self.data, self.partition_keys)]


@dataclass(slots=True)
class GetRecordsResult:
    """A GetRecords answer; the records stay columns until someone asks for Record objects
    (the wire layer builds its JSON straight from the columns)."""

    columns: Columns
    next_shard_iterator: str | None
    millis_behind_latest: int
    child_shards: list[ChildShard] | None
    stream_key: int
    shard_index: int

    @property
    def records(self) -> list[Record]:
        return self.columns.records(self.stream_key, self.shard_index)

    def sequence_numbers(self) -> list[str]:
        return self.columns.sequence_numbers(self.stream_key, self.shard_index)


def pack(partition_keys: Sequence[bytes], data: Sequence[bytes]) -> bytes:
    """Pack records as: count, partition key lengths, data lengths, keys, data (all C-level joins)."""
    lengths = array("I", map(len, partition_keys))
    lengths.extend(map(len, data))
    return b"".join((_HEADER.pack(len(data)), lengths.tobytes(), b"".join(partition_keys), b"".join(data)))


def unpack(payload: bytes) -> tuple[list[bytes], list[bytes]]:
    """Partition keys (UTF-8, decoded only when a Record is built) and data of a packed batch."""
    (count,) = _HEADER.unpack_from(payload)
    lengths = array("I")
    lengths.frombytes(payload[4:4 + 8 * count])
    ends = list(accumulate(lengths, initial=4 + 8 * count))
    starts, stops = ends[:-1], ends[1:]
    keys = list(map(payload.__getitem__, map(slice, starts[:count], stops[:count])))
    data = list(map(payload.__getitem__, map(slice, starts[count:], stops[count:])))
    return keys, data


class StreamLog:
    def __init__(self, path: Path, durability: str = "fsync") -> None:
        self.path = path
        self._writer = GroupCommitWriter(path, fsync=durability == "fsync", schema=_SCHEMA, name="stream-log")

    # -- writing -----------------------------------------------------------------------------

    def submit(self, job: Callable[[sqlite3.Connection], T]) -> "Future[T]":
        """Queue a job for the next group commit; the future resolves once it is durable."""
        return self._writer.submit(job)

    def write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        return self._writer.write(job)

    @staticmethod
    def batch(stream_key: int, shard_index: int, first_counter: int, arrival_ms: int,
              partition_keys: Sequence[bytes], data: Sequence[bytes]) -> Batch:
        """One shard's records of one put, as the log stores them: one row."""
        return (stream_key, shard_index, first_counter + len(data) - 1, first_counter, arrival_ms,
                pack(partition_keys, data))

    @staticmethod
    def append_job(batches: Sequence[Batch]) -> Job:
        """A job inserting ``batches`` with one statement: the writer thread takes the GIL back once
        per statement, and under load each time can wait for a busy event loop."""
        sql = "INSERT INTO batches VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(batches))
        values = [value for row in batches for value in row]

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(sql, values)
        return job

    @property
    def closed(self) -> bool:
        return self._writer.closed

    def close(self) -> None:
        self._writer.close()

    # -- reading -----------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        return self._writer.reader()

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self._reader().execute(sql, tuple(params)).fetchall()

    def read(self, stream_key: int, shard_index: int, from_counter: int, min_arrival_ms: int,
             limit: int, max_bytes: int) -> tuple[list[Record], int, bool]:
        """Records of a shard from ``from_counter`` on (see ``read_columns``), with sequence numbers."""
        columns, next_counter, more = self.read_columns(stream_key, shard_index, from_counter, min_arrival_ms,
                                                        limit, max_bytes)
        return columns.records(stream_key, shard_index), next_counter, more

    def read_columns(self, stream_key: int, shard_index: int, from_counter: int, min_arrival_ms: int,
                     limit: int, max_bytes: int, until: int | None = None) -> tuple["Columns", int, bool]:
        """Records of a shard from ``from_counter`` on, as parallel lists (no object per record).

        Stops after ``limit`` records, at the record that would pass ``max_bytes`` of data (one
        record at least), or before counter ``until``. Returns the columns, the counter to continue
        from, and whether more records were left.
        """
        cursor = self._reader().execute(
            "SELECT first_counter, last_counter, arrival_ms, payload FROM batches "
            "WHERE stream_key = ? AND shard_index = ? AND last_counter >= ? AND arrival_ms >= ? "
            "ORDER BY last_counter", (stream_key, shard_index, from_counter, min_arrival_ms))
        out = Columns([], [], [], [])
        size = 0
        next_counter = from_counter
        for first, last, arrival_ms, payload in cursor:
            if len(out.data) >= limit or size >= max_bytes or (until is not None and first >= until):
                cursor.close()
                return out, next_counter, True
            keys, data = unpack(payload)
            skip = max(0, from_counter - first)
            take = min(len(data) - skip, limit - len(out.data))
            if until is not None:
                take = min(take, until - first - skip)
            if size + len(payload) > max_bytes:  # stop inside the batch, at the record that would pass
                budget, fits = max_bytes - size, 0
                for item in data[skip:skip + take]:
                    if len(item) > budget and (out.data or fits):
                        break
                    budget -= len(item)
                    fits += 1
                take = fits
            taken = data[skip:skip + take]
            out.data.extend(taken)
            out.partition_keys.extend(keys[skip:skip + take])
            out.arrivals.extend([arrival_ms / 1000] * take)
            out.counters.extend(range(first + skip, first + skip + take))
            size += sum(map(len, taken))
            next_counter = first + skip + take
            if skip + take < len(data):
                cursor.close()
                return out, next_counter, True
        return out, next_counter, False

    def first_counter_at(self, stream_key: int, shard_index: int, arrival_ms: int) -> int | None:
        row = self._reader().execute(
            "SELECT first_counter FROM batches WHERE stream_key = ? AND shard_index = ? AND arrival_ms >= ? "
            "ORDER BY arrival_ms, last_counter LIMIT 1", (stream_key, shard_index, arrival_ms)).fetchone()
        return None if row is None else row[0]

    def backlog(self, stream_key: int, shard_index: int, position: int) -> tuple[int, int | None]:
        """Records of a shard at or after ``position``, and the arrival (ms) of the oldest of them."""
        row = self._reader().execute(
            "SELECT SUM(last_counter - MAX(first_counter, ?) + 1), MIN(arrival_ms) FROM batches "
            "WHERE stream_key = ? AND shard_index = ? AND last_counter >= ?",
            (position, stream_key, shard_index, position)).fetchone()
        return row[0] or 0, row[1]

    def max_counter(self, stream_key: int, shard_index: int) -> int | None:
        """Highest counter stored in a shard (an index seek), to restore counters at start-up."""
        row = self._reader().execute(
            "SELECT MAX(last_counter) FROM batches WHERE stream_key = ? AND shard_index = ?",
            (stream_key, shard_index)).fetchone()
        return row[0]
