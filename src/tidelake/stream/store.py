"""StreamStore: streams, shards, puts, iterators and reads, with Kinesis Data Streams semantics.

Methods that map 1:1 to a Kinesis operation carry its snake_case name. State lives in memory and is
written through to the durable log before a call returns. One lock guards the metadata and the
assignment of counters, so counters grow in the order jobs reach the log's writer.
"""
from __future__ import annotations

import math
import os
import threading
from bisect import bisect_right
from collections import Counter, deque
from concurrent.futures import Future
from itertools import repeat
from pathlib import Path
from typing import Any, Iterable, Sequence

from tidelake.clock import Clock
from tidelake.config import Settings
from tidelake.errors import InvalidArgument
from tidelake.stream import reshard
from tidelake.stream.errors import (ConsumerAlreadyExists, ConsumerNotFound, InvalidIterator, IteratorExpired,
                                    ShardClosed, ShardLimitExceeded, ShardNotFound, StreamAlreadyExists,
                                    StreamHasConsumers, StreamNotActive, StreamNotFound, ThroughputExceeded)
from tidelake.stream.iterators import IteratorCodec, IteratorState
from tidelake.stream.keys import as_digest, decode, encode_range, hash_digests, stream_tag, uniform_ranges
from tidelake.stream.log import Columns, GetRecordsResult, StreamLog
from tidelake.stream.persist import delete_job, from_doc, insert_job, to_doc
from tidelake.stream.models import (MAX_HASH_KEY, ChildShard, Consumer, IteratorType, PutRecordsResult, Record,
                                    Shard, ShardFilterType, Stream, StreamMode, StreamStatus)
from tidelake.stream.throttle import ShardLimits

MIB = 1 << 20
MAX_REQUEST_BYTES = 10 * MIB  # PutRecords, partition keys included (5 MiB until large records came)
MAX_GET_BYTES = 10 * MIB
MAX_CONSUMERS = 20
MAX_TAGS = 50
RETENTION_HOURS = (24, 8760)
SHARD_END = -1  # checkpoint position meaning "every record of the shard was processed"


class StreamStore:
    def __init__(self, settings: Settings, clock: Clock, log: StreamLog, secret: bytes) -> None:
        self.settings = settings
        self.clock = clock
        self.log = log
        self._iterators = IteratorCodec(secret)
        self._limits = ShardLimits() if settings.enforce_throughput else None
        self._lock = threading.RLock()
        self._streams: dict[str, Stream] = {}
        self._load()

    @classmethod
    def open(cls, settings: Settings, clock: Clock) -> "StreamStore":
        root = Path(settings.data_dir) / "stream"
        root.mkdir(parents=True, exist_ok=True)
        secret_file = root / "iterator.key"
        if not secret_file.exists():
            secret_file.write_bytes(os.urandom(32))
        return cls(settings, clock, StreamLog(root / "log.db", settings.durability), secret_file.read_bytes())

    def close(self) -> None:
        self.log.close()

    # -- persistence -------------------------------------------------------------------------

    def _load(self) -> None:
        for key, name, doc in self.log.query("SELECT key, name, doc FROM streams"):
            stream = from_doc(key, doc)
            if stream.deleting:
                self.log.write(delete_job(key))
                continue
            for shard in stream.shards:
                top = self.log.max_counter(key, shard.index)
                if top is not None:
                    stream.next_counter = max(stream.next_counter, top + 1)
            self._streams[name] = stream

    def _save(self, stream: Stream) -> None:
        doc = to_doc(stream)
        self.log.write(lambda conn: conn.execute("UPDATE streams SET doc = ? WHERE key = ?", (doc, stream.key)))

    # -- lookups and status ------------------------------------------------------------------

    def status(self, stream: Stream) -> StreamStatus:
        if stream.deleting:
            return StreamStatus.DELETING
        return stream.busy_status if self.clock.now() < stream.settled_at else StreamStatus.ACTIVE

    def _find(self, stream_name: str) -> Stream:
        stream = self._streams.get(stream_name)
        if stream is not None and stream.deleting and self.clock.now() >= stream.settled_at:
            self._streams.pop(stream_name, None)  # the DELETING phase is over
            stream = None
        if stream is None:
            raise StreamNotFound(stream_name, self.settings.account_id)
        return stream

    def _active(self, stream_name: str) -> Stream:
        stream = self._find(stream_name)
        status = self.status(stream)
        if status is not StreamStatus.ACTIVE:
            raise StreamNotActive(stream_name, self.settings.account_id, status.value)
        return stream

    def _usable(self, stream_name: str) -> Stream:
        """A stream that accepts reads and writes: ACTIVE or UPDATING, as in Kinesis."""
        stream = self._find(stream_name)
        if self.status(stream) in (StreamStatus.CREATING, StreamStatus.DELETING):
            raise StreamNotFound(stream_name, self.settings.account_id)
        return stream

    def _shard(self, stream: Stream, shard_id: str) -> Shard:
        shard = stream.shard(shard_id)
        if shard is None:
            raise ShardNotFound(shard_id, stream.stream_name, self.settings.account_id)
        return shard

    def _busy(self, stream: Stream, status: StreamStatus) -> None:
        stream.busy_status = status
        stream.settled_at = self.clock.now() + self.settings.transition_seconds

    def stream_arn(self, stream_name: str) -> str:
        return f"arn:aws:kinesis:{self.settings.region}:{self.settings.account_id}:stream/{stream_name}"

    def stream_name_from_arn(self, arn: str) -> str:
        name = arn.rsplit(":stream/", 1)[-1].split("/", 1)[0]
        if ":stream/" not in arn or not name:
            raise InvalidArgument(f"Invalid StreamARN {arn}.")
        return name

    # -- stream lifecycle ----------------------------------------------------------------------

    def create_stream(self, stream_name: str, shard_count: int | None = None,
                      stream_mode: StreamMode = StreamMode.PROVISIONED, tags: dict[str, str] | None = None,
                      max_record_size_in_kib: int | None = None, internal: bool = False) -> Stream:
        if stream_mode is StreamMode.PROVISIONED and shard_count is None:
            raise InvalidArgument("ShardCount is required for a stream in PROVISIONED mode.")
        if stream_mode is StreamMode.ON_DEMAND and shard_count is not None:
            raise InvalidArgument("ShardCount must not be given for a stream in ON_DEMAND mode.")
        count = shard_count if shard_count is not None else self.settings.on_demand_shard_count
        self._check_tags(tags or {})
        self._check_record_size(max_record_size_in_kib)
        with self._lock:
            if stream_name in self._streams:
                try:
                    self._find(stream_name)
                except StreamNotFound:
                    pass  # its DELETING phase just ended: the name is free
                else:
                    raise StreamAlreadyExists(stream_name, self.settings.account_id)
            if not internal:
                self._check_shard_limit(count)
            now = self.clock.now()
            stream = Stream(0, stream_name, self.stream_arn(stream_name), stream_mode, now,
                            tags=dict(tags or {}), max_record_size_in_kib=max_record_size_in_kib or 1024,
                            next_shard_index=count, internal=internal,
                            shards=[Shard(i, lo, hi, 0, now) for i, (lo, hi) in enumerate(uniform_ranges(count))])
            self._busy(stream, StreamStatus.CREATING)
            stream.key = self.log.write(insert_job(stream_name, to_doc(stream)))
            self._streams[stream_name] = stream
            return stream

    def delete_stream(self, stream_name: str, enforce_consumer_deletion: bool = False) -> None:
        with self._lock:
            stream = self._find(stream_name)
            if stream.deleting:
                raise StreamNotActive(stream_name, self.settings.account_id, StreamStatus.DELETING.value)
            if stream.consumers and not enforce_consumer_deletion:
                raise StreamHasConsumers(stream_name, self.settings.account_id, len(stream.consumers))
            stream.deleting = True
            self._busy(stream, StreamStatus.DELETING)
            self._save(stream)
            self.log.submit(delete_job(stream.key))  # removal of the records goes on in the background

    def describe_stream(self, stream_name: str) -> Stream:
        return self._find(stream_name)

    def list_streams(self) -> list[Stream]:
        with self._lock:
            streams = []
            for name in sorted(self._streams):
                try:
                    stream = self._find(name)
                except StreamNotFound:
                    continue
                if not stream.internal:
                    streams.append(stream)
            return streams

    def list_shards(self, stream_name: str, shard_filter: ShardFilterType | None = None,
                    shard_id: str | None = None, timestamp: float | None = None) -> list[Shard]:
        """Shards in id order, narrowed by a ShardFilter as ListShards defines them."""
        stream = self._find(stream_name)
        shards = list(stream.shards)
        horizon = self.clock.now() - stream.retention_period_hours * 3600
        match shard_filter:
            case None:
                return shards
            case ShardFilterType.AFTER_SHARD_ID:
                if shard_id is None:
                    raise InvalidArgument("ShardId is required with ShardFilter type AFTER_SHARD_ID.")
                return [s for s in shards if s.shard_id > shard_id]
            case ShardFilterType.AT_LATEST:
                return [s for s in shards if s.is_open]
            case ShardFilterType.AT_TRIM_HORIZON:
                return [s for s in shards if _open_at(s, max(horizon, stream.created_at))]
            case ShardFilterType.FROM_TRIM_HORIZON:
                return [s for s in shards if s.closed_at is None or s.closed_at >= horizon]
            case ShardFilterType.AT_TIMESTAMP | ShardFilterType.FROM_TIMESTAMP:
                if timestamp is None:
                    raise InvalidArgument(f"Timestamp is required with ShardFilter type {shard_filter.value}.")
                if shard_filter is ShardFilterType.AT_TIMESTAMP:
                    return [s for s in shards if _open_at(s, max(timestamp, stream.created_at))]
                start = max(timestamp, horizon)  # "corrected to TRIM_HORIZON" when older
                return [s for s in shards if s.closed_at is None or s.closed_at >= start]

    def open_shard_count(self) -> int:
        return sum(len(s.open_shards) for s in self._streams.values() if not s.deleting and not s.internal)

    def _check_shard_limit(self, additional: int) -> None:
        if self.open_shard_count() + additional > self.settings.shard_limit:
            raise ShardLimitExceeded(
                f"This request would exceed the shard limit for the account {self.settings.account_id} in "
                f"{self.settings.region}. Current shard count for the account: {self.open_shard_count()}. "
                f"Limit: {self.settings.shard_limit}. Number of additional shards that would have resulted from "
                f"this request: {additional}.")

    @staticmethod
    def _check_record_size(kib: int | None) -> None:
        if kib is not None and not 1024 <= kib <= 10240:
            raise InvalidArgument(f"MaxRecordSizeInKiB must be between 1024 and 10240, not {kib}.")

    # -- configuration -----------------------------------------------------------------------

    def increase_stream_retention_period(self, stream_name: str, hours: int) -> None:
        with self._lock:
            stream = self._active(stream_name)
            self._check_retention(hours)
            if hours < stream.retention_period_hours:
                raise InvalidArgument(
                    f"Requested retention period ({hours} hours) for stream {stream_name} can not be shorter than "
                    f"existing retention period ({stream.retention_period_hours} hours). Use "
                    "DecreaseRetentionPeriod API.")
            stream.retention_period_hours = hours
            self._save(stream)

    def decrease_stream_retention_period(self, stream_name: str, hours: int) -> None:
        with self._lock:
            stream = self._active(stream_name)
            self._check_retention(hours)
            if hours > stream.retention_period_hours:
                raise InvalidArgument(
                    f"Requested retention period ({hours} hours) for stream {stream_name} can not be longer than "
                    f"existing retention period ({stream.retention_period_hours} hours). Use "
                    "IncreaseRetentionPeriod API.")
            stream.retention_period_hours = hours
            self._save(stream)

    @staticmethod
    def _check_retention(hours: int) -> None:
        low, high = RETENTION_HOURS
        if hours < low:
            raise InvalidArgument(f"Minimum allowed retention period is {low} hours. "
                                  f"Requested retention period ({hours} hours) is too short.")
        if hours > high:
            raise InvalidArgument(f"Maximum allowed retention period is {high} hours. "
                                  f"Requested retention period ({hours} hours) is too long.")

    def update_stream_mode(self, stream_name: str, mode: StreamMode) -> None:
        with self._lock:
            stream = self._active(stream_name)
            stream.stream_mode = mode
            self._busy(stream, StreamStatus.UPDATING)
            self._save(stream)

    def update_max_record_size(self, stream_name: str, kib: int) -> None:
        self._check_record_size(kib)
        with self._lock:
            stream = self._active(stream_name)
            stream.max_record_size_in_kib = kib
            self._save(stream)

    def start_stream_encryption(self, stream_name: str, encryption_type: str, key_id: str) -> None:
        with self._lock:
            stream = self._active(stream_name)
            stream.encryption_type, stream.key_id = encryption_type, key_id
            self._busy(stream, StreamStatus.UPDATING)
            self._save(stream)

    def stop_stream_encryption(self, stream_name: str) -> None:
        with self._lock:
            stream = self._active(stream_name)
            stream.encryption_type, stream.key_id = "NONE", None
            self._busy(stream, StreamStatus.UPDATING)
            self._save(stream)

    def set_shard_level_metrics(self, stream_name: str, metrics: list[str]) -> tuple[list[str], list[str]]:
        """Returns (current, desired) metric lists, as Enable/DisableEnhancedMonitoring report them."""
        with self._lock:
            stream = self._active(stream_name)
            current = list(stream.shard_level_metrics)
            stream.shard_level_metrics = sorted(set(metrics))
            self._save(stream)
            return current, stream.shard_level_metrics

    # -- tags --------------------------------------------------------------------------------

    def add_tags(self, stream_name: str, tags: dict[str, str]) -> None:
        with self._lock:
            stream = self._find(stream_name)
            merged = {**stream.tags, **tags}
            self._check_tags(merged)
            stream.tags = merged
            self._save(stream)

    def remove_tags(self, stream_name: str, keys: Sequence[str]) -> None:
        with self._lock:
            stream = self._find(stream_name)
            for key in keys:
                stream.tags.pop(key, None)
            self._save(stream)

    @staticmethod
    def _check_tags(tags: dict[str, str]) -> None:
        if len(tags) > MAX_TAGS:
            raise InvalidArgument(f"A stream cannot have more than {MAX_TAGS} tags associated with it.")

    # -- resharding --------------------------------------------------------------------------

    def split_shard(self, stream_name: str, shard_to_split: str, new_starting_hash_key: str) -> None:
        key = _hash_key_arg(new_starting_hash_key, "NewStartingHashKey")
        with self._lock:
            stream = self._active(stream_name)
            shard = self._open_shard(stream, shard_to_split)
            if not shard.starting_hash_key + 1 < key < shard.ending_hash_key:
                raise InvalidArgument(
                    f"NewStartingHashKey {key} used in SplitShard() on shard {shard.shard_id} in stream "
                    f"{stream_name} under account {self.settings.account_id} is not both greater than one plus "
                    f"the shard's StartingHashKey {shard.starting_hash_key} and less than the shard's "
                    f"EndingHashKey {shard.ending_hash_key}.")
            self._check_shard_limit(1)
            self._reshard(stream, lambda now: reshard.split(stream, shard, key, now))

    def merge_shards(self, stream_name: str, shard_to_merge: str, adjacent_shard_to_merge: str) -> None:
        with self._lock:
            stream = self._active(stream_name)
            shard = self._open_shard(stream, shard_to_merge)
            adjacent = self._open_shard(stream, adjacent_shard_to_merge)
            if shard is adjacent or not reshard.are_adjacent(shard, adjacent):
                raise InvalidArgument(
                    f"Shards {shard.shard_id} and {adjacent.shard_id} in stream {stream_name} under account "
                    f"{self.settings.account_id} are not an adjacent pair of shards eligible for merging")
            self._reshard(stream, lambda now: reshard.merge(stream, shard, adjacent, now))

    def update_shard_count(self, stream_name: str, target_shard_count: int) -> int:
        """Uniform scaling; returns the shard count before the update."""
        with self._lock:
            stream = self._active(stream_name)
            current = len(stream.open_shards)
            if target_shard_count > 2 * current:
                raise ShardLimitExceeded(
                    f"UpdateShardCount cannot scale up over double your current open shard count. Current open "
                    f"shard count: {current} Target shard count: {target_shard_count}")
            if target_shard_count < math.ceil(current / 2):
                raise ShardLimitExceeded(
                    f"UpdateShardCount cannot scale down below half your current open shard count. Current open "
                    f"shard count: {current} Target shard count: {target_shard_count}")
            self._check_shard_limit(max(0, target_shard_count - current))
            if target_shard_count != current or not _is_uniform(stream):
                self._reshard(stream, lambda now: reshard.scale_uniformly(stream, target_shard_count, now))
            return current

    def _open_shard(self, stream: Stream, shard_id: str) -> Shard:
        shard = self._shard(stream, shard_id)
        if not shard.is_open:
            raise ShardClosed(shard_id, stream.stream_name, self.settings.account_id)
        return shard

    def _reshard(self, stream: Stream, change) -> None:
        # Under the lock, so no put routes to a shard while it closes; the log writes the new shard
        # map after every record already routed to the old one.
        change(self.clock.now())
        self._busy(stream, StreamStatus.UPDATING)
        self._save(stream)

    # -- writing -----------------------------------------------------------------------------

    def put_record(self, stream_name: str, data: bytes, partition_key: str, explicit_hash_key: str | None = None,
                   sequence_number_for_ordering: str | None = None) -> tuple[str, str]:
        """Append one record; returns (shard id, sequence number) once it is durable."""
        shard_id, sequence_number, durable = self.submit_record(stream_name, data, partition_key, explicit_hash_key,
                                                                sequence_number_for_ordering)
        durable.result()
        return shard_id, sequence_number

    def submit_record(self, stream_name: str, data: bytes, partition_key: str, explicit_hash_key: str | None = None,
                      sequence_number_for_ordering: str | None = None) -> tuple[str, str, Future[object]]:
        """Number and queue one record (see ``submit_records``): (shard id, sequence number, future)."""
        if sequence_number_for_ordering is not None:
            position = decode(sequence_number_for_ordering)
            stream = self._usable(stream_name)
            if position is not None and position.stream_tag == stream_tag(stream.key):
                with self._lock:  # never hand out a number below the one the producer saw last
                    stream.next_counter = max(stream.next_counter, position.counter + 1)
        result, durable = self.submit_records(stream_name, [data], [partition_key], [explicit_hash_key])
        sequence_number = result.sequence_numbers[0]
        if sequence_number is None:
            stream = self._find(stream_name)
            raise ThroughputExceeded(result.shard_ids[0], stream.stream_name, self.settings.account_id)
        return result.shard_ids[0], sequence_number, durable

    def put_records(self, stream_name: str, data: Sequence[bytes], partition_keys: Sequence[str],
                    explicit_hash_keys: Sequence[str | None] | None = None) -> PutRecordsResult:
        """Append records; returns once the accepted ones are durable."""
        result, durable = self.submit_records(stream_name, data, partition_keys, explicit_hash_keys)
        durable.result()
        return result

    def submit_records(self, stream_name: str, data: Sequence[bytes], partition_keys: Sequence[str],
                       explicit_hash_keys: Sequence[str | None] | None = None
                       ) -> tuple[PutRecordsResult, Future[object]]:
        """Number and queue records for the next group commit without waiting for it: the result
        holds once the future resolves (an event loop awaits it instead of parking a thread). Per-record
        work is kept to hashing, routing and numbering; each shard's records go to the log as one row."""
        stream = self._usable(stream_name)
        keys = list(map(str.encode, partition_keys))
        self._check_sizes(stream, data, keys)
        count = len(data)
        now = self.clock.now()
        shard_ids: list[str] = [""] * count
        numbers: list[str | None] = [None] * count
        errors: dict[int, tuple[str, str]] = {}
        with self._lock:
            # in key order: after resharding, shard index order is not hash key order
            shards = sorted(stream.open_shards, key=lambda s: s.starting_hash_key)
            if len(shards) == 1:
                groups: dict[int, Sequence[int]] = {0: range(count)}
                for value in explicit_hash_keys or ():  # nothing to route, but still a rule of the API
                    if value is not None:
                        _hash_key_arg(value, "ExplicitHashKey")
            else:
                starts = [as_digest(s.starting_hash_key) for s in shards]
                groups = _group(list(map(bisect_right, repeat(starts), self._digests(keys, explicit_hash_keys))))
            batches = []
            for position, indexes in groups.items():
                shard = shards[position]
                if self._limits is not None:
                    for i in indexes:  # throttled records too: PutRecord's error names the shard
                        shard_ids[i] = shard.shard_id
                    indexes = self._admit(stream, shard, indexes, data, keys, errors, now)
                if not indexes:
                    continue  # every record of this shard was throttled, or an empty put: nothing to append
                first = stream.next_counter
                stream.next_counter += len(indexes)
                whole = len(indexes) == count
                batches.append(self.log.batch(stream.key, shard.index, first, int(now * 1000),
                                              keys if whole else list(map(keys.__getitem__, indexes)),
                                              data if whole else list(map(data.__getitem__, indexes))))
                _scatter(numbers, indexes, encode_range(first, len(indexes), shard.index, stream.key))
                _scatter(shard_ids, indexes, repeat(shard.shard_id))
            durable = self.log.submit(self.log.append_job(batches) if batches else lambda conn: None)
        return PutRecordsResult(shard_ids, numbers, errors), durable

    def _check_sizes(self, stream: Stream, data: Sequence[bytes], keys: Sequence[bytes]) -> None:
        limit = stream.max_record_size_in_kib * 1024
        sizes = list(map(len, data))
        total = sum(sizes) + sum(map(len, keys))
        if total > MAX_REQUEST_BYTES:
            raise InvalidArgument(f"Records size exceeds {MAX_REQUEST_BYTES // MIB} MB limit")
        if max(sizes, default=0) + 256 > limit:  # cheap pre-check before the exact one
            for i, key in enumerate(keys):
                if sizes[i] + len(key) > limit:
                    raise InvalidArgument(
                        f"Record {i} is {sizes[i] + len(key)} bytes (data plus partition key), over the stream's "
                        f"maximum record size of {limit} bytes.")

    @staticmethod
    def _digests(keys: Sequence[bytes], explicit: Sequence[str | None] | None) -> list[bytes]:
        digests = hash_digests(keys)
        if explicit is not None:
            for i, value in enumerate(explicit):
                if value is not None:
                    digests[i] = as_digest(_hash_key_arg(value, "ExplicitHashKey"))
        return digests

    def _admit(self, stream: Stream, shard: Shard, indexes: Sequence[int], data: Sequence[bytes],
               keys: Sequence[bytes], errors: dict[int, tuple[str, str]], now: float) -> list[int]:
        assert self._limits is not None
        admitted = []
        for i in indexes:
            if self._limits.admit_write(stream.key, shard.index, len(data[i]) + len(keys[i]), now):
                admitted.append(i)
            else:
                error = ThroughputExceeded(shard.shard_id, stream.stream_name, self.settings.account_id)
                errors[i] = ("ProvisionedThroughputExceededException", error.message)
        return admitted

    # -- reading -----------------------------------------------------------------------------

    def get_shard_iterator(self, stream_name: str, shard_id: str, iterator_type: IteratorType,
                           starting_sequence_number: str | None = None, timestamp: float | None = None) -> str:
        stream = self._usable(stream_name)
        shard = self._shard(stream, shard_id)
        match iterator_type:
            case IteratorType.TRIM_HORIZON:
                position = shard.start_counter
            case IteratorType.LATEST:
                position = stream.next_counter if shard.is_open else shard.end_counter
            case IteratorType.AT_SEQUENCE_NUMBER | IteratorType.AFTER_SEQUENCE_NUMBER:
                counter = self._sequence_counter(stream, shard, starting_sequence_number)
                position = counter + (iterator_type is IteratorType.AFTER_SEQUENCE_NUMBER)
            case IteratorType.AT_TIMESTAMP:
                if timestamp is None:
                    raise InvalidArgument("Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP.")
                found = self.log.first_counter_at(stream.key, shard.index, int(timestamp * 1000))
                position = found if found is not None else stream.next_counter
        return self._iterators.encode(IteratorState(stream.stream_name, stream.key, shard.index, position,
                                                    int(self.clock.now() * 1000)))

    def _sequence_counter(self, stream: Stream, shard: Shard, sequence_number: str | None) -> int:
        if sequence_number is None:
            raise InvalidArgument("StartingSequenceNumber is required for iterator types "
                                  "AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER.")
        position = decode(sequence_number)
        if position is None or position.stream_tag != stream_tag(stream.key):
            raise InvalidArgument(f"StartingSequenceNumber {sequence_number} used in GetShardIterator on shard "
                                  f"{shard.shard_id} in stream {stream.stream_name} under account "
                                  f"{self.settings.account_id} is invalid.")
        if position.shard_index != shard.index:
            raise InvalidArgument(
                f"Invalid StartingSequenceNumber. It encodes shardId-{position.shard_index:012d}, while it was used "
                f"in a call to a shard with {shard.shard_id}")
        return position.counter

    def near_tip(self, shard_iterator: str, records: int) -> bool:
        """Whether at most ``records`` were put to the iterator's stream after its position (the
        counter is shared by the shards): a consumer keeping up, whose next read is small."""
        try:
            state = self._iterators.decode(shard_iterator)
        except InvalidIterator:
            return False
        stream = self._streams.get(state.stream_name)
        return stream is not None and stream.next_counter - state.position <= records

    def get_records(self, shard_iterator: str, limit: int = 10000) -> GetRecordsResult:
        state = self._iterators.decode(shard_iterator)
        now = self.clock.now()
        now_ms = int(now * 1000)
        ttl_ms = int(self.settings.iterator_ttl_seconds * 1000)
        if now_ms - state.issued_ms > ttl_ms:
            raise IteratorExpired(state.issued_ms, now_ms, ttl_ms)
        stream = self._usable(state.stream_name)
        if stream.key != state.stream_key or state.shard_index >= len(stream.shards):
            raise InvalidIterator()
        shard = stream.shards[state.shard_index]
        if self._limits is not None and not self._limits.admit_read(stream.key, shard.index, now):
            raise ThroughputExceeded(shard.shard_id, stream.stream_name, self.settings.account_id)
        horizon_ms = now_ms - stream.retention_period_hours * 3_600_000
        closed = self._closed(shard)  # before reading: see _closed
        columns, position, more = self.log.read_columns(stream.key, shard.index, state.position, horizon_ms,
                                                        limit, MAX_GET_BYTES)
        if self._limits is not None:
            self._limits.charge_read(stream.key, shard.index, sum(map(len, columns.data)), now)
        behind = int(max(0, now - columns.arrivals[-1]) * 1000) if more and columns.data else 0
        if closed and not more:
            # Closed and nothing left: its records are all committed (the close was written after
            # them), so this is the shard's end.
            return GetRecordsResult(columns, None, behind, self._children(stream, shard), stream.key, shard.index)
        next_iterator = self._iterators.encode(
            IteratorState(stream.stream_name, stream.key, shard.index, position, now_ms))
        return GetRecordsResult(columns, next_iterator, behind, [] if closed else None, stream.key, shard.index)

    def _closed(self, shard: Shard) -> bool:
        """Whether a reader may treat the shard as closed. A reshard closes shards in memory first and
        holds the lock until the new map is committed, which is after every put routed to the old
        shards: so a close seen under the lock means the shard's records are all readable."""
        with self._lock:
            return not shard.is_open

    def _children(self, stream: Stream, shard: Shard) -> list[ChildShard]:
        children = [s for s in stream.shards if shard.shard_id in (s.parent_shard_id, s.adjacent_parent_shard_id)]
        return [ChildShard(c.shard_id, tuple(p for p in (c.parent_shard_id, c.adjacent_parent_shard_id) if p),
                           c.starting_hash_key, c.ending_hash_key) for c in children]

    def read_shard(self, stream_name: str, shard_index: int, position: int, limit: int,
                   max_bytes: int = MAX_GET_BYTES) -> tuple[list[Record], int, bool]:
        """Core read for the platform's own consumers: no iterator, no throttling, no expiry.

        Returns (records, next position, finished): finished is True once a closed shard is fully read.
        """
        columns, next_position, finished = self.read_shard_columns(stream_name, shard_index, position, limit,
                                                                   max_bytes)
        return columns.records(self._usable(stream_name).key, shard_index), next_position, finished

    def read_shard_columns(self, stream_name: str, shard_index: int, position: int, limit: int,
                           max_bytes: int = MAX_GET_BYTES, until: int | None = None) -> tuple[Columns, int, bool]:
        """``read_shard`` as parallel lists, optionally stopping before counter ``until``."""
        stream = self._usable(stream_name)
        shard = stream.shards[shard_index]
        horizon_ms = int(self.clock.now() * 1000) - stream.retention_period_hours * 3_600_000
        closed = self._closed(shard)  # before reading: see _closed
        columns, next_position, more = self.log.read_columns(stream.key, shard_index, max(position, 0), horizon_ms,
                                                             limit, max_bytes, until)
        return columns, next_position, (closed and not more)

    # -- retention ---------------------------------------------------------------------------

    def trim_expired(self) -> int:
        """Delete records older than each stream's retention period; returns how many batches went."""
        now_ms = int(self.clock.now() * 1000)
        jobs = []

        def job(conn) -> int:
            removed = 0
            for key, horizon, doc in jobs:
                # Keep the counter floor first: sequence numbers must never be handed out twice.
                conn.execute("UPDATE streams SET doc = ? WHERE key = ?", (doc, key))
                removed += conn.execute("DELETE FROM batches WHERE stream_key = ? AND arrival_ms < ?",
                                        (key, horizon)).rowcount
            return removed
        with self._lock:
            for stream in self._streams.values():
                if not stream.deleting:
                    jobs.append((stream.key, now_ms - stream.retention_period_hours * 3_600_000,
                                 to_doc(stream)))
            if not jobs:
                return 0
            # Queued under the lock, so a later change of a document (a reshard) is written after
            # this snapshot and never overwritten by it.
            done = self.log.submit(job)
        return done.result()

    # -- enhanced fan-out consumers ----------------------------------------------------------

    def register_stream_consumer(self, stream_arn: str, consumer_name: str) -> Consumer:
        with self._lock:
            stream = self._find(self.stream_name_from_arn(stream_arn))
            if consumer_name in stream.consumers:
                raise ConsumerAlreadyExists(consumer_name, stream.stream_arn)
            if len(stream.consumers) >= MAX_CONSUMERS:
                raise ShardLimitExceeded(f"Stream {stream.stream_name} already has {MAX_CONSUMERS} registered "
                                         "consumers, the maximum.")
            now = self.clock.now()
            consumer = Consumer(consumer_name, f"{stream.stream_arn}/consumer/{consumer_name}:{int(now)}", now)
            stream.consumers[consumer_name] = consumer
            self._save(stream)
            return consumer

    def consumer_status(self, consumer: Consumer) -> str:
        return "CREATING" if self.clock.now() < consumer.created_at + self.settings.transition_seconds else "ACTIVE"

    def find_consumer(self, stream_arn: str | None, consumer_name: str | None,
                      consumer_arn: str | None) -> tuple[Stream, Consumer]:
        if consumer_arn is not None:
            stream_arn = consumer_arn.split("/consumer/", 1)[0]
            consumer_name = consumer_arn.split("/consumer/", 1)[-1].rsplit(":", 1)[0]
        if stream_arn is None or consumer_name is None:
            raise InvalidArgument("Either ConsumerARN or both StreamARN and ConsumerName must be given.")
        stream = self._find(self.stream_name_from_arn(stream_arn))
        consumer = stream.consumers.get(consumer_name)
        if consumer is None or (consumer_arn is not None and consumer.consumer_arn != consumer_arn):
            raise ConsumerNotFound(consumer_arn or consumer_name, self.settings.account_id)
        return stream, consumer

    def deregister_stream_consumer(self, stream_arn: str | None, consumer_name: str | None,
                                   consumer_arn: str | None) -> None:
        with self._lock:
            stream, consumer = self.find_consumer(stream_arn, consumer_name, consumer_arn)
            del stream.consumers[consumer.consumer_name]
            self._save(stream)

    def list_stream_consumers(self, stream_arn: str) -> list[Consumer]:
        stream = self._find(self.stream_name_from_arn(stream_arn))
        return sorted(stream.consumers.values(), key=lambda c: c.consumer_name)


def _hash_key_arg(value: str, name: str) -> int:
    if not value.isdigit() or int(value) > MAX_HASH_KEY:
        raise InvalidArgument(f"{name} {value} is not a valid hash key: it must be a decimal integer between 0 "
                              f"and {MAX_HASH_KEY}.")
    return int(value)


def _open_at(shard: Shard, at: float) -> bool:
    return shard.created_at <= at and (shard.closed_at is None or shard.closed_at >= at)


def _is_uniform(stream: Stream) -> bool:
    ranges = sorted((s.starting_hash_key, s.ending_hash_key) for s in stream.open_shards)
    return ranges == uniform_ranges(len(ranges))


def _group(positions: list[int]) -> dict[int, Sequence[int]]:
    """Request indexes by shard (``positions`` are 1-based, from bisect), each in request order:
    a stable sort and slices, so 500 records cost C-level loops rather than 500 appends."""
    order = sorted(range(len(positions)), key=positions.__getitem__)
    groups: dict[int, Sequence[int]] = {}
    start = 0
    for position, size in sorted(Counter(positions).items()):
        groups[position - 1] = order[start:start + size]
        start += size
    return groups


def _scatter(target: list[Any], indexes: Sequence[int], values: Iterable[Any]) -> None:
    """``target[i] = value`` for each pair, in a C-level loop."""
    deque(map(target.__setitem__, indexes, values), maxlen=0)
