"""SQLite as the platform opens it: one autocommit connection shared by threads (each caller holds
its own lock), in WAL mode so readers never wait for the writer."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """``synchronous``: FULL fsyncs every commit (survives power loss), NORMAL only at checkpoints
    (survives a crash of the process), OFF leaves it to the OS."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn
