"""Retention: records older than the stream's retention period are unreadable at once and removed from
disk by trim_expired. Kinesis API reference, DecreaseStreamRetentionPeriod: "any data already in the
stream that is older than the new retention period is inaccessible"."""
from __future__ import annotations

import threading
import time

import pytest

from tidelake.clock import ManualClock
from tidelake.errors import InvalidArgument
from tidelake.stream.models import IteratorType
from tidelake.stream.store import StreamStore

HOUR = 3600
SHARD = "shardId-000000000000"


def batches(store: StreamStore, stream: str) -> int:
    key = store.describe_stream(stream).key
    return store.log.query("SELECT COUNT(*) FROM batches WHERE stream_key = ?", (key,))[0][0]


def readable(store: StreamStore, stream: str = "s") -> list[bytes]:
    records = []
    for shard in store.describe_stream(stream).shards:
        records += store.read_shard(stream, shard.index, 0, 10_000)[0]
    return [r.data for r in records]


@pytest.fixture
def aged(store: StreamStore, clock: ManualClock) -> StreamStore:
    """Stream "s": "old" put at t0, "mid" at t0+12h, "new" at t0+20h; now is t0+20h."""
    store.create_stream("s", 1)
    store.put_record("s", b"old", "k")
    clock.advance(12 * HOUR)
    store.put_record("s", b"mid", "k")
    clock.advance(8 * HOUR)
    store.put_record("s", b"new", "k")
    return store


def test_expired_records_disappear_from_reads_at_once(aged: StreamStore, clock: ManualClock,
                                                      drain) -> None:
    assert [r.data for r in drain(aged, "s", SHARD)] == [b"old", b"mid", b"new"]
    clock.advance(4 * HOUR + 1)  # "old" is now 24 h + 1 s old
    assert [r.data for r in drain(aged, "s", SHARD)] == [b"mid", b"new"]
    assert readable(aged) == [b"mid", b"new"]
    assert batches(aged, "s") == 3  # still on disk until trimmed


def test_trim_expired_removes_rows(aged: StreamStore, clock: ManualClock) -> None:
    assert aged.trim_expired() == 0
    clock.advance(4 * HOUR + 1)
    assert aged.trim_expired() == 1
    assert batches(aged, "s") == 2
    clock.advance(12 * HOUR)
    assert aged.trim_expired() == 1
    assert batches(aged, "s") == 1
    assert readable(aged) == [b"new"]


def test_increased_retention_keeps_records_longer(aged: StreamStore, clock: ManualClock) -> None:
    aged.increase_stream_retention_period("s", 48)
    clock.advance(20 * HOUR)
    assert aged.trim_expired() == 0
    assert readable(aged) == [b"old", b"mid", b"new"]
    clock.advance(9 * HOUR)  # "old" is 49 h old
    assert readable(aged) == [b"mid", b"new"]
    assert aged.trim_expired() == 1


def test_decreasing_retention_trims(store: StreamStore, clock: ManualClock) -> None:
    store.create_stream("s", 1)
    store.increase_stream_retention_period("s", 72)
    store.put_record("s", b"3 days", "k")
    clock.advance(24 * HOUR)
    store.put_record("s", b"2 days", "k")
    clock.advance(24 * HOUR)
    store.put_record("s", b"1 day", "k")
    clock.advance(HOUR)
    assert readable(store) == [b"3 days", b"2 days", b"1 day"]
    store.decrease_stream_retention_period("s", 24)
    assert readable(store) == [b"1 day"]  # inaccessible at once
    assert store.trim_expired() == 2
    assert batches(store, "s") == 1


def test_retention_bounds(store: StreamStore) -> None:
    store.create_stream("s", 1)
    with pytest.raises(InvalidArgument):
        store.decrease_stream_retention_period("s", 23)
    with pytest.raises(InvalidArgument):
        store.increase_stream_retention_period("s", 8761)
    with pytest.raises(InvalidArgument):
        store.decrease_stream_retention_period("s", 48)  # longer than the current 24
    store.increase_stream_retention_period("s", 8760)
    with pytest.raises(InvalidArgument):
        store.increase_stream_retention_period("s", 100)  # shorter than the current


def test_trim_horizon_after_trimming_starts_at_oldest_remaining(aged: StreamStore, clock: ManualClock,
                                                                 drain) -> None:
    clock.advance(4 * HOUR + 1)
    aged.trim_expired()
    records = drain(aged, "s", SHARD)
    assert [r.data for r in records] == [b"mid", b"new"]
    first = aged.get_records(aged.get_shard_iterator("s", SHARD, IteratorType.TRIM_HORIZON), limit=1)
    assert first.records[0].data == b"mid"
    assert first.records[0].sequence_number == records[0].sequence_number


def test_at_timestamp_older_than_the_horizon_starts_at_trim_horizon(aged: StreamStore, clock: ManualClock,
                                                                     drain) -> None:
    clock.advance(4 * HOUR + 1)
    records = drain(aged, "s", SHARD, IteratorType.AT_TIMESTAMP, timestamp=clock.now() - 1000 * HOUR)
    assert [r.data for r in records] == [b"mid", b"new"]


def test_trim_keeps_other_streams(store: StreamStore, clock: ManualClock) -> None:
    store.create_stream("short", 1)
    store.create_stream("long", 1)
    store.increase_stream_retention_period("long", 168)
    store.put_record("short", b"x", "k")
    store.put_record("long", b"x", "k")
    clock.advance(25 * HOUR)
    assert store.trim_expired() == 1
    assert (batches(store, "short"), batches(store, "long")) == (0, 1)


def test_trim_does_not_write_back_a_stale_shard_map(open_store, clock: ManualClock) -> None:
    """trim_expired rewrites each stream's document (the counter floor). If a reshard commits between
    the trim's snapshot and its write, the trim must not put the old shard map back."""
    store = open_store()
    store.create_stream("s", 1)
    store.put_record("s", b"x", "k")
    clock.advance(25 * HOUR)
    real_submit = store.log.submit
    trimmer_may_submit = threading.Event()

    def submit(job):
        if threading.current_thread().name == "trimmer":
            trimmer_may_submit.wait(0.5)  # the trim's job reaches the writer late
        return real_submit(job)
    store.log.submit = submit  # type: ignore[method-assign]
    trimmer = threading.Thread(target=store.trim_expired, name="trimmer")
    trimmer.start()
    time.sleep(0.05)  # the trimmer has taken its snapshot
    splitter = threading.Thread(target=store.update_shard_count, args=("s", 2))
    splitter.start()
    splitter.join(0.3)
    trimmer_may_submit.set()
    trimmer.join(10)
    splitter.join(10)
    store.log.submit = real_submit  # type: ignore[method-assign]
    assert len(store.describe_stream("s").open_shards) == 2
    store.close()
    reopened = open_store()
    assert len(reopened.describe_stream("s").open_shards) == 2
    assert reopened.put_record("s", b"y", "k")[0] != "shardId-000000000000"
