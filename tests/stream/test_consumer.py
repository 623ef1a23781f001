"""StreamConsumer (stream/consumer.py): the platform's own reader with durable checkpoints, following
resharding parent -> children the way the Kinesis Client Library does."""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Callable

from tidelake.stream.consumer import ShardBatch, StreamConsumer
from tidelake.stream.models import IteratorType, Record
from tidelake.stream.store import SHARD_END, StreamStore


def consume(consumer: StreamConsumer, limit: int = 10_000, commit: bool = True,
            max_rounds: int = 100) -> list[Record]:
    """Read every offered shard until nothing new comes; commit each batch when asked."""
    out: list[Record] = []
    for _ in range(max_rounds):
        progressed = False
        for shard in consumer.shards():
            batch = consumer.read(shard, limit)
            out.extend(batch.records)
            if batch.records or batch.finished:
                progressed = True
            if commit:
                consumer.commit(batch.shard_id, SHARD_END if batch.finished else batch.next_position)
            else:
                consumer.advance(batch)
        if not progressed:
            return out
    raise AssertionError("consumer never caught up")


def by_key(records: list[Record]) -> dict[str, list[bytes]]:
    groups: dict[str, list[bytes]] = defaultdict(list)
    for r in records:
        groups[r.partition_key].append(r.data)
    return dict(groups)


def put_numbered(store: StreamStore, stream: str, keys: list[str], start: int, count: int) -> None:
    for n in range(start, start + count):
        store.put_records(stream, [f"{k}:{n}".encode() for k in keys], keys)


def expected(keys: list[str], stop: int, start: int = 0) -> dict[str, list[bytes]]:
    return {k: [f"{k}:{n}".encode() for n in range(start, stop)] for k in keys}


KEYS = [f"key-{i}" for i in range(12)]


def test_reads_every_record_once_in_order(store: StreamStore) -> None:
    store.create_stream("s", 3)
    put_numbered(store, "s", KEYS, 0, 20)
    consumer = StreamConsumer(store, "s", "app")
    records = consume(consumer, limit=7)
    assert len(records) == 12 * 20
    assert len({r.sequence_number for r in records}) == len(records)
    assert by_key(records) == expected(KEYS, 20)
    assert consume(consumer) == []
    put_numbered(store, "s", KEYS, 20, 3)
    assert by_key(consume(consumer)) == expected(KEYS, 23, start=20)


def test_commit_and_reopen_resumes_from_checkpoint(open_store: Callable[..., StreamStore]) -> None:
    store = open_store()
    store.create_stream("s", 2)
    put_numbered(store, "s", KEYS, 0, 5)
    consumer = StreamConsumer(store, "s", "app")
    assert by_key(consume(consumer)) == expected(KEYS, 5)
    put_numbered(store, "s", KEYS, 5, 5)
    # read but do not commit: after a restart these come again
    assert by_key(consume(consumer, commit=False)) == expected(KEYS, 10, start=5)
    store.close()

    store = open_store()
    consumer = StreamConsumer(store, "s", "app")
    assert by_key(consume(consumer)) == expected(KEYS, 10, start=5)
    assert consume(consumer) == []
    other = StreamConsumer(store, "s", "another-app")  # checkpoints are per consumer name
    assert by_key(consume(other)) == expected(KEYS, 10)


def test_checkpoint_reports_committed_position(store: StreamStore) -> None:
    store.create_stream("s", 1)
    consumer = StreamConsumer(store, "s", "app")
    assert consumer.checkpoint("shardId-000000000000") is None
    store.put_records("s", [b"a", b"b"], ["k", "k"])
    batch = consumer.read(consumer.shards()[0])
    consumer.commit(batch.shard_id, batch.next_position)
    assert consumer.checkpoint("shardId-000000000000") == batch.next_position


def test_seek_rereads(store: StreamStore) -> None:
    store.create_stream("s", 1)
    store.put_records("s", [b"a", b"b", b"c"], ["k"] * 3)
    consumer = StreamConsumer(store, "s", "app")
    shard = consumer.shards()[0]
    first = consumer.read(shard, limit=2)
    assert [r.data for r in first.records] == [b"a", b"b"]
    consumer.advance(first)
    rest = consumer.read(shard)
    assert [r.data for r in rest.records] == [b"c"]
    consumer.seek(shard.shard_id, first.next_position)  # processing of the 2nd batch failed
    assert [r.data for r in consumer.read(shard).records] == [b"c"]
    consumer.seek(shard.shard_id, 0)
    assert [r.data for r in consumer.read(shard).records] == [b"a", b"b", b"c"]


def test_children_wait_for_the_parent_after_a_split(store: StreamStore) -> None:
    store.create_stream("s", 1)
    put_numbered(store, "s", KEYS, 0, 10)
    consumer = StreamConsumer(store, "s", "app")
    shard0 = consumer.shards()[0]
    half: ShardBatch = consumer.read(shard0, limit=30)  # part of the parent only
    consumer.commit(half.shard_id, half.next_position)
    store.split_shard("s", "shardId-000000000000", str(1 << 127))
    put_numbered(store, "s", KEYS, 10, 10)
    assert [s.shard_id for s in consumer.shards()] == ["shardId-000000000000"]
    rest = consumer.read(shard0)
    assert rest.finished
    consumer.commit(rest.shard_id, rest.next_position)  # processed, but not yet marked finished
    assert [s.shard_id for s in consumer.shards()] == ["shardId-000000000000"]
    again = consumer.read(shard0)
    assert again.records == [] and again.finished
    consumer.commit(again.shard_id, SHARD_END)
    assert [s.shard_id for s in consumer.shards()] == ["shardId-000000000001", "shardId-000000000002"]
    records = half.records + rest.records + consume(consumer)
    assert by_key(records) == expected(KEYS, 20)  # in order per key across parent -> child


def test_merge_waits_for_both_parents(store: StreamStore) -> None:
    store.create_stream("s", 2)
    put_numbered(store, "s", KEYS, 0, 5)
    store.merge_shards("s", "shardId-000000000000", "shardId-000000000001")
    put_numbered(store, "s", KEYS, 5, 5)
    consumer = StreamConsumer(store, "s", "app")
    assert [s.shard_id for s in consumer.shards()] == ["shardId-000000000000", "shardId-000000000001"]
    first = consumer.read(consumer.shards()[0])
    assert first.finished
    consumer.commit(first.shard_id, SHARD_END)
    assert [s.shard_id for s in consumer.shards()] == ["shardId-000000000001"]  # the child still waits
    second = consumer.read(consumer.shards()[0])
    consumer.commit(second.shard_id, SHARD_END)
    assert [s.shard_id for s in consumer.shards()] == ["shardId-000000000002"]
    records = first.records + second.records + consume(consumer)
    assert by_key(records) == expected(KEYS, 10)


def test_order_per_key_across_a_scaling_path(open_store: Callable[..., StreamStore]) -> None:
    store = open_store()
    store.create_stream("s", 1)
    consumer = StreamConsumer(store, "s", "app")
    records: list[Record] = []
    for step, target in enumerate([2, 4, 3, 2, 1]):
        put_numbered(store, "s", KEYS, step * 4, 4)
        records += consume(consumer, limit=5)
        store.update_shard_count("s", target)
        if step == 2:  # restart in the middle
            store.close()
            store = open_store()
            consumer = StreamConsumer(store, "s", "app")
    put_numbered(store, "s", KEYS, 20, 4)
    records += consume(consumer, limit=5)
    assert by_key(records) == expected(KEYS, 24)


def test_latest_sees_only_records_after_the_first_read(store: StreamStore) -> None:
    store.create_stream("s", 2)
    put_numbered(store, "s", KEYS, 0, 3)
    consumer = StreamConsumer(store, "s", "tail", start=IteratorType.LATEST)
    assert consume(consumer) == []
    put_numbered(store, "s", KEYS, 3, 2)
    assert by_key(consume(consumer)) == expected(KEYS, 5, start=3)


def test_latest_still_reads_children_from_their_start(store: StreamStore) -> None:
    store.create_stream("s", 1)
    consumer = StreamConsumer(store, "s", "tail", start=IteratorType.LATEST)
    assert consume(consumer) == []
    store.update_shard_count("s", 2)
    put_numbered(store, "s", KEYS, 0, 2)
    assert by_key(consume(consumer)) == expected(KEYS, 2)


def test_at_timestamp_start(store: StreamStore, clock) -> None:
    store.create_stream("s", 1)
    store.put_record("s", b"before", "k")
    clock.advance(10)
    start = clock.now()
    store.put_record("s", b"after", "k")
    consumer = StreamConsumer(store, "s", "app", start=IteratorType.AT_TIMESTAMP, timestamp=start)
    assert [r.data for r in consume(consumer)] == [b"after"]


def test_routing_used_by_the_tests_spreads_keys(store: StreamStore) -> None:
    """Guard for the tests above: the keys land in more than one shard of a 2-shard stream."""
    store.create_stream("s", 2)
    result = store.put_records("s", [b"x"] * len(KEYS), KEYS)
    assert len(set(result.shard_ids)) == 2


def test_parent_not_finished_before_records_routed_to_it_are_committed(store: StreamStore) -> None:
    """The consumer's twin of the store test: a split racing a put must not make the parent look
    finished (and its last record skipped) while that put is still being committed."""
    store.create_stream("s", 1)
    consumer = StreamConsumer(store, "s", "app")
    parent = consumer.shards()[0]
    assert consumer.read(parent).records == []
    stream = store.describe_stream("s")
    gate = threading.Event()
    store.log.submit(lambda conn: gate.wait(10))
    put = threading.Thread(target=store.put_record, args=("s", b"routed-before-split", "k"))
    put.start()
    deadline = time.monotonic() + 5
    while stream.next_counter == 0:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    split = threading.Thread(target=store.split_shard, args=("s", "shardId-000000000000", str(1 << 127)))
    split.start()
    while stream.shards[0].is_open:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    batches: list[ShardBatch] = []
    reader = threading.Thread(target=lambda: batches.append(consumer.read(parent)))
    reader.start()
    reader.join(0.2)
    gate.set()
    for thread in (put, split, reader):
        thread.join(10)
    batch = batches[0]
    records = list(batch.records)
    if not batch.finished:
        consumer.advance(batch)
        records += consumer.read(parent).records
    assert [r.data for r in records] == [b"routed-before-split"]
