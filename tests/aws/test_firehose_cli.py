"""The real AWS CLI (v1, from PyPI) against tidelake's Firehose, as the workshop drives it:
`aws firehose create-delivery-stream` over a Kinesis stream, records in, then `aws s3 ls --recursive`
and `aws s3 cp` to read what was delivered. Buffers are forced out through the admin flush."""
from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support import aws, error_code, ok

ROLE = "arn:aws:iam::000000000000:role/firehose-delivery-role"
PREFIX = "json-data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
ERROR_PREFIX = ("error-json/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
                "!{firehose:error-output-type}")
OBJECT = re.compile(r"json-data/year=(\d{4})/month=(\d\d)/day=(\d\d)/hour=(\d\d)/retail-trans-1-"
                    r"(\d{4})-(\d\d)-(\d\d)-(\d\d)-\d\d-\d\d-"
                    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def flush(url: str, name: str) -> None:
    request = urllib.request.Request(f"{url}/_tidelake/delivery/{name}/flush?timeout=30", method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert json.loads(answer.read()) == {"flushed": True}


def listing(url: str, bucket: str) -> list[str]:
    """Keys from `aws s3 ls --recursive` ("date time size key" per line)."""
    out = ok(aws(url, "s3", "ls", "--recursive", f"s3://{bucket}"))
    return [line.split(maxsplit=3)[3] for line in out.splitlines()]


def test_cli_workshop_flow(server_factory: Any, tmp_path: Path) -> None:
    """The immersion day's steps with the AWS CLI: bucket, stream `retail-trans`, a delivery stream
    reading it with the Hive-style prefix, put, then list and copy the delivered object."""
    server = server_factory()
    url, bucket = server.url, "cli-workshop-lake"
    ok(aws(url, "s3", "mb", f"s3://{bucket}"))
    ok(aws(url, "kinesis", "create-stream", "--stream-name", "retail-trans", "--shard-count", "1"))
    arn = ok(aws(url, "kinesis", "describe-stream-summary", "--stream-name", "retail-trans",
                 "--query", "StreamDescriptionSummary.StreamARN", "--output", "text")).strip()
    assert arn == "arn:aws:kinesis:us-east-1:000000000000:stream/retail-trans"

    (tmp_path / "destination.json").write_text(json.dumps({
        "BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE, "Prefix": PREFIX, "ErrorOutputPrefix": ERROR_PREFIX,
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}))
    created = json.loads(ok(aws(
        url, "firehose", "create-delivery-stream", "--delivery-stream-name", "retail-trans",
        "--delivery-stream-type", "KinesisStreamAsSource",
        "--kinesis-stream-source-configuration", f"KinesisStreamARN={arn},RoleARN={ROLE}",
        "--extended-s3-destination-configuration", f"file://{tmp_path / 'destination.json'}")))
    assert created["DeliveryStreamARN"] == "arn:aws:firehose:us-east-1:000000000000:deliverystream/retail-trans"

    records = [{"Invoice": str(489_434 + i), "StockCode": "85048", "Quantity": i + 1, "Customer_ID": "13085",
                "Country": "United Kingdom"} for i in range(5)]
    (tmp_path / "records.json").write_text(json.dumps(
        [{"Data": json.dumps(r) + "\n", "PartitionKey": r["Customer_ID"]} for r in records]))
    put = json.loads(ok(aws(url, "kinesis", "put-records", "--stream-name", "retail-trans",
                            "--records", f"file://{tmp_path / 'records.json'}")))
    assert put["FailedRecordCount"] == 0
    flush(url, "retail-trans")

    described = json.loads(ok(aws(url, "firehose", "describe-delivery-stream", "--delivery-stream-name",
                                  "retail-trans")))["DeliveryStreamDescription"]
    assert described["DeliveryStreamStatus"] == "ACTIVE"
    assert described["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"] == arn
    s3d = described["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert (s3d["Prefix"], s3d["ErrorOutputPrefix"]) == (PREFIX, ERROR_PREFIX)
    assert s3d["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 60}

    [key] = listing(url, bucket)
    match = OBJECT.fullmatch(key)
    assert match, key
    assert match.groups()[:4] == match.groups()[4:], "partition values and the object name share the instant"
    ok(aws(url, "s3", "cp", f"s3://{bucket}/{key}", str(tmp_path / "delivered.json")))
    delivered = (tmp_path / "delivered.json").read_text().splitlines()
    assert [json.loads(line) for line in delivered] == records


@pytest.mark.slow
def test_cli_direct_put_and_errors(server: Any, tmp_path: Path) -> None:
    """`aws firehose put-record` / `put-record-batch` / `list-delivery-streams`, and an error code the
    CLI prints as AWS does."""
    url = server.url
    name, bucket = f"cli-direct-{os.getpid()}", f"cli-direct-lake-{os.getpid()}"
    ok(aws(url, "s3", "mb", f"s3://{bucket}"))
    ok(aws(url, "firehose", "create-delivery-stream", "--delivery-stream-name", name,
           "--extended-s3-destination-configuration",
           json.dumps({"BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE, "Prefix": "direct/"})))
    one = json.loads(ok(aws(url, "firehose", "put-record", "--delivery-stream-name", name,
                            "--record", json.dumps({"Data": "first\n"}))))
    assert one["RecordId"]
    (tmp_path / "batch.json").write_text(json.dumps([{"Data": f"line {i}\n"} for i in range(3)]))
    batch = json.loads(ok(aws(url, "firehose", "put-record-batch", "--delivery-stream-name", name,
                              "--records", f"file://{tmp_path / 'batch.json'}")))
    assert batch["FailedPutCount"] == 0 and len(batch["RequestResponses"]) == 3
    assert name in json.loads(ok(aws(url, "firehose", "list-delivery-streams", "--limit", "10000")))[
        "DeliveryStreamNames"]
    flush(url, name)
    [key] = listing(url, bucket)
    assert key.startswith("direct/") and f"/{name}-1-" in key
    assert ok(aws(url, "s3", "cp", f"s3://{bucket}/{key}", "-")) == "first\nline 0\nline 1\nline 2\n"

    assert error_code(aws(url, "firehose", "describe-delivery-stream", "--delivery-stream-name",
                          f"{name}-missing")) == "ResourceNotFoundException"
    again = aws(url, "firehose", "create-delivery-stream", "--delivery-stream-name", name,
                "--extended-s3-destination-configuration",
                json.dumps({"BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE}))
    assert error_code(again) == "ResourceInUseException"
