"""The durable log (stream/log.py): packing, group commit, per-job failure, ack-after-commit, recovery."""
from __future__ import annotations

import shutil
import sqlite3
import threading
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any, Iterator

import pytest

from tidelake.stream.log import StreamLog, pack, unpack


@pytest.fixture
def log(tmp_path: Path) -> Iterator[StreamLog]:
    log = StreamLog(tmp_path / "log.db")
    yield log
    if not log.closed:
        log.close()


def rows(path: Path, sql: str = "SELECT COUNT(*) FROM batches") -> Any:
    """Ask a fresh connection of our own: what another process would see."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def append(log: StreamLog, first: int, count: int, shard: int = 0, stream_key: int = 1) -> "Future[None]":
    keys = [f"k{first + i}".encode() for i in range(count)]
    data = [f"d{first + i}".encode() for i in range(count)]
    return log.submit(log.append_job([log.batch(stream_key, shard, first, 1000 + first, keys, data)]))


# -- packing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("keys, data", [
    ([b"a"], [b""]),
    ([b"a", b"b", b"c"], [b"", b"x", b""]),
    (["ключ".encode(), "🔑".encode(), "ä".encode()], [b"\x00\xff", "ü".encode(), b"z" * 70_000]),
    ([], []),
])
def test_pack_unpack_round_trip(keys: list[bytes], data: list[bytes]) -> None:
    assert unpack(pack(keys, data)) == (keys, data)  # keys stay UTF-8 bytes until a Record needs them


def test_append_and_read_back(log: StreamLog) -> None:
    append(log, 0, 3).result()
    append(log, 3, 2).result()
    records, next_counter, more = log.read(1, 0, 0, 0, 100, 1 << 20)
    assert [r.partition_key for r in records] == ["k0", "k1", "k2", "k3", "k4"]
    assert [r.data for r in records] == [b"d0", b"d1", b"d2", b"d3", b"d4"]
    assert (next_counter, more) == (5, False)
    # from the middle of a packed batch, with a limit cutting the next one
    records, next_counter, more = log.read(1, 0, 1, 0, 3, 1 << 20)
    assert [r.data for r in records] == [b"d1", b"d2", b"d3"]
    assert (next_counter, more) == (4, True)
    assert log.max_counter(1, 0) == 4
    assert log.max_counter(1, 1) is None


# -- group commit ----------------------------------------------------------------------------

def test_group_commit_groups_concurrent_jobs(log: StreamLog) -> None:
    commits: list[str] = []
    log._writer.connection.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    gate = threading.Event()
    blocker = log.submit(lambda conn: gate.wait(10))  # holds the writer while the others queue up
    threads, futures, lock = [], [], threading.Lock()
    per_thread = 50

    def produce(t: int) -> None:
        for i in range(per_thread):
            future = append(log, (t * per_thread + i) * 2, 2, shard=t)
            with lock:
                futures.append(future)
    for t in range(4):
        threads.append(threading.Thread(target=produce, args=(t,)))
        threads[-1].start()
    for thread in threads:
        thread.join()
    gate.set()
    wait([blocker, *futures], timeout=10)
    assert all(f.done() and f.exception() is None for f in futures)
    assert rows(log.path) == 200
    # 201 jobs: the blocker's group is one commit, everything queued behind it is another
    assert len(commits) <= 2


def test_group_commit_under_free_running_load(log: StreamLog) -> None:
    commits: list[str] = []
    log._writer.connection.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    futures: list[Future[None]] = []
    lock = threading.Lock()

    def produce(t: int) -> None:
        for i in range(250):
            future = append(log, t * 1000 + i, 1, shard=t)
            with lock:
                futures.append(future)
    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for future in futures:
        future.result(timeout=10)
    assert rows(log.path) == 2000
    assert len(commits) < 2000 / 2  # the writer commits groups, not jobs


def test_a_failing_job_fails_alone(log: StreamLog) -> None:
    gate = threading.Event()
    log.submit(lambda conn: gate.wait(10))  # holds the writer, so the next jobs form one group
    before = append(log, 0, 2)

    def half_done_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO batches VALUES (1, 5, 0, 0, 0, x'00000000')")
        raise ValueError("job failed")
    failing = log.submit(half_done_then_fail)
    duplicate = append(log, 0, 2)  # same (stream, shard, last counter): a constraint error
    after = append(log, 2, 3)
    gate.set()
    before.result(timeout=10)
    after.result(timeout=10)
    with pytest.raises(ValueError, match="job failed"):
        failing.result(timeout=10)
    with pytest.raises(sqlite3.IntegrityError):
        duplicate.result(timeout=10)
    assert rows(log.path, "SELECT COUNT(*) FROM batches WHERE shard_index = 5") == 0  # rolled back
    assert rows(log.path, "SELECT group_concat(first_counter) FROM batches ORDER BY first_counter") == "0,2"
    append(log, 5, 1).result(timeout=10)  # the writer is still healthy


def test_a_lone_failing_job_is_rolled_back(log: StreamLog) -> None:
    """A job alone in its group runs without a savepoint: its failure rolls back the transaction."""
    def half_done_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO batches VALUES (1, 5, 0, 0, 0, x'00000000')")
        raise ValueError("job failed")
    with pytest.raises(ValueError, match="job failed"):
        log.submit(half_done_then_fail).result(timeout=10)
    assert rows(log.path, "SELECT COUNT(*) FROM batches WHERE shard_index = 5") == 0
    append(log, 0, 2).result(timeout=10)  # the writer is still healthy and commits the next job
    assert rows(log.path) == 1


def test_one_job_appends_the_batches_of_every_shard_of_a_put(log: StreamLog) -> None:
    batches = [log.batch(1, shard, 10 * shard, 1000, [b"k"] * 3, [b"d"] * 3) for shard in range(4)]
    log.submit(log.append_job(batches)).result(timeout=10)
    assert rows(log.path, "SELECT group_concat(shard_index || ':' || first_counter || '-' || last_counter) "
                          "FROM batches") == "0:0-2,1:10-12,2:20-22,3:30-32"


def test_future_resolves_only_after_commit(log: StreamLog) -> None:
    """When a future completes, an independent connection already sees the job's row."""
    seen: list[int] = []
    futures = []
    for i in range(20):
        future = append(log, i, 1)
        # runs in the writer thread, inside set_result: before anything else can happen
        future.add_done_callback(lambda f, i=i: seen.append(rows(log.path, f"SELECT COUNT(*) FROM batches "
                                                                           f"WHERE first_counter = {i}")))
        futures.append(future)
    for future in futures:
        future.result(timeout=10)
    log.write(lambda conn: None)  # the writer ran every earlier callback before taking this job
    assert seen == [1] * 20


def test_closed_log_refuses_jobs(log: StreamLog) -> None:
    append(log, 0, 1).result()
    log.close()
    with pytest.raises(RuntimeError):
        append(log, 1, 1)


# -- crash safety ----------------------------------------------------------------------------

def crash_copy(log: StreamLog, to: Path) -> Path:
    """The files as `kill -9` would leave them: db and -wal, no -shm, no checkpoint."""
    to.mkdir()
    shutil.copyfile(log.path, to / log.path.name)
    shutil.copyfile(f"{log.path}-wal", to / f"{log.path.name}-wal")
    return to / log.path.name


def committed_firsts(path: Path) -> list[int]:
    log = StreamLog(path)
    try:
        return [r[0] for r in log.query("SELECT first_counter FROM batches ORDER BY first_counter")]
    finally:
        log.close()


def test_recovery_drops_a_torn_last_transaction(log: StreamLog, tmp_path: Path) -> None:
    for i in range(10):
        append(log, i * 10, 10).result()  # ten acknowledged transactions
    wal = Path(f"{log.path}-wal")
    assert wal.stat().st_size > 0
    copy = crash_copy(log, tmp_path / "torn")
    with open(f"{copy}-wal", "r+b") as f:  # the last frame (the 10th commit) is cut short
        f.truncate(wal.stat().st_size - 7)
    assert committed_firsts(copy) == [i * 10 for i in range(9)]


def test_recovery_ignores_garbage_after_the_last_commit(log: StreamLog, tmp_path: Path) -> None:
    for i in range(10):
        append(log, i * 10, 10).result()
    copy = crash_copy(log, tmp_path / "garbage")
    with open(f"{copy}-wal", "ab") as f:
        f.write(b"\xde\xad\xbe\xef" * 1500)
    assert committed_firsts(copy) == [i * 10 for i in range(10)]


def test_an_unacknowledged_transaction_is_not_half_visible(log: StreamLog, tmp_path: Path) -> None:
    """A crash while the writer is mid-way through a group: committed groups survive, the open one is
    gone entirely, even though its pages already spilled into the WAL."""
    for i in range(5):
        append(log, i, 1).result()
    inside, release = threading.Event(), threading.Event()

    def big_job_then_wait(conn: sqlite3.Connection) -> None:
        payload = pack([b"k"] * 16, [b"x" * 500_000] * 16)  # ~8 MB: more than the page cache
        for n in range(3):
            conn.execute("INSERT INTO batches VALUES (1, 1, ?, ?, 0, ?)", (n, n, payload))
        inside.set()
        release.wait(10)
    in_flight = log.submit(big_job_then_wait)
    assert inside.wait(10)
    spilled = Path(f"{log.path}-wal").stat().st_size
    copy = crash_copy(log, tmp_path / "midway")
    release.set()
    in_flight.result(timeout=10)
    assert spilled > 8_000_000  # the uncommitted pages really are in the WAL we copied
    assert committed_firsts(copy) == [0, 1, 2, 3, 4]


def test_reopen_after_unclean_close_keeps_everything(tmp_path: Path) -> None:
    log = StreamLog(tmp_path / "log.db")
    for i in range(50):
        append(log, i * 3, 3, shard=i % 4).result()
    copy = crash_copy(log, tmp_path / "unclean")  # no close(): no checkpoint, WAL still holds it all
    log.close()
    assert committed_firsts(copy) == [i * 3 for i in range(50)]
