"""LogStore in-process: positions, paging in both directions, the scan budget, time ranges, terms, trimming."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tidelake.functions import logs as logs_module
from tidelake.functions.logs import LogStore
from tidelake.functions.models import LogEvent


def invocation(n: int) -> str:
    return (f"START RequestId: r{n} Version: $LATEST\nline {n}\nERROR at {n}\nEND RequestId: r{n}\n"
            f"REPORT RequestId: r{n}\t\n")


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    store = LogStore(tmp_path / "logs.db", 1 << 30)
    for n in range(10):
        store.append("fn", f"stream-{n % 2}", f"r{n}", 100.0 + n, 100.5 + n, invocation(n))
    store.append("other", "stream-0", "x", 100.0, 100.5, invocation(99))
    yield store
    store.close()


def read_all(store: LogStore, backward: bool = False, **query: object) -> list[LogEvent]:
    events, cursor = [], None
    while True:
        page = store.read("fn", cursor=cursor, backward=backward, **query)  # type: ignore[arg-type]
        events += page.events
        if not page.more:
            return events
        cursor = page.next


def test_pages_meet_in_both_directions(store: LogStore) -> None:
    forward = read_all(store, limit=3)
    assert len(forward) == 50 and [e.position for e in forward] == sorted({e.position for e in forward})
    assert read_all(store, backward=True, limit=7) == forward[::-1]
    page = store.read("fn", limit=4)
    assert [e.message for e in page.events] == invocation(0).splitlines()[:4] and page.more
    rest = store.read("fn", cursor=page.next, limit=1)  # inside an invocation: the next line
    assert rest.events[0].message == "REPORT RequestId: r0\t"
    end = store.read("fn", cursor=forward[-1].position)
    assert (end.events, end.next, end.more) == ([], forward[-1].position, False)


def test_scan_budget_stops_early_and_continues(store: LogStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs_module, "SCAN_BUDGET_BYTES", 1)  # one invocation per read
    page = store.read("fn", terms=["line", "ERROR"])  # in every invocation, on no one line
    assert page.events == [] and page.more  # an empty page that is not the end, as CloudWatch allows
    assert read_all(store, terms=["line", "ERROR"]) == []
    assert [e.message for e in read_all(store, start_ms=108_000, terms=["at"])] == ["ERROR at 8", "ERROR at 9"]
    assert [e.message for e in read_all(store, backward=True, terms=["ERROR"])] == [
        f"ERROR at {n}" for n in range(9, -1, -1)]


def test_time_streams_and_bytes(store: LogStore) -> None:
    # Body lines carry the start (100.0 + n), END and REPORT the end (100.5 + n); end is exclusive.
    window = read_all(store, start_ms=103_500, end_ms=104_500)
    assert [e.message for e in window] == ["END RequestId: r3", "REPORT RequestId: r3\t"] + \
        invocation(4).splitlines()[:3]
    odd = read_all(store, streams=["stream-1"], terms=["line"])
    assert [e.message for e in odd] == [f"line {n}" for n in (1, 3, 5, 7, 9)]
    assert {e.log_stream for e in read_all(store, stream_prefix="stream-", terms=["line"])} == {"stream-0", "stream-1"}
    # CloudWatch's count: the message's UTF-8 bytes plus 26; a page holds at least one event.
    page = store.read("fn", max_bytes=sum(len(line) + 26 for line in invocation(0).splitlines()[:2]))
    assert [e.message for e in page.events] == ["START RequestId: r0 Version: $LATEST", "line 0"] and page.more
    assert len(store.read("fn", max_bytes=1).events) == 1


def test_positions_survive_trimming(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.db", 400)
    try:
        store.append("fn", "s", "r0", 1.0, 1.5, invocation(0))
        cursor = store.read("fn").events[1].position
        for n in range(1, 8):
            store.append("fn", "s", f"r{n}", 1.0 + n, 1.5 + n, invocation(n))
        kept = store.read("fn").events
        assert kept[0].request_id != "r0" and kept[0].position > cursor  # the oldest went first
        assert store.read("fn", cursor=cursor).events == kept  # a cursor into trimmed lines goes on
        assert store.group("fn") is not None and store.streams("fn")[0].log_stream_name == "s"
    finally:
        store.close()


def test_logs_of_an_older_layout_are_kept(tmp_path: Path) -> None:
    """A data dir from before invocations recorded their stream: its logs read as one stream per day."""
    db = sqlite3.connect(tmp_path / "logs.db")
    db.execute("CREATE TABLE invocations (id INTEGER PRIMARY KEY, function TEXT NOT NULL, request_id TEXT NOT NULL, "
               "started REAL NOT NULL, ended REAL NOT NULL, text TEXT NOT NULL)")
    db.execute("CREATE INDEX by_function ON invocations (function, id)")
    db.execute("INSERT INTO invocations VALUES (7, 'fn', 'r0', 86400.0, 86400.5, ?)", (invocation(0),))
    db.commit()
    db.close()
    store = LogStore(tmp_path / "logs.db", 1 << 20)
    try:
        store.append("fn", "1970/01/02/[$LATEST]" + "a" * 32, "r1", 86401.0, 86401.5, invocation(1))
        assert [s.log_stream_name for s in store.streams("fn")] == ["1970/01/02/[$LATEST]" + "0" * 32,
                                                                  "1970/01/02/[$LATEST]" + "a" * 32]
        events = store.read("fn").events
        assert [e.request_id for e in events] == ["r0"] * 5 + ["r1"] * 5 and events[5].invocation_id == 8
        assert store.group("fn").creation_time == 86400.0  # type: ignore[union-attr]
    finally:
        store.close()
