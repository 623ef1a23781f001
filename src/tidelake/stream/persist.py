"""How the stream capability keeps its metadata in the log: one JSON document per stream."""
from __future__ import annotations

import dataclasses
import sqlite3
from typing import Callable

import orjson

from tidelake.stream.models import Consumer, Shard, Stream, StreamMode, StreamStatus

Job = Callable[[sqlite3.Connection], object]


def insert_job(name: str, doc: bytes) -> Job:
    return lambda conn: conn.execute("INSERT INTO streams (name, doc) VALUES (?, ?)", (name, doc)).lastrowid


def delete_job(stream_key: int) -> Job:
    def job(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM batches WHERE stream_key = ?", (stream_key,))
        conn.execute("DELETE FROM checkpoints WHERE stream_key = ?", (stream_key,))
        conn.execute("DELETE FROM streams WHERE key = ?", (stream_key,))
    return job


def to_doc(stream: Stream) -> bytes:
    fields = dataclasses.asdict(stream)
    for shard in fields["shards"]:  # 128-bit hash keys do not fit JSON integers
        shard["starting_hash_key"] = str(shard["starting_hash_key"])
        shard["ending_hash_key"] = str(shard["ending_hash_key"])
    return orjson.dumps(fields)


def from_doc(key: int, doc: bytes) -> Stream:
    fields = orjson.loads(doc)
    fields["key"] = key
    fields["stream_mode"] = StreamMode(fields["stream_mode"])
    fields["busy_status"] = StreamStatus(fields["busy_status"])
    fields["shards"] = [Shard(**{**s, "starting_hash_key": int(s["starting_hash_key"]),
                                 "ending_hash_key": int(s["ending_hash_key"])}) for s in fields["shards"]]
    fields["consumers"] = {name: Consumer(**c) for name, c in fields["consumers"].items()}
    return Stream(**fields)
