"""Reading a stream from inside the platform, with durable checkpoints (no HTTP, no iterators).

Delivery streams, event source mappings and streaming SQL each read through a ``StreamConsumer``
named after themselves. A shard becomes readable once its parents are finished, so records of a
partition key are seen in order across resharding, as the Kinesis Client Library does it.
"""
from __future__ import annotations

from dataclasses import dataclass

from tidelake.stream.log import Columns
from tidelake.stream.models import IteratorType, Record, Shard
from tidelake.stream.store import SHARD_END, StreamStore


@dataclass(slots=True)
class ShardBatch:
    shard_id: str
    columns: Columns  # the records as parallel lists (data, partition keys, arrivals, counters)
    next_position: int  # commit this once the records are processed
    finished: bool  # the shard is closed and every record was read: commit SHARD_END
    stream_key: int

    @property
    def records(self) -> list[Record]:
        """The records with their sequence numbers (built on demand: the columns are cheaper)."""
        return self.columns.records(self.stream_key, int(self.shard_id.rsplit("-", 1)[-1]))


class StreamConsumer:
    def __init__(self, store: StreamStore, stream_name: str, name: str,
                 start: IteratorType = IteratorType.TRIM_HORIZON, timestamp: float | None = None,
                 from_counter: int | None = None) -> None:
        """``start`` applies to shards without a checkpoint. ``from_counter`` (a stream's
        ``next_counter`` taken earlier) instead starts every shard just after what was put before
        that moment: unlike LATEST, nothing put after it can be missed, even if not yet committed."""
        self.store = store
        self.stream_name = stream_name
        self.name = name
        self._start = start
        self._timestamp = timestamp
        self._from_counter = from_counter
        self._positions: dict[int, int] = {}  # shard index -> next counter to read (uncommitted included)
        stream = store.describe_stream(stream_name)
        self._stream_key = stream.key
        for shard_index, position in store.log.query(
                "SELECT shard_index, position FROM checkpoints WHERE consumer = ? AND stream_key = ?",
                (name, stream.key)):
            self._positions[shard_index] = position

    def checkpoint(self, shard_id: str) -> int | None:
        """The committed position of a shard (``SHARD_END`` when finished), None if never committed."""
        rows = self.store.log.query(
            "SELECT position FROM checkpoints WHERE consumer = ? AND stream_key = ? AND shard_index = ?",
            (self.name, self._stream_key, self._index(shard_id)))
        return rows[0][0] if rows else None

    def shards(self) -> list[Shard]:
        """Shards to read now: not finished, and every parent finished."""
        stream = self.store.describe_stream(self.stream_name)
        finished = {s.shard_id for s in stream.shards if self._positions.get(s.index) == SHARD_END}
        ready = []
        for shard in stream.shards:
            parents = [p for p in (shard.parent_shard_id, shard.adjacent_parent_shard_id) if p]
            if shard.shard_id not in finished and all(p in finished for p in parents):
                ready.append(shard)
        return ready

    def position(self, shard: Shard) -> int:
        """Where the next read of a shard starts (``SHARD_END`` once it is finished)."""
        position = self._positions.get(shard.index)
        if position is None:
            position = self._positions[shard.index] = self._initial(shard)
        return position

    def read(self, shard: Shard, limit: int = 10_000, max_bytes: int = 10 << 20) -> ShardBatch:
        """Up to ``limit`` records, stopping at the first stored batch that would pass ``max_bytes``."""
        position = self.position(shard)
        columns, next_position, finished = self.store.read_shard_columns(self.stream_name, shard.index, position,
                                                                         limit, max_bytes)
        return ShardBatch(shard.shard_id, columns, next_position, finished, self._stream_key)

    def seek(self, shard_id: str, position: int) -> None:
        """Re-read from ``position`` (after a failed batch): forget what was read past it."""
        self._positions[self._index(shard_id)] = position

    def advance(self, batch: ShardBatch) -> None:
        """Move the read position past a batch without committing it."""
        self._positions[self._index(batch.shard_id)] = SHARD_END if batch.finished else batch.next_position

    def commit(self, shard_id: str, position: int) -> None:
        """Durably record that everything before ``position`` (or the whole shard) is processed."""
        self.commit_many({shard_id: position})

    def commit_many(self, positions: dict[str, int]) -> None:
        """Commit several shards in one transaction: all move, or none does."""
        rows = [(self.name, self._stream_key, self._index(shard_id), position)
                for shard_id, position in positions.items()]
        self.store.log.write(lambda conn: conn.executemany(
            "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)", rows))
        for _, _, index, position in rows:
            self._positions[index] = position

    def lag(self) -> tuple[int, float | None]:
        """Records not yet committed, and the arrival time of the oldest of them (None if none)."""
        total, oldest = 0, None
        for shard in self.shards():
            committed = self.checkpoint(shard.shard_id)
            start = shard.start_counter if committed is None else committed
            count, arrival_ms = self.store.log.backlog(self._stream_key, shard.index, start)
            total += count
            if arrival_ms is not None:
                oldest = arrival_ms / 1000 if oldest is None else min(oldest, arrival_ms / 1000)
        return total, oldest

    def _initial(self, shard: Shard) -> int:
        # Children of a resharded shard start at their beginning, whatever the consumer's start.
        if self._from_counter is not None:
            return max(shard.start_counter, self._from_counter)
        if self._start is IteratorType.TRIM_HORIZON or shard.parent_shard_id is not None:
            return shard.start_counter
        if self._start is IteratorType.AT_TIMESTAMP and self._timestamp is not None:
            found = self.store.log.first_counter_at(self._stream_key, shard.index, int(self._timestamp * 1000))
            if found is not None:
                return found
        stream = self.store.describe_stream(self.stream_name)
        return stream.next_counter if shard.is_open else (shard.end_counter or shard.start_counter)

    @staticmethod
    def _index(shard_id: str) -> int:
        return int(shard_id.rsplit("-", 1)[-1])
