"""Fixtures for the stream core: a StreamStore on a tmp data dir with a ManualClock (no HTTP)."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from tidelake.clock import ManualClock
from tidelake.config import Settings
from tidelake.stream.models import IteratorType, Record
from tidelake.stream.store import StreamStore


@pytest.fixture
def open_store(settings_factory: Callable[..., Settings], clock: ManualClock) -> Iterator[Callable[..., StreamStore]]:
    """``open_store(**settings)``: a StreamStore on the test's data dir; closed after the test."""
    opened: list[StreamStore] = []

    def make(**overrides: Any) -> StreamStore:
        store = StreamStore.open(settings_factory(**overrides), clock)
        opened.append(store)
        return store
    yield make
    for store in opened:
        if not store.log.closed:
            store.close()


@pytest.fixture
def store(open_store: Callable[..., StreamStore]) -> StreamStore:
    return open_store()


def drain(store: StreamStore, stream: str, shard_id: str,
          iterator_type: IteratorType = IteratorType.TRIM_HORIZON, **kwargs: Any) -> list[Record]:
    """Every record of a shard through iterators, until the shard's end or an empty answer."""
    iterator: str | None = store.get_shard_iterator(stream, shard_id, iterator_type, **kwargs)
    records: list[Record] = []
    while iterator is not None:
        result = store.get_records(iterator)
        records.extend(result.records)
        if not result.records and result.millis_behind_latest == 0:
            break
        iterator = result.next_shard_iterator
    return records


@pytest.fixture(name="drain")
def drain_fixture() -> Callable[..., list[Record]]:
    """``drain(store, stream, shard_id, iterator_type=TRIM_HORIZON, **kwargs)``."""
    return drain
