"""`tidelake delivery ...` and `tidelake lake ...` against a running server, as a user types them."""
from __future__ import annotations

import gzip
import re
import uuid
from typing import Any

import pytest

from support import free_port, tidelake

ROLE = "arn:aws:iam::000000000000:role/firehose-delivery-role"
PREFIX = "json-data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
ERROR_PREFIX = "error-json/!{firehose:error-output-type}/"


def unique(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def bucket(server: Any) -> str:
    name = unique("cli-lake")
    server.client("s3", s3={"addressing_style": "path"}).create_bucket(Bucket=name)
    return name


def test_kinesis_source_create_flush_describe_read_and_delete(server, bucket):
    """The workshop's delivery stream built with the CLI: a stream, a delivery stream reading it into
    Hive-style partitions, records in, flush, then the lake listed and read back."""
    stream, name = unique("cli-src"), unique("cli-ds")
    tidelake(server, "stream", "create", stream)
    out = tidelake(server, "delivery", "create", name, "--bucket", bucket, "--source-stream", stream,
                   "--prefix", PREFIX, "--error-prefix", ERROR_PREFIX, "--buffer-mb", "1", "--buffer-seconds", "60",
                   "--append-newline").stdout
    assert f"delivery stream {name} -> s3://{bucket}/{PREFIX}" in out
    tidelake(server, "stream", "put", stream, input='{"n":1}\n{"n":2}\n{"n":3}\n')
    assert tidelake(server, "delivery", "flush", name).stdout.strip() == f"{name}: flushed"

    assert name in tidelake(server, "delivery", "list").stdout.split()
    described = tidelake(server, "delivery", "describe", name).stdout
    assert f"{name}  ACTIVE  KinesisStreamAsSource  version 1" in described
    assert f"arn:aws:s3:::{bucket} prefix '{PREFIX}' buffer 1 MiB / 60 s" in described
    assert f'delivered_records{{delivery_stream="{name}"}} 3.0' in described
    assert "failing" not in described

    assert bucket in tidelake(server, "lake", "ls").stdout.split()
    listed = tidelake(server, "lake", "ls", bucket).stdout.splitlines()
    assert len(listed) == 1
    match = re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +(\d[\d,]*)  (json-data/year=\d{4}/month=\d\d/day=\d\d/"
                         r"hour=\d\d/" + re.escape(name) + r"-1-\S+)", listed[0])
    assert match, listed
    size, key = int(match[1].replace(",", "")), match[2]
    assert tidelake(server, "lake", "ls", f"{bucket}/json-data/year=").stdout.splitlines() == listed
    assert tidelake(server, "lake", "ls", f"s3://{bucket}/error-json/").stdout == ""
    body = tidelake(server, "lake", "cat", f"{bucket}/{key}").stdout
    assert body == '{"n":1}\n{"n":2}\n{"n":3}\n' and size == len(body)

    assert f"delivery stream {name} deleted" in tidelake(server, "delivery", "delete", name).stdout
    gone = tidelake(server, "delivery", "describe", name, check=False)
    assert gone.returncode == 1 and "ResourceNotFoundException" in gone.stderr
    assert name not in tidelake(server, "delivery", "list").stdout.split()
    assert tidelake(server, "lake", "cat", f"{bucket}/{key}").stdout == body, "delivered objects stay"


def test_compressed_objects_come_out_of_lake_cat_byte_for_byte(server, bucket):
    name = unique("cli-gz")
    tidelake(server, "delivery", "create", name, "--bucket", bucket, "--prefix", "gz/", "--compression", "GZIP",
             "--append-newline")
    server.client("firehose").put_record_batch(DeliveryStreamName=name,
                                               Records=[{"Data": b"row %d" % i} for i in range(100)])
    tidelake(server, "delivery", "flush", name)
    [line] = tidelake(server, "lake", "ls", f"{bucket}/gz/").stdout.splitlines()
    key = line.split()[-1]
    assert key.endswith(".gz")
    raw = tidelake(server, "lake", "cat", f"{bucket}/{key}", binary=True).stdout
    assert gzip.decompress(raw) == b"".join(b"row %d\n" % i for i in range(100))


def test_schema_declares_a_table_for_format_conversion(server, bucket):
    table = unique("orders").replace("-", "_")
    out = tidelake(server, "delivery", "schema", f"clidb.{table}", "invoice:string,quantity:int,at:timestamp").stdout
    assert f"schema clidb.{table}: 3 column(s)" in out
    conversion = {"Enabled": True,
                  "SchemaConfiguration": {"DatabaseName": "clidb", "TableName": table, "RoleARN": ROLE},
                  "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                  "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}
    fh = server.client("firehose")
    name = unique("cli-parquet")
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
        "BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE, "DataFormatConversionConfiguration": conversion})
    fh.put_record(DeliveryStreamName=name, Record={"Data": b'{"invoice":"7","quantity":2,"at":"2024-01-02 03:04:05"}'})
    tidelake(server, "delivery", "flush", name)
    [line] = tidelake(server, "lake", "ls", bucket).stdout.splitlines()
    assert line.endswith(".parquet")

    bad_type = tidelake(server, "delivery", "schema", "clidb.broken", "a:notatype", check=False)
    assert bad_type.returncode == 1 and "notatype" in bad_type.stderr
    bad_usage = tidelake(server, "delivery", "schema", "clidb", "a:int", check=False)
    assert bad_usage.returncode == 2 and "DATABASE.TABLE" in bad_usage.stderr


def test_a_failing_destination_shows_in_describe_and_flush(server):
    """No bucket: flush cannot finish and says so, describe shows the failure; once the bucket
    exists the same flush succeeds and the failure is gone."""
    name, bucket = unique("cli-fail"), unique("cli-later")
    tidelake(server, "delivery", "create", name, "--bucket", bucket)
    server.client("firehose").put_record(DeliveryStreamName=name, Record={"Data": b"kept\n"})
    stuck = tidelake(server, "delivery", "flush", name, "--timeout", "1", check=False)
    assert stuck.returncode == 1 and "not everything received is in the lake" in stuck.stderr
    described = tidelake(server, "delivery", "describe", name).stdout
    assert "failing: BucketNotFound" in described and bucket in described
    assert f'write_failures{{delivery_stream="{name}",error="BucketNotFound"}}' in described
    assert f'backlog_records{{delivery_stream="{name}"}} 1.0' in described

    server.client("s3", s3={"addressing_style": "path"}).create_bucket(Bucket=bucket)
    tidelake(server, "delivery", "flush", name, "--timeout", "60")
    assert "failing" not in tidelake(server, "delivery", "describe", name).stdout
    [line] = tidelake(server, "lake", "ls", bucket).stdout.splitlines()
    assert tidelake(server, "lake", "cat", f"{bucket}/{line.split()[-1]}").stdout == "kept\n"
    tidelake(server, "delivery", "delete", name)


@pytest.mark.parametrize("args, code, message", [  # "{name}": a name nothing uses
    (["delivery", "create", "{name}", "--bucket", "b-x-y", "--prefix", "p/!{timestamp:yyyy}/"], 1,
     "InvalidArgumentException: Ths supplied prefix(es) do not satisfy the following constraint: "
     "ErrorOutputPrefix cannot be null or empty"),
    (["delivery", "create", "{name}", "--bucket", "b-x-y", "--source-stream", "{name}-missing"], 1,
     "ResourceNotFoundException"),
    (["delivery", "create", "{name}", "--bucket", "b-x-y", "--buffer-mb", "0"], 2, "--buffer-mb"),
    (["delivery", "create", "{name}", "--bucket", "b-x-y", "--compression", "BROTLI"], 2, "--compression"),
    (["delivery", "describe", "{name}"], 1, "ResourceNotFoundException"),
    (["delivery", "flush", "{name}"], 1, "not found"),
    (["delivery", "delete", "{name}"], 1, "ResourceNotFoundException"),
    (["lake", "cat", "only-a-bucket"], 2, "BUCKET/KEY"),
    (["lake", "cat", "{name}/no-such-key"], 1, "NoSuchBucket"),
    (["lake", "ls", "{name}"], 1, "NoSuchBucket"),
])
def test_errors_say_what_happened(server, args, code, message):
    name = unique("cli-err")
    result = tidelake(server, *[a.replace("{name}", name) for a in args], check=False)
    assert result.returncode == code, result.stderr
    assert message in result.stderr


def test_create_twice_and_an_unreachable_server(server, bucket):
    name = unique("cli-twice")
    tidelake(server, "delivery", "create", name, "--bucket", bucket)
    again = tidelake(server, "delivery", "create", name, "--bucket", bucket, check=False)
    assert again.returncode == 1 and "ResourceInUseException" in again.stderr
    nowhere = f"http://127.0.0.1:{free_port()}"
    for args in (["delivery", "list"], ["delivery", "flush", name], ["lake", "ls"]):
        result = tidelake(server, *args, "--endpoint-url", nowhere, check=False)
        assert result.returncode == 1 and f"Cannot reach tidelake at {nowhere}" in result.stderr, (args, result.stderr)
