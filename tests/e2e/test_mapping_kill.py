"""At-least-once through `kill -9`: a function reads a Kinesis stream through an event source mapping
while the server is killed mid-batch, twice. After restarts on the same data dir every acknowledged
record has reached the function; duplicates are allowed (the batches in flight are delivered again)
and counted, and they are bounded by what was in flight: one chunk per shard at each kill."""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from support import zipped

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SHARDS, BATCH, RECORDS, KILLS = 2, 50, 3000, 2
HANDLER = """
import base64, os, time

def lambda_handler(event, context):
    time.sleep(0.02)  # a batch takes a while: kills land inside batches
    lines = "".join(base64.b64decode(r["kinesis"]["data"]).decode() + "\\n" for r in event["Records"])
    with open(os.environ["OUT"], "a") as f:
        f.write(lines)
"""


def _seen(out: Path) -> list[str]:
    return out.read_text().split() if out.exists() else []


def test_no_record_is_skipped_across_kill_9(server_factory, tmp_path: Path) -> None:
    data_dir, out = tmp_path / "data", tmp_path / "seen.txt"
    server = server_factory(data_dir=data_dir, log_level="error")
    kinesis, lam = server.client("kinesis"), server.client("lambda")
    kinesis.create_stream(StreamName="kill-src", ShardCount=SHARDS)
    arn = kinesis.describe_stream_summary(StreamName="kill-src")["StreamDescriptionSummary"]["StreamARN"]
    lam.create_function(FunctionName="kill-fn", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                        Handler="handler.lambda_handler", Code={"ZipFile": zipped(HANDLER)},
                        Environment={"Variables": {"OUT": str(out)}})
    expected = [f"record-{i:05d}" for i in range(RECORDS)]
    for start in range(0, RECORDS, 500):  # acknowledged: durable before the first kill
        kinesis.put_records(StreamName="kill-src", Records=[{"Data": d.encode(), "PartitionKey": d}
                                                            for d in expected[start:start + 500]])
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="kill-fn", StartingPosition="TRIM_HORIZON",
                                    BatchSize=BATCH)
    for kill in range(KILLS):
        goal = len(_seen(out)) + RECORDS // (KILLS + 2)
        deadline = time.monotonic() + 60
        while len(_seen(out)) < goal:
            assert time.monotonic() < deadline, "the mapping made no progress"
            time.sleep(0.01)
        server.kill()
        server = server_factory(data_dir=data_dir, log_level="error")
    deadline = time.monotonic() + 120
    while not set(expected) <= set(_seen(out)):
        assert time.monotonic() < deadline, f"{len(set(expected) - set(_seen(out)))} records never arrived"
        time.sleep(0.05)
    time.sleep(0.5)
    seen = Counter(_seen(out))
    assert set(seen) == set(expected)
    duplicates = sum(seen.values()) - len(seen)
    print(f"{duplicates} duplicate deliveries over {KILLS} kills")
    assert duplicates <= KILLS * SHARDS * BATCH
