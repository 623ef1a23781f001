"""`tidelake stream ...` against a running server, as a user types it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support import tidelake


def test_create_put_tail_describe_delete(server):
    assert "is ACTIVE" in tidelake(server, "stream", "create", "cli-trans", "--shards", "2").stdout
    assert "put 3 record(s)" in tidelake(server, "stream", "put", "cli-trans", input="one\ntwo\nthree\n").stdout
    tidelake(server, "stream", "put", "cli-trans", "-k", "111", '{"Data":"1"}')
    out = tidelake(server, "stream", "tail", "cli-trans", "--from", "trim-horizon", "--no-follow").stdout
    for text in ("one", "two", "three", '{"Data":"1"}'):
        assert text in out
    assert "-- 4 record(s)" in out
    listing = tidelake(server, "stream", "list").stdout
    assert "cli-trans" in listing and "ACTIVE" in listing
    assert "shardId-000000000001" in tidelake(server, "stream", "describe", "cli-trans").stdout
    tidelake(server, "stream", "delete", "cli-trans", "--yes")


def test_tail_follows_resharding_in_order(server, kinesis):
    tidelake(server, "stream", "create", "cli-reshard")
    tidelake(server, "stream", "put", "cli-reshard", "-k", "k", "before-1", "before-2")
    kinesis.split_shard(StreamName="cli-reshard", ShardToSplit="shardId-000000000000",
                        NewStartingHashKey=str(2**127))
    tidelake(server, "stream", "put", "cli-reshard", "-k", "k", "after-1")
    out = tidelake(server, "stream", "tail", "cli-reshard", "--from", "trim-horizon", "--limit", "3").stdout
    assert out.index("before-1") < out.index("before-2") < out.index("after-1")


def test_tail_from_a_sequence_number(server, kinesis):
    tidelake(server, "stream", "create", "cli-seq", "--shards", "2")
    first = kinesis.put_record(StreamName="cli-seq", Data=b"first", PartitionKey="a")
    kinesis.put_record(StreamName="cli-seq", Data=b"second", PartitionKey="a")
    out = tidelake(server, "stream", "tail", "cli-seq", "--from", "after-sequence", "--sequence-number",
                   first["SequenceNumber"], "--no-follow").stdout
    assert "second" in out and "first" not in out


@pytest.mark.parametrize("args, message", [
    (["stream", "describe", "no-such-stream"], "ResourceNotFoundException"),
    (["stream", "create", "bad name!"], "ValidationException"),
])
def test_errors_say_what_happened(server, args, message):
    result = tidelake(server, *args, check=False)
    assert result.returncode == 1
    assert message in result.stderr


def test_unreachable_endpoint_says_how_to_start_one(tmp_path):
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-m", "tidelake", "stream", "list"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "tidelake up" in result.stderr
