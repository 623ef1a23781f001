"""The real AWS CLI (v1, from PyPI) against tidelake: `python -m awscli kinesis ... --endpoint-url`."""
from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

import boto3
import pytest
from support import aws as aws_cli


def aws(url: str, *args: str, key: str = "test", secret: str = "test") -> subprocess.CompletedProcess[str]:
    return aws_cli(url, "kinesis", *args, "--output", "json", key=key, secret=secret, timeout=60)


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture
def stream(stream_factory: Any) -> str:
    return stream_factory(shards=2)


def test_cli_put_record_sends_the_text_as_bytes(server, stream):
    """AWS CLI v1 takes a blob argument as text and base64-encodes its bytes itself (v2 would expect
    base64 unless cli_binary_format=raw-in-base64-out): the record holds the JSON text exactly."""
    put = ok(aws(server.url, "put-record", "--stream-name", stream, "--data", '{"Data":"1"}',
                 "--partition-key", "111"))
    assert len(put["SequenceNumber"]) == 56 and put["ShardId"].startswith("shardId-")
    shard_iterator = ok(aws(server.url, "get-shard-iterator", "--stream-name", stream, "--shard-id", put["ShardId"],
                            "--shard-iterator-type", "AT_SEQUENCE_NUMBER",
                            "--starting-sequence-number", put["SequenceNumber"]))["ShardIterator"]
    records = ok(aws(server.url, "get-records", "--shard-iterator", shard_iterator))["Records"]
    assert [(base64.b64decode(r["Data"]), r["PartitionKey"], r["SequenceNumber"]) for r in records] == [
        (b'{"Data":"1"}', "111", put["SequenceNumber"])]


def test_cli_manages_streams(server):
    """Each CLI call costs about a second of start-up, so this walks the common commands once."""
    name = "cli-managed-stream"
    ok(aws(server.url, "create-stream", "--stream-name", name, "--shard-count", "3"))
    ok(aws(server.url, "wait", "stream-exists", "--stream-name", name))  # the DescribeStream waiter
    shards = ok(aws(server.url, "list-shards", "--stream-name", name))["Shards"]  # the CLI paginates itself
    assert [s["ShardId"] for s in shards] == [f"shardId-00000000000{i}" for i in range(3)]
    batch = ok(aws(server.url, "put-records", "--stream-name", name, "--records",
                   "Data=one,PartitionKey=a", "Data=two,PartitionKey=b"))
    assert batch["FailedRecordCount"] == 0 and len(batch["Records"]) == 2
    ok(aws(server.url, "delete-stream", "--stream-name", name))
    ok(aws(server.url, "wait", "stream-not-exists", "--stream-name", name))


def test_cli_reports_aws_errors(server):
    result = aws(server.url, "describe-stream", "--stream-name", "no-such-stream-for-the-cli")
    assert result.returncode == 255  # AWS CLI v1: the service answered with an error
    assert "ResourceNotFoundException" in result.stderr and "no-such-stream-for-the-cli" in result.stderr


def test_cli_with_sigv4_credentials(server_factory):
    """With credentials configured the CLI signs with the right keys and is let in; wrong keys are refused."""
    signed = server_factory(credentials="AKIDTEST:secret1")
    ok(aws(signed.url, "create-stream", "--stream-name", "signed-cli", "--shard-count", "1",
           key="AKIDTEST", secret="secret1"))
    wrong = aws(signed.url, "list-streams", key="AKIDTEST", secret="not-the-secret")
    assert wrong.returncode == 255 and "InvalidSignatureException" in wrong.stderr
    client = boto3.client("kinesis", endpoint_url=signed.url, region_name="us-east-1", aws_access_key_id="AKIDTEST",
                          aws_secret_access_key="secret1")
    assert client.list_streams()["StreamNames"] == ["signed-cli"]
