"""Exactly-once into the lake: producers write into a Kinesis stream that a delivery stream reads,
while the server is killed with SIGKILL again and again. In the end every acknowledged record is in
the lake exactly once, and nothing else is."""
from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

KILLS = 4


def lake_records(data_dir: Path, bucket: str) -> list[bytes]:
    """Every line of every object under the bucket, read from the lake folder itself."""
    root = data_dir / "lake" / bucket
    return [line for path in sorted(root.rglob("*")) if path.is_file() for line in path.read_bytes().splitlines()]


def test_every_record_lands_once_across_repeated_kill_9(server_factory):
    server = server_factory(log_level="error")
    kinesis, firehose, s3 = server.client("kinesis"), server.client("firehose"), server.client(
        "s3", s3={"addressing_style": "path"})
    s3.create_bucket(Bucket="crash-lake")
    kinesis.create_stream(StreamName="crash-src", ShardCount=2)
    arn = kinesis.describe_stream_summary(StreamName="crash-src")["StreamDescriptionSummary"]["StreamARN"]
    firehose.create_delivery_stream(
        DeliveryStreamName="crash-delivery", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": "arn:aws:iam::000000000000:role/r"},
        ExtendedS3DestinationConfiguration={
            "BucketARN": "arn:aws:s3:::crash-lake", "RoleARN": "arn:aws:iam::000000000000:role/r",
            "Prefix": "data/!{timestamp:yyyy}/", "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}})
    acknowledged: set[bytes] = set()
    attempted: set[bytes] = set()
    counter = iter(range(10**9))

    def produce(stop: threading.Event) -> None:
        client = server.client("kinesis")
        while not stop.is_set():
            batch = [f"record-{next(counter)}".encode() for _ in range(50)]
            attempted.update(batch)
            try:
                client.put_records(StreamName="crash-src", Records=[{"Data": d, "PartitionKey": d.decode()}
                                                                    for d in batch])
            except (BotoCoreError, ClientError):
                return
            acknowledged.update(batch)

    for kill in range(KILLS):
        stop = threading.Event()
        producers = [threading.Thread(target=produce, args=(stop,)) for _ in range(3)]
        for p in producers:
            p.start()
        time.sleep(0.7 + 0.2 * kill)
        server.kill()
        stop.set()
        for p in producers:
            p.join(timeout=30)
        server.start()

    request = urllib.request.Request(f"{server.url}/_tidelake/delivery/crash-delivery/flush?timeout=120",
                                     method="POST")
    with urllib.request.urlopen(request, timeout=180) as answer:
        assert answer.status == 200
    server.stop()
    delivered = lake_records(server.data_dir, "crash-lake")
    assert len(acknowledged) > 1000
    assert len(delivered) == len(set(delivered)), "some records were delivered twice"
    assert acknowledged <= set(delivered), f"{len(acknowledged - set(delivered))} acknowledged records are missing"
    assert set(delivered) <= attempted, "the lake holds records nobody sent"
