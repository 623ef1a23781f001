"""Stream data model. Attribute names follow the AWS shape members in snake_case."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

MAX_HASH_KEY = (1 << 128) - 1


class StreamMode(str, enum.Enum):
    PROVISIONED = "PROVISIONED"
    ON_DEMAND = "ON_DEMAND"


class StreamStatus(str, enum.Enum):
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    UPDATING = "UPDATING"
    DELETING = "DELETING"


class IteratorType(str, enum.Enum):
    TRIM_HORIZON = "TRIM_HORIZON"
    LATEST = "LATEST"
    AT_SEQUENCE_NUMBER = "AT_SEQUENCE_NUMBER"
    AFTER_SEQUENCE_NUMBER = "AFTER_SEQUENCE_NUMBER"
    AT_TIMESTAMP = "AT_TIMESTAMP"


class ShardFilterType(str, enum.Enum):
    AFTER_SHARD_ID = "AFTER_SHARD_ID"
    AT_TRIM_HORIZON = "AT_TRIM_HORIZON"
    FROM_TRIM_HORIZON = "FROM_TRIM_HORIZON"
    AT_LATEST = "AT_LATEST"
    AT_TIMESTAMP = "AT_TIMESTAMP"
    FROM_TIMESTAMP = "FROM_TIMESTAMP"


@dataclass(slots=True)
class Shard:
    """A contiguous range of the 128-bit hash key space.

    ``start_counter`` is the stream counter when the shard opened; ``end_counter`` is set when it
    closes (resharding): every record it will ever hold has a counter below it.
    """

    index: int
    starting_hash_key: int
    ending_hash_key: int
    start_counter: int
    created_at: float
    parent_shard_id: str | None = None
    adjacent_parent_shard_id: str | None = None
    end_counter: int | None = None
    closed_at: float | None = None

    @property
    def shard_id(self) -> str:
        return shard_id(self.index)

    @property
    def is_open(self) -> bool:
        return self.end_counter is None

    def covers(self, hash_key: int) -> bool:
        return self.starting_hash_key <= hash_key <= self.ending_hash_key


@dataclass(slots=True)
class Consumer:
    """An enhanced fan-out consumer registration."""

    consumer_name: str
    consumer_arn: str
    created_at: float


@dataclass(slots=True)
class Stream:
    key: int  # internal identity: a re-created stream with the same name is a different stream
    stream_name: str
    stream_arn: str
    stream_mode: StreamMode
    created_at: float
    retention_period_hours: int = 24
    max_record_size_in_kib: int = 1024
    shards: list[Shard] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    encryption_type: str = "NONE"
    key_id: str | None = None
    shard_level_metrics: list[str] = field(default_factory=list)
    next_counter: int = 0
    next_shard_index: int = 0
    settled_at: float = 0.0  # status is CREATING/UPDATING until then (see StreamStore.status)
    busy_status: StreamStatus = StreamStatus.CREATING
    deleting: bool = False
    internal: bool = False  # the platform's own (a DirectPut delivery stream's buffer): not listed

    @property
    def open_shards(self) -> list[Shard]:
        return [s for s in self.shards if s.is_open]

    def shard(self, shard_id_: str) -> Shard | None:
        index = parse_shard_id(shard_id_)
        if index is None or index >= len(self.shards):
            return None
        return self.shards[index]


class Record(NamedTuple):
    """One record as GetRecords returns it. A named tuple: a read builds thousands of these, and a
    tuple is several times cheaper to construct than a frozen dataclass."""

    sequence_number: str
    approximate_arrival_timestamp: float
    data: bytes
    partition_key: str


@dataclass(slots=True)
class PutRecordsResult:
    """Outcome of a put, per record in request order (parallel lists: cheap at 500 records a call).

    A record that was not accepted has ``None`` in ``sequence_numbers`` and an entry in ``errors``:
    its index -> (error code, message)."""

    shard_ids: list[str]
    sequence_numbers: list[str | None]
    errors: dict[int, tuple[str, str]]


@dataclass(slots=True, frozen=True)
class ChildShard:
    shard_id: str
    parent_shards: tuple[str, ...]
    starting_hash_key: int
    ending_hash_key: int


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def parse_shard_id(text: str) -> int | None:
    """``shardId-000000000001`` -> 1; also accepts the bare number, as AWS does."""
    digits = text[8:] if text.startswith("shardId-") else text
    return int(digits) if digits.isdigit() and len(digits) <= 12 else None
