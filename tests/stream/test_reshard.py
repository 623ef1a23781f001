"""Resharding (stream/reshard.py and StreamStore.split_shard / merge_shards / update_shard_count)."""
from __future__ import annotations

import math
import random

import pytest

from tidelake.errors import InvalidArgument
from tidelake.stream import reshard
from tidelake.stream.errors import ShardClosed, ShardLimitExceeded
from tidelake.stream.keys import hash_key, uniform_ranges
from tidelake.stream.models import MAX_HASH_KEY, IteratorType, Shard, ShardFilterType, Stream, StreamMode
from tidelake.stream.store import StreamStore


def new_stream(ranges: list[tuple[int, int]]) -> Stream:
    return Stream(1, "s", "arn", StreamMode.PROVISIONED, 0.0, next_shard_index=len(ranges),
                  shards=[Shard(i, lo, hi, 0, 0.0) for i, (lo, hi) in enumerate(ranges)])


def open_ranges(stream: Stream) -> list[tuple[int, int]]:
    return sorted((s.starting_hash_key, s.ending_hash_key) for s in stream.open_shards)


def check_lineage(stream: Stream) -> None:
    """The invariants every shard map must keep after any sequence of splits and merges."""
    by_id = {s.shard_id: s for s in stream.shards}
    ranges = open_ranges(stream)
    assert ranges[0][0] == 0 and ranges[-1][1] == MAX_HASH_KEY
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:]))  # open shards tile the key space
    for shard in stream.shards:
        parents = [by_id[p] for p in (shard.parent_shard_id, shard.adjacent_parent_shard_id) if p]
        assert len(parents) <= 2
        assert all(not p.is_open for p in parents)
        assert all(p.end_counter <= shard.start_counter for p in parents)  # children hold later records
        if len(parents) == 2:  # a merge: adjacent parents whose union is the child
            assert reshard.are_adjacent(*parents)
            assert (shard.starting_hash_key, shard.ending_hash_key) == (
                min(p.starting_hash_key for p in parents), max(p.ending_hash_key for p in parents))
        if not shard.is_open:  # a closed shard's range is covered by its children
            children = sorted((c for c in stream.shards
                               if shard.shard_id in (c.parent_shard_id, c.adjacent_parent_shard_id)),
                              key=lambda c: c.starting_hash_key)
            assert children, shard
            covered = [(c.starting_hash_key, c.ending_hash_key) for c in children]
            assert all(b[0] == a[1] + 1 for a, b in zip(covered, covered[1:]))
            assert covered[0][0] <= shard.starting_hash_key and shard.ending_hash_key <= covered[-1][1]


def test_split_lineage() -> None:
    stream = new_stream(uniform_ranges(1))
    stream.next_counter = 10
    left, right = reshard.split(stream, stream.shards[0], 1 << 127, now=5.0)
    parent = stream.shards[0]
    assert (parent.end_counter, parent.closed_at) == (10, 5.0)
    assert (left.shard_id, left.parent_shard_id, left.adjacent_parent_shard_id) == (
        "shardId-000000000001", "shardId-000000000000", None)
    assert (right.shard_id, right.parent_shard_id) == ("shardId-000000000002", "shardId-000000000000")
    assert open_ranges(stream) == uniform_ranges(2)
    assert left.start_counter == right.start_counter == 10
    check_lineage(stream)


def test_merge_lineage() -> None:
    stream = new_stream(uniform_ranges(3))
    child = reshard.merge(stream, stream.shards[2], stream.shards[1], now=1.0)
    assert (child.parent_shard_id, child.adjacent_parent_shard_id) == ("shardId-000000000002",
                                                                       "shardId-000000000001")
    assert (child.starting_hash_key, child.ending_hash_key) == (uniform_ranges(3)[1][0], MAX_HASH_KEY)
    assert not reshard.are_adjacent(stream.shards[0], stream.shards[2])
    check_lineage(stream)


@pytest.mark.parametrize("path", [[2, 4, 3, 2, 1], [2, 3, 4, 5, 6, 7, 8, 5, 3, 2, 1], [2, 4, 8, 16, 9, 5, 3]])
def test_scale_uniformly_along_a_path(path: list[int]) -> None:
    stream = new_stream(uniform_ranges(1))
    for target in path:
        stream.next_counter += 7
        reshard.scale_uniformly(stream, target, now=float(target))
        assert open_ranges(stream) == uniform_ranges(target)
        check_lineage(stream)


def random_map(rng: random.Random) -> Stream:
    """A non-uniform shard map reached by random splits and merges."""
    stream = new_stream(uniform_ranges(rng.randint(1, 4)))
    for _ in range(rng.randint(1, 12)):
        shards = sorted(stream.open_shards, key=lambda s: s.starting_hash_key)
        if len(shards) > 1 and rng.random() < 0.35:
            i = rng.randrange(len(shards) - 1)
            reshard.merge(stream, shards[i], shards[i + 1], 0.0)
        else:
            shard = rng.choice([s for s in shards if s.ending_hash_key - s.starting_hash_key > 4])
            key = rng.randint(shard.starting_hash_key + 2, shard.ending_hash_key - 1)
            reshard.split(stream, shard, key, 0.0)
        stream.next_counter += 1
    return stream


@pytest.mark.parametrize("seed", range(40))
def test_scale_uniformly_from_arbitrary_maps(seed: int) -> None:
    rng = random.Random(seed)
    stream = random_map(rng)
    check_lineage(stream)
    current = len(stream.open_shards)
    target = rng.randint(math.ceil(current / 2), 2 * current)
    reshard.scale_uniformly(stream, target, now=1.0)
    assert open_ranges(stream) == uniform_ranges(target)
    check_lineage(stream)


# -- through the store -----------------------------------------------------------------------------

def test_split_and_merge_through_the_store(store: StreamStore) -> None:
    store.create_stream("s", 2)
    store.put_record("s", b"before", "k")
    store.split_shard("s", "shardId-000000000001", str(3 << 126))
    store.merge_shards("s", "shardId-000000000000", "shardId-000000000002")
    stream = store.describe_stream("s")
    check_lineage(stream)
    assert [(s.shard_id, s.is_open) for s in stream.shards] == [
        ("shardId-000000000000", False), ("shardId-000000000001", False), ("shardId-000000000002", False),
        ("shardId-000000000003", True), ("shardId-000000000004", True)]
    with pytest.raises(ShardClosed):
        store.split_shard("s", "shardId-000000000000", "5")
    with pytest.raises(InvalidArgument):  # not adjacent
        store.merge_shards("s", "shardId-000000000004", "shardId-000000000004")
    with pytest.raises(InvalidArgument):  # NewStartingHashKey must be inside (start + 1, end)
        store.split_shard("s", "shardId-000000000003", "1")


def test_lineage_survives_reopen(open_store) -> None:
    store = open_store()
    store.create_stream("s", 1)
    store.update_shard_count("s", 2)
    store.update_shard_count("s", 3)
    before = store.describe_stream("s").shards
    store.close()
    after = open_store().describe_stream("s").shards
    assert after == before


def test_update_shard_count_path(store: StreamStore) -> None:
    store.create_stream("s", 1)
    keys = [f"key-{i}" for i in range(300)]
    put_order: dict[str, list[int]] = {}
    for step, target in enumerate([2, 4, 3, 2, 1]):
        result = store.put_records("s", [str(step).encode()] * len(keys), keys)
        for key, number in zip(keys, result.sequence_numbers):
            put_order.setdefault(key, []).append(int(number))
        before = len(store.describe_stream("s").open_shards)
        assert store.update_shard_count("s", target) == before
        stream = store.describe_stream("s")
        assert open_ranges(stream) == uniform_ranges(target)
        check_lineage(stream)
        for shard in stream.open_shards:
            assert shard.start_counter == stream.next_counter
    stream = store.describe_stream("s")
    # every record is still in the shard whose range covers its key
    for shard in stream.shards:
        records, _, _ = store.read_shard("s", shard.index, 0, 10_000)
        assert all(shard.covers(hash_key(r.partition_key.encode())) for r in records)
    assert all(numbers == sorted(numbers) for numbers in put_order.values())


def test_update_shard_count_limits(store: StreamStore) -> None:
    store.create_stream("s", 4)
    with pytest.raises(ShardLimitExceeded):
        store.update_shard_count("s", 9)
    with pytest.raises(ShardLimitExceeded):
        store.update_shard_count("s", 1)
    assert store.update_shard_count("s", 4) == 4
    assert len(store.describe_stream("s").shards) == 4  # already uniform: nothing to do


def test_update_shard_count_makes_a_non_uniform_map_uniform(store: StreamStore) -> None:
    store.create_stream("s", 2)
    store.split_shard("s", "shardId-000000000000", str(1 << 120))
    assert len(store.describe_stream("s").open_shards) == 3
    store.update_shard_count("s", 3)
    stream = store.describe_stream("s")
    assert open_ranges(stream) == uniform_ranges(3)
    check_lineage(stream)


def test_reads_cross_a_split_through_child_shards(store: StreamStore) -> None:
    store.create_stream("s", 1)
    store.put_records("s", [b"p0", b"p1"], ["a", "b"])
    store.update_shard_count("s", 2)
    store.put_records("s", [b"c0", b"c1"], ["a", "b"])
    parent = store.get_records(store.get_shard_iterator("s", "shardId-000000000000", IteratorType.TRIM_HORIZON))
    assert [r.data for r in parent.records] == [b"p0", b"p1"]
    assert parent.next_shard_iterator is None
    children = {}
    for child in parent.child_shards:
        result = store.get_records(store.get_shard_iterator("s", child.shard_id, IteratorType.TRIM_HORIZON))
        children.update({r.partition_key: r.data for r in result.records})
    assert children == {"a": b"c0", "b": b"c1"}


def test_list_shards_filters(store: StreamStore, clock) -> None:
    """ListShards ShardFilter types, as the Kinesis API reference (ShardFilter) defines them."""
    t0 = clock.now()
    store.create_stream("s", 1)  # shard 0 from t0
    clock.advance(10)
    store.split_shard("s", "shardId-000000000000", str(1 << 127))  # 1, 2 from t0+10
    clock.advance(10)
    store.merge_shards("s", "shardId-000000000001", "shardId-000000000002")  # 3 from t0+20
    clock.advance(10)

    def ids(shard_filter: ShardFilterType, **kwargs) -> list[int]:
        return [s.index for s in store.list_shards("s", shard_filter, **kwargs)]
    assert [s.index for s in store.list_shards("s")] == [0, 1, 2, 3]
    assert ids(ShardFilterType.AT_LATEST) == [3]
    assert ids(ShardFilterType.AFTER_SHARD_ID, shard_id="shardId-000000000001") == [2, 3]
    assert ids(ShardFilterType.FROM_TRIM_HORIZON) == [0, 1, 2, 3]
    assert ids(ShardFilterType.AT_TRIM_HORIZON) == [0]  # the stream is younger than its retention
    assert ids(ShardFilterType.AT_TIMESTAMP, timestamp=t0 + 5) == [0]
    assert ids(ShardFilterType.AT_TIMESTAMP, timestamp=t0 + 10) == [0, 1, 2]  # end >= ts and start <= ts
    assert ids(ShardFilterType.AT_TIMESTAMP, timestamp=t0 + 15) == [1, 2]
    assert ids(ShardFilterType.AT_TIMESTAMP, timestamp=t0 + 25) == [3]
    assert ids(ShardFilterType.FROM_TIMESTAMP, timestamp=t0 + 5) == [0, 1, 2, 3]
    assert ids(ShardFilterType.FROM_TIMESTAMP, timestamp=t0 + 15) == [1, 2, 3]
    clock.advance(24 * 3600 - 15)  # the trim horizon is now t0+15
    assert ids(ShardFilterType.AT_TRIM_HORIZON) == [1, 2]
    assert ids(ShardFilterType.FROM_TRIM_HORIZON) == [1, 2, 3]
    # "Corrected to TRIM_HORIZON of the data stream if FROM_TIMESTAMP is less than the TRIM_HORIZON value."
    assert ids(ShardFilterType.FROM_TIMESTAMP, timestamp=t0) == [1, 2, 3]
