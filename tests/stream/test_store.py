"""StreamStore (stream/store.py): lifecycle, routing, limits, durability of counters, status, throughput.

Semantics follow the Kinesis Data Streams API reference (CreateStream, PutRecords, GetRecords, ...).
"""
from __future__ import annotations

import shutil
import threading
import time
from typing import Callable

import pytest

from tidelake.clock import ManualClock
from tidelake.errors import InvalidArgument
from tidelake.stream.errors import (InvalidIterator, StreamAlreadyExists, StreamNotActive, StreamNotFound,
                                    ThroughputExceeded)
from tidelake.stream.keys import decode, hash_key, uniform_ranges
from tidelake.stream.models import MAX_HASH_KEY, IteratorType, StreamStatus
from tidelake.stream.store import MAX_REQUEST_BYTES, StreamStore

MIB = 1 << 20


def put_keys(store: StreamStore, stream: str, keys: list[str]) -> list[tuple[str, str]]:
    result = store.put_records(stream, [k.encode() for k in keys], keys)
    assert not result.errors
    return list(zip(result.shard_ids, result.sequence_numbers))  # type: ignore[arg-type]


# -- lifecycle -------------------------------------------------------------------------------

def test_create_describe_list_delete(store: StreamStore) -> None:
    store.create_stream("b", 3)
    store.create_stream("a", 1)
    stream = store.describe_stream("b")
    assert stream.stream_name == "b"
    assert stream.stream_arn == "arn:aws:kinesis:us-east-1:000000000000:stream/b"
    assert store.status(stream) is StreamStatus.ACTIVE
    assert [s.shard_id for s in stream.shards] == ["shardId-000000000000", "shardId-000000000001",
                                                   "shardId-000000000002"]
    assert [(s.starting_hash_key, s.ending_hash_key) for s in stream.shards] == uniform_ranges(3)
    assert [s.stream_name for s in store.list_streams()] == ["a", "b"]
    with pytest.raises(StreamAlreadyExists):
        store.create_stream("a", 2)
    store.delete_stream("a")
    with pytest.raises(StreamNotFound):
        store.describe_stream("a")
    assert [s.stream_name for s in store.list_streams()] == ["b"]
    with pytest.raises(StreamNotFound):
        store.put_record("a", b"x", "k")


def test_streams_survive_reopen(open_store: Callable[..., StreamStore]) -> None:
    store = open_store()
    store.create_stream("kept", 2)
    store.create_stream("gone", 1)
    store.delete_stream("gone")
    store.close()
    store = open_store()
    assert [s.stream_name for s in store.list_streams()] == ["kept"]
    assert len(store.describe_stream("kept").shards) == 2


def test_recreated_stream_is_a_different_stream(store: StreamStore) -> None:
    store.create_stream("s", 1)
    old_shard, old_number = store.put_record("s", b"old", "k")
    old_iterator = store.get_shard_iterator("s", old_shard, IteratorType.TRIM_HORIZON)
    store.delete_stream("s")
    store.create_stream("s", 1)
    _, new_number = store.put_record("s", b"new", "k")
    assert new_number != old_number  # a sequence number names one record, ever
    with pytest.raises(InvalidIterator):
        store.get_records(old_iterator)
    with pytest.raises(InvalidArgument):
        store.get_shard_iterator("s", old_shard, IteratorType.AT_SEQUENCE_NUMBER, old_number)


# -- status transitions ------------------------------------------------------------------------

def test_creating_then_active(open_store: Callable[..., StreamStore], clock: ManualClock) -> None:
    store = open_store(transition_seconds=2.0)
    store.create_stream("s", 1)
    stream = store.describe_stream("s")
    assert store.status(stream) is StreamStatus.CREATING
    with pytest.raises(StreamNotFound):  # not usable yet
        store.put_record("s", b"x", "k")
    with pytest.raises(StreamNotActive):
        store.split_shard("s", "shardId-000000000000", str(1 << 127))
    clock.advance(1.9)
    assert store.status(stream) is StreamStatus.CREATING
    clock.advance(0.2)
    assert store.status(stream) is StreamStatus.ACTIVE
    store.put_record("s", b"x", "k")


def test_deleting_then_gone(open_store: Callable[..., StreamStore], clock: ManualClock) -> None:
    store = open_store(transition_seconds=2.0)
    store.create_stream("s", 1)
    clock.advance(2)
    store.put_record("s", b"x", "k")
    store.delete_stream("s")
    assert store.status(store.describe_stream("s")) is StreamStatus.DELETING
    assert [s.stream_name for s in store.list_streams()] == ["s"]
    with pytest.raises(StreamAlreadyExists):
        store.create_stream("s", 1)
    clock.advance(2.1)
    with pytest.raises(StreamNotFound):
        store.describe_stream("s")
    assert store.list_streams() == []
    store.create_stream("s", 1)  # the name is free again


def test_updating_after_reshard(open_store: Callable[..., StreamStore], clock: ManualClock) -> None:
    store = open_store(transition_seconds=1.0)
    store.create_stream("s", 1)
    clock.advance(1)
    store.split_shard("s", "shardId-000000000000", str(1 << 127))
    assert store.status(store.describe_stream("s")) is StreamStatus.UPDATING
    store.put_record("s", b"x", "k")  # UPDATING streams take writes
    with pytest.raises(StreamNotActive):
        store.update_shard_count("s", 1)
    clock.advance(1)
    assert store.status(store.describe_stream("s")) is StreamStatus.ACTIVE


# -- routing -----------------------------------------------------------------------------------

def assert_routed_by_hash(store: StreamStore, stream_name: str, keys: list[str]) -> None:
    stream = store.describe_stream(stream_name)
    for key, (shard_id, number) in zip(keys, put_keys(store, stream_name, keys)):
        shard = stream.shard(shard_id)
        assert shard is not None and shard.is_open
        assert shard.covers(hash_key(key.encode())), (key, shard_id)
        position = decode(number)
        assert position is not None and position.shard_index == shard.index


def test_put_records_routes_by_hash_range(store: StreamStore) -> None:
    store.create_stream("s", 4)
    keys = [f"key-{i}" for i in range(400)]
    assert_routed_by_hash(store, "s", keys)
    used = {shard_id for shard_id, _ in put_keys(store, "s", keys)}
    assert len(used) == 4


def test_each_shard_keeps_the_request_order_and_the_answer_keeps_the_request_index(store: StreamStore) -> None:
    """Records of a put are grouped by shard for the log: within a shard they stay in request order,
    and the answer's i-th entry is still the i-th record's shard and sequence number."""
    store.create_stream("s", 4)
    keys = [f"key-{i % 37}" for i in range(500)]
    data = [f"record-{i}".encode() for i in range(500)]
    result = store.put_records("s", data, keys)
    for shard_index in range(4):
        shard_id = f"shardId-{shard_index:012d}"
        iterator = store.get_shard_iterator("s", shard_id, IteratorType.TRIM_HORIZON)
        read = store.get_records(iterator, limit=1000).records
        sent = [i for i in range(500) if result.shard_ids[i] == shard_id]
        assert [r.data for r in read] == [data[i] for i in sent]
        assert [r.sequence_number for r in read] == [result.sequence_numbers[i] for i in sent]
        assert [r.partition_key for r in read] == [keys[i] for i in sent]


def test_routing_after_resharding_out_of_key_order(store: StreamStore) -> None:
    """Shard ids and key order disagree once a low shard is split: routing must follow the keys."""
    store.create_stream("s", 2)
    store.split_shard("s", "shardId-000000000000", str(1 << 126))  # children 2, 3 below shard 1
    store.split_shard("s", "shardId-000000000003", str(3 << 125))
    assert_routed_by_hash(store, "s", [f"key-{i}" for i in range(500)])
    store.merge_shards("s", "shardId-000000000002", "shardId-000000000004")
    assert_routed_by_hash(store, "s", [f"key-{i}" for i in range(500)])


def test_explicit_hash_key_overrides_the_partition_key(store: StreamStore) -> None:
    store.create_stream("s", 4)
    ranges = uniform_ranges(4)
    result = store.put_records("s", [b"a", b"b", b"c", b"d", b"e"], ["same"] * 5,
                               [str(ranges[3][0]), str(ranges[0][1]), "0", str(MAX_HASH_KEY), None])
    assert result.shard_ids[:4] == ["shardId-000000000003", "shardId-000000000000",
                                    "shardId-000000000000", "shardId-000000000003"]
    expected = next(i for i, (lo, hi) in enumerate(ranges) if lo <= hash_key(b"same") <= hi)
    assert result.shard_ids[4] == f"shardId-{expected:012d}"
    shard_id, _ = store.put_record("s", b"x", "same", explicit_hash_key=str(ranges[2][0]))
    assert shard_id == "shardId-000000000002"


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("bad", [str(MAX_HASH_KEY + 1), "-1", "12a", ""])
def test_invalid_explicit_hash_key(store: StreamStore, shards: int, bad: str) -> None:
    store.create_stream("s", shards)
    with pytest.raises(InvalidArgument):
        store.put_records("s", [b"a", b"b"], ["k", "k"], [None, bad])
    with pytest.raises(InvalidArgument):
        store.put_record("s", b"a", "k", explicit_hash_key=bad)
    assert store.log.max_counter(store.describe_stream("s").key, 0) is None  # nothing was written


def test_sequence_numbers_increase_across_shards_and_calls(store: StreamStore) -> None:
    store.create_stream("s", 3)
    numbers = []
    for i in range(20):
        numbers.extend(n for _, n in put_keys(store, "s", [f"k{i}-{j}" for j in range(5)]))
    assert len(set(numbers)) == 100
    assert all(len(n) == 56 for n in numbers)
    call_maxima = [max(map(int, numbers[i:i + 5])) for i in range(0, 100, 5)]
    call_minima = [min(map(int, numbers[i:i + 5])) for i in range(0, 100, 5)]
    assert all(lo > hi for lo, hi in zip(call_minima[1:], call_maxima))


def test_sequence_number_for_ordering(store: StreamStore) -> None:
    store.create_stream("s", 2)
    _, first = store.put_record("s", b"a", "k1")
    _, second = store.put_record("s", b"b", "k2", sequence_number_for_ordering=first)
    assert int(second) > int(first)


# -- size limits -------------------------------------------------------------------------------

def test_record_size_limit_counts_data_and_partition_key(store: StreamStore) -> None:
    store.create_stream("s", 1)
    store.put_record("s", b"x" * (MIB - 3), "abc")  # exactly 1 MiB
    with pytest.raises(InvalidArgument):
        store.put_record("s", b"x" * (MIB - 2), "abc")
    with pytest.raises(InvalidArgument):
        store.put_records("s", [b"ok", b"x" * (MIB + 1)], ["k", "k"])
    stream = store.describe_stream("s")
    assert store.log.max_counter(stream.key, 0) == 0  # the failed calls wrote nothing


def test_request_size_limit(store: StreamStore) -> None:
    store.create_stream("s", 1)
    count = MAX_REQUEST_BYTES // MIB
    store.put_records("s", [b"x" * (MIB - 1)] * count, ["k"] * count)  # the limit, keys included
    with pytest.raises(InvalidArgument):
        store.put_records("s", [b"x" * (MIB - 1)] * count + [b"xy"], ["k"] * (count + 1))
    stream = store.describe_stream("s")
    assert store.log.max_counter(stream.key, 0) == count - 1  # the refused call wrote nothing


def test_larger_max_record_size(store: StreamStore) -> None:
    store.create_stream("s", 1, max_record_size_in_kib=2048)
    store.put_record("s", b"x" * (2 * MIB - 1), "k")
    with pytest.raises(InvalidArgument):
        store.create_stream("t", 1, max_record_size_in_kib=512)


# -- durability of counters --------------------------------------------------------------------

def test_counters_restored_after_reopen(open_store: Callable[..., StreamStore]) -> None:
    store = open_store()
    store.create_stream("s", 2)
    before = [n for _, n in put_keys(store, "s", [f"k{i}" for i in range(50)])]
    store.close()
    store = open_store()
    after = [n for _, n in put_keys(store, "s", [f"k{i}" for i in range(50)])]
    assert min(map(int, after)) > max(map(int, before))


def test_counters_restored_after_crash(open_store: Callable[..., StreamStore], settings_factory, clock,
                                       tmp_path) -> None:
    store = open_store()
    store.create_stream("s", 2)
    before = [n for _, n in put_keys(store, "s", [f"k{i}" for i in range(50)])]
    shutil.copytree(store.settings.data_dir, tmp_path / "crashed",  # kill -9: no close(), no checkpoint
                    ignore=shutil.ignore_patterns("*-shm"))
    copy = StreamStore.open(settings_factory(data_dir=tmp_path / "crashed"), clock)
    try:
        after = [n for _, n in put_keys(copy, "s", [f"k{i}" for i in range(50)])]
        assert min(map(int, after)) > max(map(int, before))
        records = [r for s in copy.describe_stream("s").shards
                   for r in copy.read_shard("s", s.index, 0, 1000)[0]]
        assert len(records) == 100
    finally:
        copy.close()


def test_counters_never_reused_after_retention_removed_every_record(open_store: Callable[..., StreamStore],
                                                                    clock: ManualClock) -> None:
    store = open_store()
    store.create_stream("s", 2)
    before = [n for _, n in put_keys(store, "s", [f"k{i}" for i in range(30)])]
    clock.advance(25 * 3600)
    assert store.trim_expired() > 0
    assert store.log.query("SELECT COUNT(*) FROM batches")[0][0] == 0
    store.close()
    store = open_store()
    after = [n for _, n in put_keys(store, "s", [f"k{i}" for i in range(30)])]
    assert min(map(int, after)) > max(map(int, before))


# -- reading -----------------------------------------------------------------------------------

def test_get_records_limit(store: StreamStore) -> None:
    store.create_stream("s", 1)
    for i in range(5):
        store.put_records("s", [f"{i}-{j}".encode() for j in range(10)], ["k"] * 10)
    iterator = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    seen = []
    for _ in range(7):
        result = store.get_records(iterator, limit=7)
        assert len(result.records) == 7
        seen.extend(r.data for r in result.records)
        iterator = result.next_shard_iterator
    result = store.get_records(iterator, limit=7)
    seen.extend(r.data for r in result.records)
    assert seen == [f"{i}-{j}".encode() for i in range(5) for j in range(10)]
    assert len(result.records) == 1


def test_near_tip_tells_a_consumer_keeping_up_from_a_backlog(store: StreamStore) -> None:
    """The wire layer reads on the event loop only near the tip."""
    store.create_stream("s", 1)
    latest = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.LATEST)
    oldest = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    assert store.near_tip(latest, 0) and store.near_tip(oldest, 0)
    store.put_records("s", [b"x"] * 11, ["k"] * 11)
    assert not store.near_tip(oldest, 10) and store.near_tip(oldest, 11)
    assert not store.near_tip(latest, 10)  # LATEST was issued before the put: those records are its to read
    assert store.near_tip(store.get_records(oldest).next_shard_iterator, 0)  # caught up
    assert not store.near_tip("not-an-iterator", 10)


def test_near_tip_counts_the_puts_to_every_shard(store: StreamStore) -> None:
    """The counter is the stream's: records put to other shards count against the bound too."""
    store.create_stream("s", 2)
    oldest = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    store.put_records("s", [b"x"] * 11, [f"k{i}" for i in range(11)])
    assert not store.near_tip(oldest, 10) and store.near_tip(oldest, 11)


def test_get_records_caps_at_10_mib(store: StreamStore) -> None:
    store.create_stream("s", 1)
    record = b"x" * (MIB - 16)
    for i in range(12):
        store.put_record("s", record, f"k{i}")
    iterator = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    result = store.get_records(iterator)
    size = sum(len(r.data) + len(r.partition_key) for r in result.records)
    assert 0 < size <= 10 * MIB
    assert 8 <= len(result.records) < 12
    assert result.millis_behind_latest >= 0
    rest = store.get_records(result.next_shard_iterator)
    assert [r.partition_key for r in result.records + rest.records] == [f"k{i}" for i in range(12)]


def test_get_records_caps_a_batch_of_many_large_records(store: StreamStore) -> None:
    """The cap holds inside one put's batch too: three 4.5 MiB batches, never more than 10 MiB a call."""
    store.create_stream("s", 1)
    for b in range(3):
        store.put_records("s", [b"y" * (MIB - 16) + bytes([b])] * 4 + [b"z" * (MIB // 2)], ["k"] * 5)
    iterator = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    total = 0
    while iterator is not None:
        result = store.get_records(iterator)
        assert sum(len(r.data) for r in result.records) <= 10 * MIB
        total += len(result.records)
        if not result.records:
            break
        iterator = result.next_shard_iterator
    assert total == 15


def test_millis_behind_latest(store: StreamStore, clock: ManualClock) -> None:
    store.create_stream("s", 1)
    store.put_record("s", b"old", "k")
    clock.advance(10)
    store.put_record("s", b"new", "k")
    clock.advance(5)
    iterator = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    first = store.get_records(iterator, limit=1)
    assert [r.data for r in first.records] == [b"old"]
    assert first.millis_behind_latest == 15_000
    second = store.get_records(first.next_shard_iterator, limit=1)
    assert [r.data for r in second.records] == [b"new"]
    assert second.millis_behind_latest == 0  # at the tip
    third = store.get_records(second.next_shard_iterator)
    assert third.records == [] and third.millis_behind_latest == 0


def test_records_carry_arrival_time(store: StreamStore, clock: ManualClock) -> None:
    store.create_stream("s", 1)
    store.put_record("s", b"x", "k")
    record = store.get_records(store.get_shard_iterator("s", "shardId-000000000000",
                                                        IteratorType.TRIM_HORIZON)).records[0]
    assert record.approximate_arrival_timestamp == pytest.approx(clock.now(), abs=0.001)
    assert (record.data, record.partition_key) == (b"x", "k")


def test_closed_shard_ends_with_child_shards(store: StreamStore) -> None:
    store.create_stream("s", 1)
    put_keys(store, "s", ["a", "b", "c"])
    parent_iterator = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    store.split_shard("s", "shardId-000000000000", str(1 << 127))
    put_keys(store, "s", ["d", "e"])  # into the children
    first = store.get_records(parent_iterator, limit=2)
    assert [r.data for r in first.records] == [b"a", b"b"]
    assert first.next_shard_iterator is not None
    last = store.get_records(first.next_shard_iterator)
    assert [r.data for r in last.records] == [b"c"]
    assert last.next_shard_iterator is None
    assert [(c.shard_id, c.parent_shards) for c in last.child_shards] == [
        ("shardId-000000000001", ("shardId-000000000000",)), ("shardId-000000000002", ("shardId-000000000000",))]
    assert [(c.starting_hash_key, c.ending_hash_key) for c in last.child_shards] == uniform_ranges(2)
    # LATEST on a closed shard: straight to its end
    latest = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.LATEST)
    end = store.get_records(latest)
    assert end.records == [] and end.next_shard_iterator is None and len(end.child_shards) == 2


def test_open_shard_has_no_child_shards(store: StreamStore) -> None:
    store.create_stream("s", 1)
    result = store.get_records(store.get_shard_iterator("s", "shardId-000000000000", IteratorType.LATEST))
    assert result.next_shard_iterator is not None
    assert not result.child_shards


# -- throughput ----------------------------------------------------------------------------------

def test_write_throughput_per_shard(open_store: Callable[..., StreamStore], clock: ManualClock) -> None:
    store = open_store(enforce_throughput=True)
    store.create_stream("s", 1)
    result = store.put_records("s", [b"x"] * 500, ["k"] * 500)
    assert not result.errors
    result = store.put_records("s", [b"x"] * 500, ["k"] * 500)
    assert not result.errors  # 1,000 records in this second
    result = store.put_records("s", [b"y"] * 10, ["k"] * 10)
    assert sorted(result.errors) == list(range(10))
    code, message = result.errors[0]
    assert code == "ProvisionedThroughputExceededException"
    assert "shardId-000000000000" in message
    assert result.sequence_numbers == [None] * 10
    with pytest.raises(ThroughputExceeded):
        store.put_record("s", b"y", "k")
    clock.advance(1)
    result = store.put_records("s", [b"z"] * 1200, ["k"] * 1200)
    assert sorted(result.errors) == list(range(1000, 1200))  # fails per record, not per call
    assert all(n is not None for n in result.sequence_numbers[:1000])
    stream = store.describe_stream("s")
    records, _, _ = store.log.read(stream.key, 0, 0, 0, 10_000, 1 << 30)
    assert len(records) == 2000
    assert {r.data for r in records} == {b"x", b"z"}


def test_write_throughput_bytes(open_store: Callable[..., StreamStore], clock: ManualClock) -> None:
    store = open_store(enforce_throughput=True)
    store.create_stream("s", 1)
    result = store.put_records("s", [b"x" * (MIB // 4 - 1)] * 5, ["k"] * 5)  # 1.25 MiB into a 1 MiB/s shard
    assert sorted(result.errors) == [4]
    clock.advance(1)
    assert not store.put_records("s", [b"x" * (MIB // 4 - 1)] * 4, ["k"] * 4).errors


def test_write_throughput_is_per_shard(open_store: Callable[..., StreamStore]) -> None:
    store = open_store(enforce_throughput=True)
    store.create_stream("s", 2)
    ranges = uniform_ranges(2)
    low = store.put_records("s", [b"x"] * 1000, ["k"] * 1000, [str(ranges[0][0])] * 1000)
    high = store.put_records("s", [b"x"] * 1000, ["k"] * 1000, [str(ranges[1][0])] * 1000)
    assert not low.errors and not high.errors


def test_read_throughput_per_shard(open_store: Callable[..., StreamStore], clock: ManualClock) -> None:
    store = open_store(enforce_throughput=True)
    store.create_stream("s", 1)
    store.put_record("s", b"x", "k")
    iterator = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    for _ in range(5):
        store.get_records(iterator)
    with pytest.raises(ThroughputExceeded):
        store.get_records(iterator)
    clock.advance(1)
    assert [r.data for r in store.get_records(iterator).records] == [b"x"]


def test_no_throttling_by_default(store: StreamStore) -> None:
    store.create_stream("s", 1)
    assert not store.put_records("s", [b"x"] * 500, ["k"] * 500).errors
    assert not store.put_records("s", [b"x"] * 500, ["k"] * 500).errors
    assert not store.put_records("s", [b"x"] * 500, ["k"] * 500).errors
    iterator = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    for _ in range(20):
        store.get_records(iterator, limit=1)


def test_empty_put_records_writes_nothing(store: StreamStore) -> None:
    store.create_stream("s", 1)
    store.put_record("s", b"x", "k")
    result = store.put_records("s", [], [])
    assert (result.shard_ids, result.sequence_numbers, result.errors) == ([], [], {})
    stream = store.describe_stream("s")
    assert store.log.query("SELECT COUNT(*) FROM batches WHERE stream_key = ?", (stream.key,))[0][0] == 1
    store.put_record("s", b"y", "k")


def test_shard_end_is_not_reported_before_the_records_routed_to_it_are_committed(store: StreamStore) -> None:
    """A put routed to a shard just before a split is still being committed when a reader finds the shard
    closed: the reader must not report the shard's end (and lose the record) before that commit."""
    store.create_stream("s", 1)
    iterator = store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON)
    stream = store.describe_stream("s")
    gate = threading.Event()
    store.log.submit(lambda conn: gate.wait(10))  # the writer is busy: nothing commits for now
    put = threading.Thread(target=store.put_record, args=("s", b"routed-before-split", "k"))
    put.start()
    deadline = time.monotonic() + 5
    while stream.next_counter == 0:  # the record is numbered and queued, not committed
        assert time.monotonic() < deadline
        time.sleep(0.001)
    split = threading.Thread(target=store.split_shard, args=("s", "shardId-000000000000", str(1 << 127)))
    split.start()
    while stream.shards[0].is_open:  # the shard is closed in memory; the close is not durable yet
        assert time.monotonic() < deadline
        time.sleep(0.001)
    results = []
    reader = threading.Thread(target=lambda: results.append(store.get_records(iterator)))
    reader.start()
    reader.join(0.2)
    gate.set()
    for thread in (put, split, reader):
        thread.join(10)
    result = results[0]
    records = list(result.records)
    if result.next_shard_iterator is not None:  # "not yet the end" is fine too: read on
        records += store.get_records(result.next_shard_iterator).records
    assert [r.data for r in records] == [b"routed-before-split"]
