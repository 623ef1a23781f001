"""Shard iterators (stream/iterators.py and StreamStore.get_shard_iterator / get_records).

Pinned by the Kinesis API reference: GetShardIterator (iterator types; "A shard iterator expires 5 minutes
after it is returned to the requester") and GetRecords (ExpiredIteratorException, InvalidArgument).
"""
from __future__ import annotations

import base64
from typing import Callable

import pytest

from tidelake.clock import ManualClock
from tidelake.errors import InvalidArgument
from tidelake.stream.errors import InvalidIterator, IteratorExpired, ShardNotFound, StreamNotFound
from tidelake.stream.iterators import IteratorCodec, IteratorState
from tidelake.stream.models import IteratorType
from tidelake.stream.store import StreamStore

SHARD = "shardId-000000000000"


@pytest.fixture
def filled(store: StreamStore, clock: ManualClock) -> list[str]:
    """Stream "s" (1 shard) with records r0..r5, one second apart; returns their sequence numbers."""
    store.create_stream("s", 1)
    numbers = []
    for i in range(6):
        numbers.append(store.put_record("s", f"r{i}".encode(), "k")[1])
        clock.advance(1)
    return numbers


def data(store: StreamStore, iterator: str) -> list[bytes]:
    return [r.data for r in store.get_records(iterator).records]


def test_codec_round_trip_and_tamper_detection() -> None:
    codec = IteratorCodec(b"k" * 32)
    state = IteratorState("stream-ü", 7, 3, 123456789, 1_790_000_000_000)
    token = codec.encode(state)
    assert codec.decode(token) == state
    raw = bytearray(base64.urlsafe_b64decode(token))
    for i in range(len(raw)):  # flipping any bit of the body or the MAC is detected
        raw[i] ^= 1
        with pytest.raises(InvalidIterator):
            codec.decode(base64.urlsafe_b64encode(bytes(raw)).decode())
        raw[i] ^= 1
    with pytest.raises(InvalidIterator):
        IteratorCodec(b"x" * 32).decode(token)  # another secret
    for junk in ["", "abc", "!!!!", "ü", token[:-4]]:
        with pytest.raises(InvalidIterator):
            codec.decode(junk)


def test_trim_horizon(store: StreamStore, filled: list[str]) -> None:
    assert data(store, store.get_shard_iterator("s", SHARD, IteratorType.TRIM_HORIZON)) == \
        [f"r{i}".encode() for i in range(6)]


def test_latest_sees_only_later_records(store: StreamStore, filled: list[str]) -> None:
    iterator = store.get_shard_iterator("s", SHARD, IteratorType.LATEST)
    result = store.get_records(iterator)
    assert result.records == []
    store.put_record("s", b"after", "k")
    assert data(store, result.next_shard_iterator) == [b"after"]
    assert data(store, iterator) == [b"after"]  # the first iterator points at the same place


def test_at_and_after_sequence_number(store: StreamStore, filled: list[str]) -> None:
    at = store.get_shard_iterator("s", SHARD, IteratorType.AT_SEQUENCE_NUMBER, filled[2])
    after = store.get_shard_iterator("s", SHARD, IteratorType.AFTER_SEQUENCE_NUMBER, filled[2])
    assert data(store, at) == [b"r2", b"r3", b"r4", b"r5"]
    assert data(store, after) == [b"r3", b"r4", b"r5"]
    last = store.get_shard_iterator("s", SHARD, IteratorType.AFTER_SEQUENCE_NUMBER, filled[5])
    assert data(store, last) == []


def test_at_timestamp(store: StreamStore, filled: list[str], clock: ManualClock) -> None:
    start = clock.now() - 6  # r0 arrived then, r1 a second later, ...
    at = lambda t: data(store, store.get_shard_iterator("s", SHARD, IteratorType.AT_TIMESTAMP, timestamp=t))
    assert at(start) == [b"r0", b"r1", b"r2", b"r3", b"r4", b"r5"]
    assert at(start - 3600) == [b"r0", b"r1", b"r2", b"r3", b"r4", b"r5"]  # before the first: all
    assert at(start + 2) == [b"r2", b"r3", b"r4", b"r5"]  # exactly r2's arrival
    assert at(start + 2.5) == [b"r3", b"r4", b"r5"]  # between records: the next (later) one
    assert at(clock.now()) == []  # after the last
    iterator = store.get_shard_iterator("s", SHARD, IteratorType.AT_TIMESTAMP, timestamp=clock.now())
    store.put_record("s", b"new", "k")
    assert data(store, iterator) == [b"new"]
    with pytest.raises(InvalidArgument):
        store.get_shard_iterator("s", SHARD, IteratorType.AT_TIMESTAMP)


def test_sequence_number_of_another_shard_or_stream(store: StreamStore, filled: list[str]) -> None:
    store.create_stream("t", 2)
    with pytest.raises(InvalidArgument):
        store.get_shard_iterator("t", SHARD, IteratorType.AT_SEQUENCE_NUMBER, filled[0])
    _, other_shard_number = store.put_record("t", b"x", "k", explicit_hash_key=str(1 << 127))
    with pytest.raises(InvalidArgument):
        store.get_shard_iterator("t", SHARD, IteratorType.AT_SEQUENCE_NUMBER, other_shard_number)
    for bad in ["12", "x" * 56, None]:
        with pytest.raises(InvalidArgument):
            store.get_shard_iterator("s", SHARD, IteratorType.AFTER_SEQUENCE_NUMBER, bad)


def test_unknown_stream_or_shard(store: StreamStore, filled: list[str]) -> None:
    with pytest.raises(StreamNotFound):
        store.get_shard_iterator("nope", SHARD, IteratorType.LATEST)
    with pytest.raises(ShardNotFound):
        store.get_shard_iterator("s", "shardId-000000000009", IteratorType.LATEST)


def test_iterator_expires_after_300_seconds(store: StreamStore, filled: list[str], clock: ManualClock) -> None:
    iterator = store.get_shard_iterator("s", SHARD, IteratorType.TRIM_HORIZON)
    clock.advance(299.9)
    result = store.get_records(iterator, limit=1)  # still valid; the next iterator is fresh
    clock.advance(0.2)
    with pytest.raises(IteratorExpired) as info:
        store.get_records(iterator)
    assert info.value.issued_ms == int((clock.now() - 300.1) * 1000)
    assert data(store, result.next_shard_iterator) == [b"r1", b"r2", b"r3", b"r4", b"r5"]


def test_iterator_ttl_is_a_setting(open_store: Callable[..., StreamStore], clock: ManualClock) -> None:
    store = open_store(iterator_ttl_seconds=10)
    store.create_stream("s", 1)
    iterator = store.get_shard_iterator("s", SHARD, IteratorType.LATEST)
    clock.advance(11)
    with pytest.raises(IteratorExpired):
        store.get_records(iterator)


def test_tampered_iterator(store: StreamStore, filled: list[str]) -> None:
    iterator = store.get_shard_iterator("s", SHARD, IteratorType.TRIM_HORIZON)
    raw = bytearray(base64.urlsafe_b64decode(iterator))
    raw[12] ^= 0x01  # the position
    with pytest.raises(InvalidIterator):
        store.get_records(base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(InvalidIterator):
        store.get_records("not-an-iterator")


def test_iterators_survive_reopen_but_not_another_data_dir(open_store: Callable[..., StreamStore],
                                                           settings_factory, clock: ManualClock, tmp_path) -> None:
    store = open_store()
    store.create_stream("s", 1)
    store.put_record("s", b"x", "k")
    iterator = store.get_shard_iterator("s", SHARD, IteratorType.TRIM_HORIZON)
    store.close()
    store = open_store()
    assert data(store, iterator) == [b"x"]
    other = StreamStore.open(settings_factory(data_dir=tmp_path / "other"), clock)
    try:
        other.create_stream("s", 1)
        with pytest.raises(InvalidIterator):
            other.get_records(iterator)
    finally:
        other.close()


def test_iterator_of_a_deleted_stream(store: StreamStore, filled: list[str]) -> None:
    iterator = store.get_shard_iterator("s", SHARD, IteratorType.TRIM_HORIZON)
    store.delete_stream("s")
    with pytest.raises(StreamNotFound):
        store.get_records(iterator)
