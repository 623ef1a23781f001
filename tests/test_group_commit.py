"""The group-commit writer's WAL upkeep: checkpoints run beside the writer, and the WAL restarts."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tidelake.group_commit import GroupCommitWriter

SCHEMA = "CREATE TABLE IF NOT EXISTS rows (n INTEGER PRIMARY KEY, payload BLOB NOT NULL);"


def insert(n: int):
    return lambda conn: conn.execute("INSERT INTO rows VALUES (?, ?)", (n, bytes(4096)))


def test_the_writer_never_checkpoints_inside_a_commit(tmp_path: Path) -> None:
    writer = GroupCommitWriter(tmp_path / "db", fsync=False, schema=SCHEMA, name="test")
    try:
        assert writer.connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    finally:
        writer.close()


def test_a_steady_load_keeps_the_wal_short_and_the_database_current(tmp_path: Path) -> None:
    """1,500 commits of 4 KiB rows write ~12 MiB of WAL with no pause for it to restart by itself;
    with a restart every 64 pages it stays far shorter, and the database file holds the rows
    before the writer closes."""
    path = tmp_path / "db"
    writer = GroupCommitWriter(path, fsync=False, schema=SCHEMA, name="test", checkpoint_seconds=0.005,
                               restart_pages=64)
    try:
        longest = 0
        for n in range(1500):
            writer.write(insert(n))
            longest = max(longest, Path(f"{path}-wal").stat().st_size)
        assert longest < 3 << 20
        deadline = time.monotonic() + 10
        while path.stat().st_size < 1500 * 4096 and time.monotonic() < deadline:
            writer.write(lambda conn: None)  # a commit wakes the checkpoint thread
            time.sleep(0.01)
        assert path.stat().st_size >= 1500 * 4096  # copied into the database by the checkpoint thread
    finally:
        writer.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*), MIN(n), MAX(n) FROM rows").fetchone() == (1500, 0, 1499)
    finally:
        conn.close()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0  # close truncates it
