"""Amazon Data Firehose through boto3 against `tidelake up`: the workshop flow, DirectPut and its limits,
configuration checks, DescribeDeliveryStream / ListDeliveryStreams / tags, UpdateDestination, the
processors end to end over HTTP, a failing destination, and the metrics endpoint.

API pages cited are under https://docs.aws.amazon.com/firehose/latest/APIReference/ (API_<Operation>.html),
guide pages under https://docs.aws.amazon.com/firehose/latest/dev/ unless a test names another.
Buffers are forced out with ``POST /_tidelake/delivery/{name}/flush`` instead of waiting for the interval.
"""
from __future__ import annotations

import base64
import io
import itertools
import json
import re
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.session
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from support import ServerProcess, aws_error, wait_status
from tidelake.delivery.compression import decompress
from tidelake.generate.retail import encode, transactions

ROLE = "arn:aws:iam::000000000000:role/firehose-delivery-role"
ACCOUNT = "000000000000"
WORKSHOP_PREFIX = "json-data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
WORKSHOP_ERROR_PREFIX = ("error-json/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
                         "hour=!{timestamp:HH}/!{firehose:error-output-type}")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# s3-object-name.html: <evaluated prefix><name>-<version>-<year>-<month>-<day>-<hour>-<minute>-<second>-<uuid><ext>
STAMP = r"(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)"
MODEL = botocore.session.get_session().get_service_model("firehose")
_names = itertools.count()


# -- helpers ---------------------------------------------------------------------------------------

def unique(kind: str) -> str:
    """A name no other test (nor a rerun against the same session server) uses."""
    return f"{kind}-{next(_names)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def fh(server: Any) -> Any:
    return server.client("firehose")


@pytest.fixture
def raw_fh(server: Any) -> Any:
    """No client-side parameter validation: the server's model checks answer."""
    return server.client("firehose", parameter_validation=False)


@pytest.fixture
def s3(server: Any) -> Any:
    return server.client("s3", s3={"addressing_style": "path"})


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("fh-lake")
    s3.create_bucket(Bucket=name)
    return name


def destination(bucket: str, **extra: Any) -> dict[str, Any]:
    return {"BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE, **extra}


def create_direct(fh: Any, bucket: str, name: str | None = None, **extra: Any) -> str:
    name = name or unique("ds")
    fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="DirectPut",
                              ExtendedS3DestinationConfiguration=destination(bucket, **extra))
    return name


def flush(server: Any, name: str, timeout: float = 30) -> int:
    """The admin flush; the HTTP status (200 flushed, 504 not everything is in the lake yet)."""
    request = urllib.request.Request(f"{server.url}/_tidelake/delivery/{name}/flush?timeout={timeout}",
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout + 30) as answer:
            assert json.loads(answer.read()) == {"flushed": True}
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    found: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [item["Key"] for item in page.get("Contents", [])]
    return found


def read(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def lines(s3: Any, bucket: str, prefix: str = "") -> list[bytes]:
    return [line for key in keys(s3, bucket, prefix) for line in read(s3, bucket, key).splitlines()]


def metrics(server: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /_tidelake/metrics, parsed: (metric name, labels) -> value."""
    with urllib.request.urlopen(f"{server.url}/_tidelake/metrics") as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        assert match, f"not a Prometheus sample: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2]))
        samples[(match[1], labels)] = float(match[3])
    return samples


def metric(samples: dict, name: str, stream: str, **labels: str) -> float:
    return samples.get((f"tidelake_delivery_{name}", frozenset({"delivery_stream": stream, **labels}.items())), 0.0)


def describe(fh: Any, name: str) -> dict[str, Any]:
    return fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]


def assert_gone(fh: Any, name: str) -> None:
    with aws_error("ResourceNotFoundException", f"Firehose {name} under account {ACCOUNT} not found."):
        fh.describe_delivery_stream(DeliveryStreamName=name)


def retail(count: int) -> list[bytes]:
    return [encode(t) + b"\n" for t, _ in zip(transactions(seed=11), range(count))]


# -- the workshop flow ------------------------------------------------------------------------------

def test_workshop_kinesis_source_into_hive_partitioned_keys(server, fh, s3, kinesis, bucket):
    """The immersion day's delivery stream: Kinesis stream ``retail-trans`` as the source, the
    ``json-data/year=.../hour=HH/`` prefix, the ``error-json/...`` error prefix, 1 MiB / 60 s buffers.

    Object keys follow s3-object-name.html (``<evaluated prefix><stream>-<version>-<UTC time>-<uuid>``);
    timestamp expressions use the approximate arrival time of the oldest record in the object (s3-prefixes.html).
    """
    kinesis.create_stream(StreamName="retail-trans", ShardCount=2)
    wait_status(kinesis, "retail-trans", "ACTIVE")
    arn = kinesis.describe_stream_summary(StreamName="retail-trans")["StreamDescriptionSummary"]["StreamARN"]
    created = fh.create_delivery_stream(
        DeliveryStreamName="retail-trans", DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration=destination(
            bucket, Prefix=WORKSHOP_PREFIX, ErrorOutputPrefix=WORKSHOP_ERROR_PREFIX,
            BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 60}))
    assert created["DeliveryStreamARN"] == f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/retail-trans"

    records = retail(200)
    for i in range(0, len(records), 50):
        answer = kinesis.put_records(StreamName="retail-trans", Records=[
            {"Data": r, "PartitionKey": json.loads(r)["Customer_ID"]} for r in records[i:i + 50]])
        assert answer["FailedRecordCount"] == 0
    time.sleep(0.3)
    assert keys(s3, bucket) == [], "1 MiB / 60 s buffers: nothing may be written before a flush"
    assert flush(server, "retail-trans") == 200

    found = keys(s3, bucket)
    assert found, "the flush wrote nothing"
    oldest = min(r["ApproximateArrivalTimestamp"] for shard in ("shardId-000000000000", "shardId-000000000001")
                 for r in kinesis.get_records(ShardIterator=kinesis.get_shard_iterator(
                     StreamName="retail-trans", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                 )["Records"]).astimezone(timezone.utc)
    pattern = re.compile(r"json-data/year=(\d{4})/month=(\d\d)/day=(\d\d)/hour=(\d\d)/retail-trans-1-" + STAMP
                         + "-" + UUID)
    for key in found:
        match = pattern.fullmatch(key)
        assert match, key
        year, month, day, hour, *stamp = match.groups()
        assert [year, month, day, hour] == stamp[:4], "the partition and the object name use the same instant"
        when = datetime(*map(int, stamp), tzinfo=timezone.utc)
        assert when == oldest.replace(microsecond=0), (key, oldest)
    assert sorted(lines(s3, bucket)) == sorted(r.rstrip(b"\n") for r in records)
    assert Counter(lines(s3, bucket)) == Counter(r.rstrip(b"\n") for r in records), "each record exactly once"
    assert keys(s3, bucket, "error-json/") == []


def test_interval_buffering_delivers_without_a_flush(server, fh, s3, bucket):
    """BufferingHints.IntervalInSeconds: the buffer goes out once the interval passes, no earlier."""
    name = create_direct(fh, bucket, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 1})
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"tick %d\n" % i} for i in range(5)])
    put_done = time.monotonic()
    time.sleep(0.3)
    assert keys(s3, bucket) == [], "delivered before IntervalInSeconds passed"
    deadline = put_done + 15
    while not keys(s3, bucket):
        assert time.monotonic() < deadline, "the 1 s interval never delivered the buffer"
        time.sleep(0.1)
    assert time.monotonic() - put_done >= 1.0
    assert lines(s3, bucket) == [b"tick %d" % i for i in range(5)]


def test_size_buffering_delivers_once_the_buffer_is_full(server, fh, s3, bucket):
    """BufferingHints.SizeInMBs: reaching 1 MiB sends the buffer out although the interval is 900 s."""
    name = create_direct(fh, bucket, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 900})
    records = [bytes([65 + i]) * 300_000 + b"\n" for i in range(4)]  # 1.2 MB
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])
    deadline = time.monotonic() + 15
    while not keys(s3, bucket):
        assert time.monotonic() < deadline, "a full 1 MiB buffer was not delivered"
        time.sleep(0.1)
    assert flush(server, name) == 200
    assert Counter(lines(s3, bucket)) == Counter(r.rstrip(b"\n") for r in records)


# -- DirectPut -------------------------------------------------------------------------------------

def test_put_record_and_put_record_batch(server, fh, s3, bucket):
    """API_PutRecord.html / API_PutRecordBatch.html: a RecordId per record, FailedPutCount 0; the
    object holds the records as sent, concatenated (no delimiter is added without a processor),
    under the default ``YYYY/MM/dd/HH/`` prefix (s3-object-name.html)."""
    name = create_direct(fh, bucket)
    one = fh.put_record(DeliveryStreamName=name, Record={"Data": b"first|"})
    assert isinstance(one["RecordId"], str) and one["RecordId"] and one["Encrypted"] is False
    batch = fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"r%d|" % i} for i in range(20)])
    assert batch["FailedPutCount"] == 0 and batch["Encrypted"] is False
    ids = [r["RecordId"] for r in batch["RequestResponses"]]
    assert len(ids) == 20 and all(ids) and len(set(ids + [one["RecordId"]])) == 21
    assert not any("ErrorCode" in r for r in batch["RequestResponses"])
    assert flush(server, name) == 200

    [key] = keys(s3, bucket)
    now = datetime.now(timezone.utc)
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\d\d/" + re.escape(name) + "-1-" + STAMP + "-" + UUID, key), key
    assert key.startswith(f"{now:%Y/%m/%d/}") or key.startswith(f"{now - timedelta(hours=1):%Y/%m/%d/}")
    assert read(s3, bucket, key) == b"first|" + b"".join(b"r%d|" % i for i in range(20))


def test_put_record_batch_limits(server, fh, raw_fh, bucket):
    """API_PutRecordBatch.html: "up to 500 records. Each record in the request can be as large as
    1,000 KB (before base64 encoding), up to a limit of 4 MB for the entire request."

    The first two limits are in botocore's model (``PutRecordBatchRequestEntryList`` max 500,
    ``Data`` max 1,024,000 bytes), so the service's model validation answers ValidationException;
    the 4 MiB total is not in the model and is an InvalidArgumentException.
    """
    name = create_direct(fh, bucket)
    assert MODEL.shape_for("PutRecordBatchRequestEntryList").metadata["max"] == 500
    assert MODEL.shape_for("Data").metadata["max"] == 1_024_000
    with aws_error("ValidationException", "at 'records'", "less than or equal to 500"):
        raw_fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}] * 501)
    assert fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}] * 500)["FailedPutCount"] == 0

    with aws_error("ValidationException", "less than or equal to 1024000"):
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"x" * 1_024_001})
    with aws_error("ValidationException", "less than or equal to 1024000"):
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x" * 1_024_001}])
    assert fh.put_record(DeliveryStreamName=name, Record={"Data": b"y" * 1_024_000})["RecordId"]

    full = [{"Data": b"z" * 1_024_000}] * 4 + [{"Data": b"z" * (4 * 1024 * 1024 - 4 * 1_024_000)}]
    assert fh.put_record_batch(DeliveryStreamName=name, Records=full)["FailedPutCount"] == 0  # exactly 4 MiB
    with aws_error("InvalidArgumentException", "4 MiB"):
        fh.put_record_batch(DeliveryStreamName=name, Records=full + [{"Data": b"!"}])


def test_put_into_a_kinesis_source_delivery_stream_is_refused(fh, stream_factory, kinesis, bucket):
    """A KinesisStreamAsSource delivery stream reads its stream; PutRecord(Batch) is refused with
    AWS's message (as reported in aws/aws-cli#7010)."""
    source = stream_factory()
    arn = kinesis.describe_stream_summary(StreamName=source)["StreamDescriptionSummary"]["StreamARN"]
    name = unique("ksrc")
    fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
                              KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
                              ExtendedS3DestinationConfiguration=destination(bucket))
    message = "This operation is not permitted on KinesisStreamAsSource delivery stream type"
    with aws_error("InvalidArgumentException", message):
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    with aws_error("InvalidArgumentException", message):
        fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}])


def test_unknown_delivery_stream_is_not_found_everywhere(fh):
    """Every operation on a name that does not exist: ResourceNotFoundException, in AWS's words."""
    name = unique("missing")
    calls = [
        lambda: fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"}),
        lambda: fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"x"}]),
        lambda: fh.describe_delivery_stream(DeliveryStreamName=name),
        lambda: fh.delete_delivery_stream(DeliveryStreamName=name),
        lambda: fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                                      DestinationId="destinationId-000000000001",
                                      ExtendedS3DestinationUpdate={"Prefix": "x/"}),
        lambda: fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": "k", "Value": "v"}]),
        lambda: fh.untag_delivery_stream(DeliveryStreamName=name, TagKeys=["k"]),
        lambda: fh.list_tags_for_delivery_stream(DeliveryStreamName=name),
    ]
    for call in calls:
        with aws_error("ResourceNotFoundException", f"Firehose {name} under account {ACCOUNT} not found."):
            call()


def test_creating_a_name_twice_is_resource_in_use(fh, bucket):
    """API_CreateDeliveryStream.html: ResourceInUseException; the first stream is untouched."""
    name = create_direct(fh, bucket, Prefix="first/")
    with aws_error("ResourceInUseException", f"Firehose {name} under accountId {ACCOUNT} already exists"):
        create_direct(fh, bucket, name, Prefix="second/")
    assert describe(fh, name)["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"] == "first/"


def test_a_kinesis_source_that_does_not_exist_is_an_invalid_argument(fh, bucket):
    """API_CreateDeliveryStream.html lists InvalidArgumentException ("The specified input parameter
    has a value that is not valid") and no ResourceNotFoundException: a source stream that does not
    exist is an invalid argument. Nothing is created."""
    name = unique("nosrc")
    missing = unique("no-such-stream")
    with aws_error("InvalidArgumentException", missing):
        fh.create_delivery_stream(
            DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
            KinesisStreamSourceConfiguration={
                "KinesisStreamARN": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{missing}", "RoleARN": ROLE},
            ExtendedS3DestinationConfiguration=destination(bucket))
    assert_gone(fh, name)
    with aws_error("InvalidArgumentException", "KinesisStreamSourceConfiguration"):
        fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
                                  ExtendedS3DestinationConfiguration=destination(bucket))
    with aws_error("ValidationException", "kinesisStreamARN"):
        fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
                                  KinesisStreamSourceConfiguration={"KinesisStreamARN": "not-an-arn", "RoleARN": ROLE},
                                  ExtendedS3DestinationConfiguration=destination(bucket))
    assert_gone(fh, name)


# -- configuration checks ---------------------------------------------------------------------------

CONVERSION = {"Enabled": True,
              "SchemaConfiguration": {"DatabaseName": "fhtest", "TableName": "retail", "RoleARN": ROLE},
              "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
              "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {}}}}
PREFIX_RULE = "Ths supplied prefix(es) do not satisfy the following constraint: "  # AWS's wording, typo included


@pytest.mark.parametrize("config, code, fragment", [
    # s3-prefixes.html, "Semantic rules": an expression in Prefix needs an ErrorOutputPrefix.
    ({"Prefix": "data/!{timestamp:yyyy}/"}, "InvalidArgumentException",
     PREFIX_RULE + "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"),
    ({"Prefix": "data/!{timestamp:yyyy}/", "ErrorOutputPrefix": ""}, "InvalidArgumentException",
     "ErrorOutputPrefix cannot be null or empty"),
    # "Prefix can't contain !{firehose:error-output-type}".
    ({"Prefix": "data/!{firehose:error-output-type}/", "ErrorOutputPrefix": "e/!{firehose:error-output-type}"},
     "InvalidArgumentException", "Prefix can't contain !{firehose:error-output-type}"),
    # "If you specify an expression for ErrorOutputPrefix, you must include ... !{firehose:error-output-type}".
    ({"Prefix": "d/!{timestamp:yyyy}/", "ErrorOutputPrefix": "e/!{timestamp:yyyy}/"}, "InvalidArgumentException",
     "at least one instance of !{firehose:error-output-type}"),
    ({"Prefix": "d/!{nosuch:thing}/", "ErrorOutputPrefix": "e/!{firehose:error-output-type}"},
     "InvalidArgumentException", "The sequence !{ can only appear in !{namespace:value} expressions"),
    # Dynamic partitioning: the prefix must use partition keys, and keys need dynamic partitioning.
    ({"Prefix": "d/", "DynamicPartitioningConfiguration": {"Enabled": True},
      "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60}}, "InvalidArgumentException",
     "When dynamic partitioning is enabled, Prefix must consist of expressions based on the partitioning keys"),
    ({"Prefix": "d/!{partitionKeyFromQuery:customer}/", "ErrorOutputPrefix": "e/!{firehose:error-output-type}"},
     "InvalidArgumentException", "Dynamic Partitioning Namespaces can only be part of a prefix expression"),
    # dynamic-partitioning.html: the buffer size is at least 64 MiB with dynamic partitioning.
    ({"Prefix": "d/!{partitionKeyFromQuery:customer}/", "ErrorOutputPrefix": "e/!{firehose:error-output-type}",
      "DynamicPartitioningConfiguration": {"Enabled": True},
      "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}},
     "InvalidArgumentException", "at least 64"),
    # ... and zero buffering is not available with it.
    ({"Prefix": "d/!{partitionKeyFromQuery:customer}/", "ErrorOutputPrefix": "e/!{firehose:error-output-type}",
      "DynamicPartitioningConfiguration": {"Enabled": True},
      "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 0}}, "InvalidArgumentException", "Zero buffering"),
    # BufferingHints ranges are in the model (SizeInMBs 1-128, IntervalInSeconds 0-900).
    ({"BufferingHints": {"SizeInMBs": 0, "IntervalInSeconds": 60}}, "ValidationException",
     "greater than or equal to 1"),
    ({"BufferingHints": {"SizeInMBs": 129, "IntervalInSeconds": 60}}, "ValidationException",
     "less than or equal to 128"),
    ({"BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 901}}, "ValidationException",
     "less than or equal to 900"),
    # BucketARN pattern arn:.*:s3:::[\w\.\-]{1,255}.
    ({"BucketARN": "arn:aws:s3:::"}, "ValidationException", "bucketARN"),
    ({"BucketARN": "arn:aws:s3:my-bucket"}, "ValidationException", "bucketARN"),
    # enable-record-format-conversion.html: S3 compression is disabled with format conversion.
    ({"CompressionFormat": "GZIP", "DataFormatConversionConfiguration": CONVERSION}, "InvalidArgumentException",
     "CompressionFormat must be UNCOMPRESSED"),
    ({"CompressionFormat": "Snappy", "DataFormatConversionConfiguration": CONVERSION}, "InvalidArgumentException",
     "CompressionFormat must be UNCOMPRESSED"),
    ({"DataFormatConversionConfiguration": {**CONVERSION, "OutputFormatConfiguration": {
        "Serializer": {"OrcSerDe": {}}}}}, "NotImplemented", "ORC"),
    ({"DataFormatConversionConfiguration": {**CONVERSION, "SchemaConfiguration": {
        "DatabaseName": "fhtest", "TableName": "never-declared", "RoleARN": ROLE}}}, "InvalidArgumentException",
     "fhtest.never-declared is not known"),
    # Settings tidelake does not honour are refused, never silently ignored.
    ({"CustomTimeZone": "Asia/Tokyo"}, "NotImplemented", "CustomTimeZone 'Asia/Tokyo' is not supported"),
    ({"S3BackupMode": "Enabled", "S3BackupConfiguration": destination("backup-bucket")}, "NotImplemented",
     "S3BackupMode 'Enabled' is not supported"),
    ({"ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "Decompression", "Parameters": [
        {"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]}]}}, "NotImplemented",
     "The Decompression processor is not supported"),
], ids=lambda v: None if isinstance(v, dict) else str(v)[:40])
def test_invalid_destinations_are_refused(server, raw_fh, bucket, config, code, fragment):
    declare_schema(server, "fhtest", "retail", [("invoice", "string")])
    name = unique("bad")
    with aws_error(code, fragment):
        raw_fh.create_delivery_stream(DeliveryStreamName=name,
                                      ExtendedS3DestinationConfiguration={**destination(bucket), **config})
    assert_gone(raw_fh, name)


def test_botocore_itself_refuses_a_zero_buffer_size(fh, bucket):
    """The model's minimums are checked by botocore before the request leaves (the server checks too)."""
    from botocore.exceptions import ParamValidationError
    with pytest.raises(ParamValidationError):
        create_direct(fh, bucket, BufferingHints={"SizeInMBs": 0, "IntervalInSeconds": 60})


@pytest.mark.parametrize("member, config", [
    ("RedshiftDestinationConfiguration", {
        "RoleARN": ROLE, "ClusterJDBCURL": "jdbc:redshift://c1.abc123.us-east-1.redshift.amazonaws.com:5439/dev",
        "CopyCommand": {"DataTableName": "t"}, "Username": "user", "Password": "password1",
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::staging"}}),
    ("HttpEndpointDestinationConfiguration", {
        "EndpointConfiguration": {"Url": "https://example.com/ingest"},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup"}}),
    ("SplunkDestinationConfiguration", {
        "HECEndpoint": "https://splunk.example.com", "HECEndpointType": "Raw", "HECToken": "token",
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup"}}),
])
def test_destinations_other_than_s3_are_clearly_unsupported(fh, member, config):
    """tidelake delivers into the lake (S3); other destinations are refused by name, nothing is created."""
    name = unique("unsupported")
    with aws_error("NotImplemented", member, "Amazon S3"):
        fh.create_delivery_stream(DeliveryStreamName=name, **{member: config})
    assert_gone(fh, name)


def test_no_destination_at_all_is_an_invalid_argument(fh):
    name = unique("nodest")
    with aws_error("InvalidArgumentException", "ExtendedS3DestinationConfiguration"):
        fh.create_delivery_stream(DeliveryStreamName=name)
    assert_gone(fh, name)


def test_the_older_s3_destination_configuration_delivers_too(server, fh, s3, bucket):
    """S3DestinationConfiguration (deprecated in favour of the extended form) is accepted and described."""
    name = unique("plain-s3")
    fh.create_delivery_stream(DeliveryStreamName=name, S3DestinationConfiguration=destination(
        bucket, Prefix="plain/", BufferingHints={"SizeInMBs": 2, "IntervalInSeconds": 60}))
    assert describe(fh, name)["Destinations"][0]["S3DestinationDescription"]["Prefix"] == "plain/"
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"plain\n"})
    assert flush(server, name) == 200
    assert lines(s3, bucket, "plain/") == [b"plain"]


def test_server_side_encryption_is_not_implemented(fh, bucket):
    """StartDeliveryStreamEncryption / StopDeliveryStreamEncryption: not served; streams describe as DISABLED."""
    name = create_direct(fh, bucket)
    assert describe(fh, name)["DeliveryStreamEncryptionConfiguration"]["Status"] == "DISABLED"
    with aws_error("NotImplemented", "StartDeliveryStreamEncryption"):
        fh.start_delivery_stream_encryption(DeliveryStreamName=name)
    with aws_error("NotImplemented", "StopDeliveryStreamEncryption"):
        fh.stop_delivery_stream_encryption(DeliveryStreamName=name)


# -- describe, list, tags, delete -------------------------------------------------------------------

def test_status_goes_from_creating_to_active_and_deleting_to_gone(server_factory):
    """API_CreateDeliveryStream.html: "The initial status of the Firehose stream is CREATING. After
    the Firehose stream is created, its status is ACTIVE"; API_DeleteDeliveryStream.html: DELETING,
    then gone."""
    server = server_factory(transition_seconds="0.5")
    fh = server.client("firehose")
    server.client("s3", s3={"addressing_style": "path"}).create_bucket(Bucket="status-lake")
    fh.create_delivery_stream(DeliveryStreamName="slow", ExtendedS3DestinationConfiguration=destination("status-lake"))
    assert describe(fh, "slow")["DeliveryStreamStatus"] == "CREATING"
    deadline = time.monotonic() + 10
    while describe(fh, "slow")["DeliveryStreamStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, "never became ACTIVE"
        time.sleep(0.05)
    fh.delete_delivery_stream(DeliveryStreamName="slow")
    assert describe(fh, "slow")["DeliveryStreamStatus"] == "DELETING"
    assert "slow" in fh.list_delivery_streams()["DeliveryStreamNames"]
    with aws_error("ResourceInUseException", "DELETING"):
        fh.delete_delivery_stream(DeliveryStreamName="slow")
    deadline = time.monotonic() + 10
    while True:
        try:
            describe(fh, "slow")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException"
            break
        assert time.monotonic() < deadline, "never went away"
        time.sleep(0.05)
    assert "slow" not in fh.list_delivery_streams()["DeliveryStreamNames"]


def test_describe_a_direct_put_stream_echoes_its_configuration(fh, bucket):
    """API_DescribeDeliveryStream.html / API_DeliveryStreamDescription.html."""
    before = datetime.now(timezone.utc)
    name = unique("desc")
    processing = {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord", "Parameters": []}]}
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=destination(
        bucket, Prefix="data/!{timestamp:yyyy}/", ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 3, "IntervalInSeconds": 120}, CompressionFormat="GZIP",
        ProcessingConfiguration=processing, CustomTimeZone="UTC", S3BackupMode="Disabled"))
    d = describe(fh, name)
    assert d["DeliveryStreamName"] == name
    assert d["DeliveryStreamARN"] == f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/{name}"
    assert d["DeliveryStreamStatus"] == "ACTIVE" and d["DeliveryStreamType"] == "DirectPut"
    assert d["VersionId"] == "1" and d["HasMoreDestinations"] is False
    assert before - timedelta(seconds=2) <= d["CreateTimestamp"] <= datetime.now(timezone.utc) + timedelta(seconds=2)
    assert "DirectPutSourceDescription" in d["Source"] and "KinesisStreamSourceDescription" not in d["Source"]
    assert "FailureDescription" not in d
    [dest] = d["Destinations"]
    assert dest["DestinationId"] == "destinationId-000000000001"
    s3d = dest["ExtendedS3DestinationDescription"]
    assert s3d["BucketARN"] == f"arn:aws:s3:::{bucket}" and s3d["RoleARN"] == ROLE
    assert s3d["Prefix"] == "data/!{timestamp:yyyy}/"
    assert s3d["ErrorOutputPrefix"] == "errors/!{firehose:error-output-type}/"
    assert s3d["BufferingHints"] == {"SizeInMBs": 3, "IntervalInSeconds": 120}
    assert s3d["CompressionFormat"] == "GZIP"
    assert s3d["ProcessingConfiguration"]["Enabled"] is True
    assert [p["Type"] for p in s3d["ProcessingConfiguration"]["Processors"]] == ["AppendDelimiterToRecord"]
    assert s3d["DynamicPartitioningConfiguration"] == {"Enabled": False}
    assert dest["S3DestinationDescription"]["BucketARN"] == f"arn:aws:s3:::{bucket}"


def test_describe_defaults_and_a_kinesis_source(fh, kinesis, stream_factory, bucket):
    """Unset BufferingHints default to 5 MiB / 300 s, CompressionFormat to UNCOMPRESSED
    (API_BufferingHints.html); a Kinesis source is described with its stream ARN."""
    source = stream_factory()
    arn = kinesis.describe_stream_summary(StreamName=source)["StreamDescriptionSummary"]["StreamARN"]
    name = unique("kdesc")
    fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="KinesisStreamAsSource",
                              KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
                              ExtendedS3DestinationConfiguration=destination(bucket))
    d = describe(fh, name)
    assert d["DeliveryStreamType"] == "KinesisStreamAsSource"
    source_description = d["Source"]["KinesisStreamSourceDescription"]
    assert source_description["KinesisStreamARN"] == arn
    assert isinstance(source_description["DeliveryStartTimestamp"], datetime)
    assert "DirectPutSourceDescription" not in d["Source"]
    s3d = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert s3d["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}
    assert s3d["CompressionFormat"] == "UNCOMPRESSED"


def test_list_delivery_streams_filters_and_pages(fh, kinesis, stream_factory, bucket):
    """API_ListDeliveryStreams.html: DeliveryStreamType filter, Limit, ExclusiveStartDeliveryStreamName,
    HasMoreDeliveryStreams; names in lexicographic order."""
    tag = unique("lst")
    direct = [create_direct(fh, bucket, f"{tag}-{c}") for c in "abc"]
    source = stream_factory()
    arn = kinesis.describe_stream_summary(StreamName=source)["StreamDescriptionSummary"]["StreamARN"]
    fh.create_delivery_stream(DeliveryStreamName=f"{tag}-k", DeliveryStreamType="KinesisStreamAsSource",
                              KinesisStreamSourceConfiguration={"KinesisStreamARN": arn, "RoleARN": ROLE},
                              ExtendedS3DestinationConfiguration=destination(bucket))

    def mine(**kwargs: Any) -> list[str]:
        return [n for n in fh.list_delivery_streams(Limit=10000, **kwargs)["DeliveryStreamNames"] if n.startswith(tag)]

    assert mine() == direct + [f"{tag}-k"]
    assert mine(DeliveryStreamType="DirectPut") == direct
    assert mine(DeliveryStreamType="KinesisStreamAsSource") == [f"{tag}-k"]
    page = fh.list_delivery_streams(Limit=1, ExclusiveStartDeliveryStreamName=direct[0])
    assert page["DeliveryStreamNames"] == [direct[1]] and page["HasMoreDeliveryStreams"] is True
    page = fh.list_delivery_streams(Limit=2, ExclusiveStartDeliveryStreamName=direct[1],
                                    DeliveryStreamType="DirectPut")
    assert page["DeliveryStreamNames"][0] == direct[2]
    everything = fh.list_delivery_streams(Limit=10000)
    assert everything["HasMoreDeliveryStreams"] is False
    assert everything["DeliveryStreamNames"] == sorted(everything["DeliveryStreamNames"])


def test_tags_add_replace_list_page_and_remove(fh, raw_fh, bucket):
    """API_TagDeliveryStream.html ("up to 50 tags"; a key that exists gets the new value),
    API_UntagDeliveryStream.html, API_ListTagsForDeliveryStream.html (Limit, ExclusiveStartTagKey)."""
    name = unique("tags")
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration=destination(bucket),
                              Tags=[{"Key": "team", "Value": "data"}, {"Key": "env", "Value": "test"}])

    def tags(**kwargs: Any) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in fh.list_tags_for_delivery_stream(DeliveryStreamName=name,
                                                                               **kwargs)["Tags"]}

    assert tags() == {"team": "data", "env": "test"}
    fh.tag_delivery_stream(DeliveryStreamName=name,
                           Tags=[{"Key": "env", "Value": "prod"}, {"Key": "cost", "Value": ""}])
    assert tags() == {"team": "data", "env": "prod", "cost": ""}
    fh.untag_delivery_stream(DeliveryStreamName=name, TagKeys=["team", "not-there"])
    assert tags() == {"env": "prod", "cost": ""}

    fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": f"k{i:02d}", "Value": str(i)} for i in range(48)])
    assert len(tags()) == 50
    first = fh.list_tags_for_delivery_stream(DeliveryStreamName=name, Limit=10)
    assert len(first["Tags"]) == 10 and first["HasMoreTags"] is True
    rest = fh.list_tags_for_delivery_stream(DeliveryStreamName=name, ExclusiveStartTagKey=first["Tags"][-1]["Key"])
    assert rest["HasMoreTags"] is False
    assert {t["Key"] for t in first["Tags"]} | {t["Key"] for t in rest["Tags"]} == set(tags())
    assert len(first["Tags"]) + len(rest["Tags"]) == 50

    with aws_error("InvalidArgumentException", "50 tags"):  # a 51st key
        fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": "one-too-many", "Value": "x"}])
    fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": "env", "Value": "again"}])  # replacing is fine
    assert len(tags()) == 50 and tags()["env"] == "again"
    with aws_error("ValidationException", "less than or equal to 50"):  # the model's list max, per request
        raw_fh.tag_delivery_stream(DeliveryStreamName=name, Tags=[{"Key": f"n{i}", "Value": "v"} for i in range(51)])


def test_delete_removes_the_stream_and_keeps_delivered_objects(server, fh, s3, bucket):
    """API_DeleteDeliveryStream.html; with no transition time it is gone at once. Objects already
    in the lake stay; the name can be used again and starts afresh."""
    name = create_direct(fh, bucket, Prefix="keep/")
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"before\n"})
    assert flush(server, name) == 200
    fh.delete_delivery_stream(DeliveryStreamName=name)
    assert_gone(fh, name)
    with aws_error("ResourceNotFoundException"):
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"x"})
    assert name not in fh.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    assert lines(s3, bucket) == [b"before"]

    create_direct(fh, bucket, name, Prefix="again/")
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"after\n"})
    assert flush(server, name) == 200
    assert lines(s3, bucket, "again/") == [b"after"], "a re-created stream must not replay the old records"


# -- UpdateDestination ------------------------------------------------------------------------------

def test_update_destination_bumps_the_version_in_object_names(server, fh, s3, bucket):
    """API_UpdateDestination.html: the configuration merges into the existing one, VersionId goes up
    by one; s3-object-name.html: "<Firehose stream version> begins with 1 and increases by 1 for
    every configuration change"; a stale CurrentDeliveryStreamVersionId is a ConcurrentModificationException."""
    name = create_direct(fh, bucket, Prefix="v1/", BufferingHints={"SizeInMBs": 2, "IntervalInSeconds": 100})
    fh.put_record(DeliveryStreamName=name, Record={"Data": b"one\n"})
    assert flush(server, name) == 200
    d = describe(fh, name)
    assert d["VersionId"] == "1" and "LastUpdateTimestamp" not in d

    fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                          DestinationId=d["Destinations"][0]["DestinationId"],
                          ExtendedS3DestinationUpdate={"Prefix": "v2/"})
    d = describe(fh, name)
    assert d["VersionId"] == "2" and isinstance(d["LastUpdateTimestamp"], datetime)
    s3d = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert s3d["Prefix"] == "v2/"
    assert s3d["BufferingHints"] == {"SizeInMBs": 2, "IntervalInSeconds": 100}, "unspecified members are kept"

    fh.put_record(DeliveryStreamName=name, Record={"Data": b"two\n"})
    assert flush(server, name) == 200
    [old] = keys(s3, bucket, "v1/")
    [new] = keys(s3, bucket, "v2/")
    assert f"/{name}-1-" in old and f"/{name}-2-" in new
    assert read(s3, bucket, new) == b"two\n"

    with aws_error("ConcurrentModificationException"):
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"Prefix": "stale/"})
    with aws_error("InvalidArgumentException", "destinationId-000000000009"):
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="2",
                              DestinationId="destinationId-000000000009",
                              ExtendedS3DestinationUpdate={"Prefix": "wrong-destination/"})
    with aws_error("InvalidArgumentException", "ErrorOutputPrefix cannot be null or empty"):
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="2",
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"Prefix": "v3/!{timestamp:yyyy}/"})
    assert describe(fh, name)["VersionId"] == "2", "refused updates change nothing"


# -- processing end to end --------------------------------------------------------------------------

def test_append_delimiter_to_record(server, fh, s3, bucket):
    """AppendDelimiterToRecord adds a newline after each record (dynamic-partitioning.html)."""
    name = create_direct(fh, bucket, ProcessingConfiguration={
        "Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]})
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b'{"n":%d}' % i} for i in range(3)])
    assert flush(server, name) == 200
    [key] = keys(s3, bucket)
    assert read(s3, bucket, key) == b'{"n":0}\n{"n":1}\n{"n":2}\n'


@pytest.mark.parametrize("fmt, extension", [
    ("UNCOMPRESSED", ""), ("GZIP", ".gz"), ("ZIP", ".zip"), ("Snappy", ".snappy"),
    # s3-object-name.html tables .hsnappy; the service writes .snappy (see compression.py).
    ("HADOOP_SNAPPY", ".snappy"),
])
def test_compression_formats(server, fh, s3, bucket, fmt, extension):
    """API_ExtendedS3DestinationConfiguration.html CompressionFormat; extensions per s3-object-name.html."""
    name = create_direct(fh, bucket, CompressionFormat=fmt, ProcessingConfiguration={
        "Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]})
    records = [b"line %d " % i + b"x" * 100 for i in range(50)]
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])
    assert flush(server, name) == 200
    [key] = keys(s3, bucket)
    assert re.fullmatch(r".*/" + re.escape(name) + "-1-" + STAMP + "-" + UUID + re.escape(extension), key), key
    body = read(s3, bucket, key)
    assert decompress(body, fmt) == b"".join(r + b"\n" for r in records)
    if fmt != "UNCOMPRESSED":
        assert len(body) < sum(map(len, records)), "compressed output should be smaller"
    if fmt == "GZIP":
        import gzip
        assert gzip.decompress(body) == b"".join(r + b"\n" for r in records)


DP_PREFIX = "by-customer/customer=!{partitionKeyFromQuery:customer}/"
DP_ERRORS = "dp-errors/!{firehose:error-output-type}/!{timestamp:yyyy}/"


def test_deaggregation_and_dynamic_partitioning_with_jq(server, fh, s3, bucket):
    """dynamic-partitioning.html: RecordDeAggregation (JSON) splits ``{..}{..}`` records, MetadataExtraction
    (jq 1.6) gives partition keys for ``!{partitionKeyFromQuery:..}``; records whose key cannot be
    extracted go under the error prefix (dynamic-partitioning-error-handling.html) with the error
    output type ``metadata-extraction-failed``, the one users report seeing."""
    name = create_direct(fh, bucket, Prefix=DP_PREFIX, ErrorOutputPrefix=DP_ERRORS,
                         BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
                         DynamicPartitioningConfiguration={"Enabled": True, "RetryOptions": {"DurationInSeconds": 0}},
                         ProcessingConfiguration={"Enabled": True, "Processors": [
                             {"Type": "RecordDeAggregation",
                              "Parameters": [{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}]},
                             {"Type": "MetadataExtraction", "Parameters": [
                                 {"ParameterName": "MetadataExtractionQuery",
                                  "ParameterValue": "{customer:.Customer_ID}"},
                                 {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
                             {"Type": "AppendDelimiterToRecord"}]})
    good = [b'{"Customer_ID":"12345","n":1}{"Customer_ID":"67890","n":2}', b'{"Customer_ID":"12345","n":3}']
    bad = [b"not json at all", b'{"n":4}']
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in good + bad])
    assert flush(server, name) == 200

    year = datetime.now(timezone.utc).year
    assert {k.rsplit("/", 1)[0] for k in keys(s3, bucket)} >= {"by-customer/customer=12345",
                                                               "by-customer/customer=67890"}
    assert lines(s3, bucket, "by-customer/customer=12345/") == [b'{"Customer_ID":"12345","n":1}',
                                                                 b'{"Customer_ID":"12345","n":3}']
    assert lines(s3, bucket, "by-customer/customer=67890/") == [b'{"Customer_ID":"67890","n":2}']
    [error_key] = keys(s3, bucket, "dp-errors/")
    assert re.fullmatch(rf"dp-errors/metadata-extraction-failed/({year}|{year - 1})/"
                        rf"{re.escape(name)}-1-{STAMP}-{UUID}", error_key), error_key
    errors = [json.loads(line) for line in read(s3, bucket, error_key).splitlines()]
    assert sorted(base64.b64decode(e["rawData"]) for e in errors) == sorted(bad)
    assert {e["errorCode"] for e in errors} == {"DynamicPartitioning.MetadataExtractionFailed"}
    assert all(e["attemptsMade"] >= 1 and e["arrivalTimestamp"] > 0 for e in errors)


def test_failed_transform_goes_under_the_default_error_prefix(server, fh, s3, bucket):
    """A Lambda processor whose function cannot be invoked fails its records: they land under
    ``<Prefix>processing-failed/YYYY/MM/dd/HH/`` when no ErrorOutputPrefix is given (s3-prefixes.html,
    data-transformation-failure-handling.html), with the raw data base64-encoded."""
    arn = "arn:aws:lambda:us-east-1:000000000000:function:no-such-transform"
    name = create_direct(fh, bucket, Prefix="raw/", ProcessingConfiguration={"Enabled": True, "Processors": [
        {"Type": "Lambda", "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": arn},
                                          {"ParameterName": "NumberOfRetries", "ParameterValue": "0"}]}]})
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"a"}, {"Data": b"b"}])
    assert flush(server, name) == 200
    [key] = keys(s3, bucket)
    assert re.fullmatch(r"raw/processing-failed/\d{4}/\d\d/\d\d/\d\d/" + re.escape(name) + "-1-" + STAMP + "-" + UUID,
                        key), key
    errors = [json.loads(line) for line in read(s3, bucket, key).splitlines()]
    assert [base64.b64decode(e["rawData"]) for e in errors] == [b"a", b"b"]
    assert all(e["lambdaArn"] == arn and e["errorCode"].startswith("Lambda.") for e in errors)


TRANSFORM_MODULE = """
import base64, json

def handler(event, context):
    assert context.function_name == "enrich" and context.get_remaining_time_in_millis() > 0
    out = []
    for record in event["records"]:
        doc = json.loads(base64.b64decode(record["data"]))
        if doc.get("action") == "drop":
            out.append({"recordId": record["recordId"], "result": "Dropped"})
        elif doc.get("action") == "fail":
            out.append({"recordId": record["recordId"], "result": "ProcessingFailed", "data": record["data"]})
        else:
            doc["seen"] = True
            out.append({"recordId": record["recordId"], "result": "Ok",
                        "data": base64.b64encode(json.dumps(doc).encode() + b"\\n").decode(),
                        "metadata": {"partitionKeys": {"team": doc["team"]}}})
    return {"records": out}
"""


def test_a_lambda_function_as_transform(tmp_path):
    """The Lambda processor runs a function created through the Lambda API, in its worker:
    ``Ok`` records are replaced and partitioned by ``!{partitionKeyFromLambda:..}``, ``Dropped`` ones
    vanish, ``ProcessingFailed`` ones land under ``processing-failed`` with
    ``Lambda.ProcessingFailedStatus`` (data-transformation.html, dynamic-partitioning.html)."""
    server = ServerProcess(tmp_path / "data").start()
    try:
        fh, s3 = server.client("firehose"), server.client("s3", s3={"addressing_style": "path"})
        s3.create_bucket(Bucket="transformed")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("fh_enrich.py", TRANSFORM_MODULE)
        arn = server.client("lambda").create_function(
            FunctionName="enrich", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
            Handler="fh_enrich.handler", Code={"ZipFile": code.getvalue()})["FunctionArn"]
        create_direct(fh, "transformed", "enriched", Prefix="team=!{partitionKeyFromLambda:team}/",
                      ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
                      BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
                      DynamicPartitioningConfiguration={"Enabled": True},
                      ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
                          {"ParameterName": "LambdaArn", "ParameterValue": arn}]}]})
        sent = [{"team": "a", "n": 1}, {"team": "b", "n": 2, "action": "drop"}, {"team": "b", "n": 3},
                {"team": "a", "n": 4, "action": "fail"}]
        fh.put_record_batch(DeliveryStreamName="enriched", Records=[{"Data": json.dumps(d).encode()} for d in sent])
        assert flush(server, "enriched") == 200
        assert [json.loads(x) for x in lines(s3, "transformed", "team=a/")] == [{"team": "a", "n": 1, "seen": True}]
        assert [json.loads(x) for x in lines(s3, "transformed", "team=b/")] == [{"team": "b", "n": 3, "seen": True}]
        [error_key] = keys(s3, "transformed", "errors/")
        assert error_key.startswith("errors/processing-failed/enriched-1-"), error_key
        [failed] = [json.loads(x) for x in read(s3, "transformed", error_key).splitlines()]
        assert failed["errorCode"] == "Lambda.ProcessingFailedStatus" and failed["lambdaArn"] == arn
        assert json.loads(base64.b64decode(failed["rawData"])) == sent[3]
    finally:
        server.stop()


def declare_schema(server: Any, database: str, table: str, columns: list[tuple[str, str]]) -> None:
    body = json.dumps({"columns": [{"name": n, "type": t} for n, t in columns]}).encode()
    request = urllib.request.Request(f"{server.url}/_tidelake/schemas/{database}/{table}", method="PUT", data=body)
    with urllib.request.urlopen(request) as answer:
        assert json.loads(answer.read()) == {"columns": len(columns)}


RETAIL_COLUMNS = [("invoice", "string"), ("stockcode", "string"), ("description", "string"), ("quantity", "int"),
                  ("invoicedate", "timestamp"), ("price", "double"), ("customer_id", "string"), ("country", "string")]


def test_parquet_conversion_with_a_declared_schema(server, fh, s3, bucket):
    """record-format-conversion.html: OpenX JSON in, Parquet out (``.parquet``, compression inside
    the file); a record that does not fit the schema goes under ``format-conversion-failed``
    (record-format-conversion-errors.html)."""
    table = unique("retail").replace("-", "_")
    declare_schema(server, "lakedb", table, RETAIL_COLUMNS)
    conversion = {**CONVERSION, "SchemaConfiguration": {"DatabaseName": "lakedb", "TableName": table, "RoleARN": ROLE}}
    name = create_direct(fh, bucket, Prefix="parquet/year=!{timestamp:yyyy}/",
                         ErrorOutputPrefix="parquet-errors/!{firehose:error-output-type}/",
                         BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
                         DataFormatConversionConfiguration=conversion)
    d = describe(fh, name)["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert d["DataFormatConversionConfiguration"]["SchemaConfiguration"]["TableName"] == table
    good = retail(30)
    bad = [b'{"Invoice":"1","Quantity":"many"}', b"{not json"]
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in good + bad])
    assert flush(server, name) == 200

    [key] = keys(s3, bucket, "parquet/")
    assert re.fullmatch(r"parquet/year=\d{4}/" + re.escape(name) + "-1-" + STAMP + "-" + UUID + r"\.parquet", key), key
    data = pq.read_table(io.BytesIO(read(s3, bucket, key)))
    assert data.num_rows == 30
    assert pa.types.is_timestamp(data.schema.field("invoicedate").type)
    assert pa.types.is_int32(data.schema.field("quantity").type)
    assert pa.types.is_float64(data.schema.field("price").type)
    rows = data.to_pylist()
    sent = [json.loads(r) for r in good]
    assert [r["invoice"] for r in rows] == [s["Invoice"] for s in sent]
    assert [r["quantity"] for r in rows] == [s["Quantity"] for s in sent]
    assert [r["invoicedate"].strftime("%Y-%m-%d %H:%M:%S") for r in rows] == [s["InvoiceDate"] for s in sent]

    [error_key] = keys(s3, bucket, "parquet-errors/")
    assert error_key.startswith("parquet-errors/format-conversion-failed/"), error_key
    errors = [json.loads(line) for line in read(s3, bucket, error_key).splitlines()]
    assert sorted(base64.b64decode(e["rawData"]) for e in errors) == sorted(bad)
    assert {e["lastErrorCode"] for e in errors} == {"DataFormatConversion.MalformedData",
                                                    "DataFormatConversion.ParseError"}
    assert {e["dataCatalogTable"]["tableName"] for e in errors} == {table}


# -- a failing destination --------------------------------------------------------------------------

def test_a_missing_bucket_loses_nothing_and_delivers_once_it_exists(server, fh, s3, bucket):
    """The bucket disappears: records stay in the delivery stream's backlog (data-delivery-failure
    handling: Firehose retries S3 delivery), the failure shows in DescribeDeliveryStream and in the
    metrics; once the bucket is back every record is delivered exactly once."""
    name = create_direct(fh, bucket, Prefix="orders/")
    first = [b"first-%d" % i for i in range(10)]
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r + b"\n"} for r in first])
    assert flush(server, name) == 200
    for key in keys(s3, bucket):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)
    try:
        second = [b"second-%d" % i for i in range(120)]
        for i in range(0, len(second), 40):
            fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r + b"\n"} for r in second[i:i + 40]])
        assert flush(server, name, timeout=1.5) == 504, "the flush cannot complete without a bucket"

        failure = describe(fh, name)["FailureDescription"]
        assert failure["Type"] in MODEL.shape_for("DeliveryStreamFailureType").enum
        assert bucket in failure["Details"]
        samples = metrics(server)
        assert metric(samples, "write_failures", name, error="BucketNotFound") >= 1
        assert metric(samples, "backlog_records", name) == len(second)
        assert metric(samples, "oldest_undelivered_age_seconds", name) > 0
        assert metric(samples, "delivered_records", name) == len(first)
    finally:
        s3.create_bucket(Bucket=bucket)
    assert flush(server, name, timeout=60) == 200
    assert Counter(lines(s3, bucket)) == Counter(second), "every record exactly once"
    d = describe(fh, name)
    assert "FailureDescription" not in d, "delivering again clears the failure"
    samples = metrics(server)
    assert metric(samples, "backlog_records", name) == 0
    assert metric(samples, "delivered_records", name) == len(first) + len(second)


# -- metrics -----------------------------------------------------------------------------------------

def test_metrics_count_what_is_received_delivered_and_failed(server, fh, s3, bucket):
    """GET /_tidelake/metrics (Prometheus text): counters per delivery stream move with deliveries."""
    name = create_direct(fh, bucket, Prefix="m/!{partitionKeyFromQuery:k}/", ErrorOutputPrefix=DP_ERRORS,
                         BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 900},
                         DynamicPartitioningConfiguration={"Enabled": True},
                         ProcessingConfiguration={"Enabled": True, "Processors": [
                             {"Type": "MetadataExtraction", "Parameters": [
                                 {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{k:.k}"},
                                 {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]})
    samples = metrics(server)
    assert metric(samples, "incoming_records", name) == 0 and metric(samples, "delivered_objects", name) == 0
    records = [b'{"k":"a"}', b'{"k":"b"}', b'{"k":"a"}', b"oops"]
    fh.put_record_batch(DeliveryStreamName=name, Records=[{"Data": r} for r in records])
    samples = metrics(server)
    assert metric(samples, "incoming_records", name) == 4
    assert metric(samples, "incoming_bytes", name) == sum(map(len, records))
    assert metric(samples, "delivered_records", name) == 0

    assert flush(server, name) == 200
    samples = metrics(server)
    assert metric(samples, "delivered_records", name) == 3
    assert metric(samples, "delivered_objects", name) == 2  # k=a and k=b
    assert metric(samples, "delivered_bytes", name) == sum(len(read(s3, bucket, k)) for k in keys(s3, bucket, "m/"))
    assert metric(samples, "failed_records", name, type="metadata-extraction-failed") == 1
    assert metric(samples, "backlog_records", name) == 0

    fh.put_record(DeliveryStreamName=name, Record={"Data": b'{"k":"c"}'})
    assert flush(server, name) == 200
    samples = metrics(server)
    assert metric(samples, "incoming_records", name) == 5 and metric(samples, "delivered_records", name) == 4


# -- the compatibility table ---------------------------------------------------------------------------

def test_docs_table_covers_every_operation_of_the_model():
    """docs/firehose.md has one row per operation of botocore's Firehose model, and says "supported"
    exactly for the operations FirehoseApi implements."""
    from pathlib import Path

    from botocore import xform_name

    from tidelake.aws.firehose import FirehoseApi
    text = (Path(__file__).parents[2] / "docs" / "firehose.md").read_text()
    rows = dict(re.findall(r"^\| (\w+) \| (supported|not supported)[^|]*\|", text, re.MULTILINE))
    assert sorted(rows) == sorted(MODEL.operation_names)
    for operation, status in rows.items():
        assert (status == "supported") == hasattr(FirehoseApi, xform_name(operation)), operation
