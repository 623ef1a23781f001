"""DeliveryService in-process: buffering, object keys, processors, failures, and exactly-once redo."""
from __future__ import annotations

import gzip
import io
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson
import pyarrow.parquet as pq
import pytest

from tidelake.clock import SystemClock
from tidelake.config import Settings
from tidelake.delivery.assemble import assemble
from tidelake.delivery.convert import Column, TableSchema
from tidelake.delivery.models import BufferingHints, FormatConversion, Processor, S3Destination
from tidelake.delivery.service import DeliveryService
from tidelake.errors import InvalidArgument
from tidelake.lake.errors import ObjectStoreUnavailable
from tidelake.lake.objects import LocalObjectStore
from tidelake.stream.store import StreamStore

WORKSHOP_PREFIX = "json-data/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
WORKSHOP_ERRORS = ("error-json/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
                   "hour=!{timestamp:HH}/!{firehose:error-output-type}")
OBJECT_NAME = re.compile(r"(?P<name>[\w.-]+)-(?P<version>\d+)-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-"
                         r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?P<ext>\.\w+)?$")


class Lake:
    """The pieces a delivery service needs, opened on one data dir (re-openable: a restart)."""

    def __init__(self, data_dir: Path, objects: Any = None) -> None:
        self.settings = Settings(data_dir=data_dir, transition_seconds=0)
        self.streams = StreamStore.open(self.settings, SystemClock())
        self.objects = objects or LocalObjectStore(data_dir / "lake")
        self.delivery = DeliveryService(self.settings, SystemClock(), self.streams, self.objects, self.transform)
        self.functions: dict[str, Callable[[dict], Any]] = {}

    def transform(self, arn: str, event: dict) -> Any:
        return self.functions[arn](event)

    def start(self) -> "Lake":
        self.delivery.start()
        return self

    def close(self) -> None:
        self.delivery.close()
        self.streams.close()

    def keys(self, bucket: str = "lake", prefix: str = "") -> list[str]:
        return [o.key for o in self.objects.list_objects(bucket, prefix=prefix, max_keys=1000).objects]

    def read(self, key: str, bucket: str = "lake") -> bytes:
        return self.objects.get_object(bucket, key)[1]


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    lake = Lake(tmp_path / "data").start()
    lake.objects.create_bucket("lake")
    yield lake
    lake.close()


def destination(**overrides: Any) -> S3Destination:
    return S3Destination(**{"bucket": "lake", "buffering_hints": BufferingHints(1, 0), **overrides})


def test_direct_put_lands_under_the_default_time_prefix(lake):
    lake.delivery.create_delivery_stream("direct", destination(prefix="raw/"))
    lake.delivery.put_record_batch("direct", [b"a\n", b"b\n"])
    assert lake.delivery.flush("direct", timeout=30)
    [key] = lake.keys()
    assert re.match(r"raw/\d{4}/\d\d/\d\d/\d\d/direct-1-", key), key
    assert OBJECT_NAME.search(key.rsplit("/", 1)[1]).group("ext") is None
    assert lake.read(key) == b"a\nb\n"


def test_kinesis_source_with_the_workshop_prefixes(lake):
    lake.streams.create_stream("retail-trans", 2)
    lake.delivery.create_delivery_stream("retail-trans", destination(
        prefix=WORKSHOP_PREFIX, error_output_prefix=WORKSHOP_ERRORS, processing_enabled=True,
        processors=[Processor("AppendDelimiterToRecord")]), source_stream="retail-trans")
    records = [orjson.dumps({"Invoice": str(i), "Quantity": i}) for i in range(1000)]
    lake.streams.put_records("retail-trans", records, [str(i) for i in range(1000)])
    assert lake.delivery.flush("retail-trans", timeout=30)
    keys = lake.keys(prefix="json-data/")
    assert keys and all(re.match(r"json-data/year=\d{4}/month=\d\d/day=\d\d/hour=\d\d/retail-trans-1-", k) for k in keys)
    lines = b"".join(lake.read(k) for k in keys).splitlines()
    assert sorted(lines) == sorted(records)
    metrics = lake.delivery.metrics("retail-trans")
    assert metrics.incoming_records == metrics.delivered_records == 1000
    assert metrics.backlog_records == 0


def test_size_buffering_splits_objects_and_gzip_extension(lake):
    lake.delivery.create_delivery_stream("big", destination(buffering_hints=BufferingHints(1, 900),
                                                            compression_format="GZIP"))
    payload = b"x" * 1000 + b"\n"
    for _ in range(6):
        lake.delivery.put_record_batch("big", [payload] * 500)  # 6 x ~0.5 MiB
    assert lake.delivery.flush("big", timeout=60)
    keys = lake.keys()
    assert len(keys) >= 3 and all(k.endswith(".gz") for k in keys)
    assert sum(gzip.decompress(lake.read(k)).count(b"\n") for k in keys) == 3000


def test_parquet_conversion_routes_bad_records_to_the_error_prefix(lake):
    lake.delivery.register_schema("db", "sales", TableSchema((Column("invoice", "string"), Column("quantity", "int"),
                                                              Column("invoicedate", "timestamp"))))
    schema = lake.delivery.resolve_schema("db", "sales")
    lake.delivery.create_delivery_stream("parquet", destination(
        prefix="parquet/!{timestamp:yyyy}/", error_output_prefix="errors/!{firehose:error-output-type}/",
        format_conversion=FormatConversion(schema, database_name="db", table_name="sales")))
    good = [orjson.dumps({"Invoice": "1", "Quantity": 3, "InvoiceDate": "2026-11-23 09:03:45"})]
    lake.delivery.put_record_batch("parquet", good + [b"not json"])
    assert lake.delivery.flush("parquet", timeout=30)
    [data_key] = lake.keys(prefix="parquet/")
    assert data_key.endswith(".parquet")
    table = pq.read_table(io.BytesIO(lake.read(data_key)))
    assert table.column_names == ["invoice", "quantity", "invoicedate"]
    assert table.to_pylist()[0]["invoice"] == "1" and table.to_pylist()[0]["quantity"] == 3
    [error_key] = lake.keys(prefix="errors/format-conversion-failed/")
    error = orjson.loads(lake.read(error_key).splitlines()[0])
    assert error["lastErrorCode"].startswith("DataFormatConversion")
    assert error["dataCatalogTable"]["tableName"] == "sales"


def test_transform_ok_dropped_and_failed(lake):
    import base64

    def upper(event: dict) -> dict:
        out = []
        for r in event["records"]:
            data = base64.b64decode(r["data"])
            result = "Dropped" if data == b"drop" else "ProcessingFailed" if data == b"fail" else "Ok"
            out.append({"recordId": r["recordId"], "result": result,
                        "data": base64.b64encode(data.upper() + b"\n").decode()})
        return {"records": out}
    arn = "arn:aws:lambda:us-east-1:000000000000:function:upper"
    lake.functions[arn] = upper
    lake.delivery.create_delivery_stream("transformed", destination(
        prefix="t/", processing_enabled=True, processors=[Processor("Lambda", {"LambdaArn": arn})]))
    lake.delivery.put_record_batch("transformed", [b"keep", b"drop", b"fail"])
    assert lake.delivery.flush("transformed", timeout=30)
    [data_key] = [k for k in lake.keys(prefix="t/") if "processing-failed" not in k]
    assert lake.read(data_key) == b"KEEP\n"
    [failed_key] = lake.keys(prefix="t/processing-failed/")
    failed = orjson.loads(lake.read(failed_key).splitlines()[0])
    assert base64.b64decode(failed["rawData"]) == b"fail"
    assert failed["lambdaArn"] == arn


def test_dynamic_partitioning_with_jq(lake):
    lake.delivery.create_delivery_stream("by-country", destination(
        prefix="country=!{partitionKeyFromQuery:country}/", error_output_prefix="err/!{firehose:error-output-type}/",
        buffering_hints=BufferingHints(64, 60), dynamic_partitioning=True, processing_enabled=True,
        processors=[Processor("MetadataExtraction", {"MetadataExtractionQuery": "{country:.Country}",
                                                     "JsonParsingEngine": "JQ-1.6"}),
                    Processor("AppendDelimiterToRecord")]))
    rows = [{"Country": c, "n": i} for i, c in enumerate(["France", "Spain", "France"])]
    lake.delivery.put_record_batch("by-country", [orjson.dumps(r) for r in rows] + [b"{}"])
    assert lake.delivery.flush("by-country", timeout=30)
    france = [k for k in lake.keys(prefix="country=France/")]
    assert len(france) == 1 and lake.read(france[0]).count(b"\n") == 2
    assert len(lake.keys(prefix="country=Spain/")) == 1
    assert lake.keys(prefix="err/")  # the record without a Country


def test_update_destination_bumps_the_version_in_object_names(lake):
    lake.delivery.create_delivery_stream("versioned", destination(prefix="v/"))
    updated = lake.delivery.update_destination("versioned", 1, destination(prefix="v/"))
    assert updated.version_id == 2
    lake.delivery.put_record_batch("versioned", [b"x"])
    assert lake.delivery.flush("versioned", timeout=30)
    [key] = lake.keys()
    assert OBJECT_NAME.search(key.rsplit("/", 1)[1]).group("version") == "2"


def test_invalid_configurations_are_refused(lake):
    with pytest.raises(InvalidArgument):
        lake.delivery.create_delivery_stream("bad", destination(prefix="a/!{timestamp:yyyy}/"))  # no error prefix
    with pytest.raises(InvalidArgument):
        lake.delivery.create_delivery_stream("bad", destination(buffering_hints=BufferingHints(129, 0)))


class FlakyStore:
    """The lake is down for the first ``failures`` writes."""

    def __init__(self, inner: LocalObjectStore, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def put_object(self, bucket: str, key: str, data: bytes, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise ObjectStoreUnavailable("the endpoint is down")
        return self.inner.put_object(bucket, key, data, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_destination_down_keeps_the_backlog_and_delivers_later(tmp_path):
    inner = LocalObjectStore(tmp_path / "data" / "lake")
    inner.create_bucket("lake")
    lake = Lake(tmp_path / "data", FlakyStore(inner, failures=2)).start()
    try:
        lake.delivery.create_delivery_stream("flaky", destination())
        lake.delivery.put_record_batch("flaky", [b"1", b"2"])
        assert lake.delivery.flush("flaky", timeout=30)
        assert [lake.read(k) for k in lake.keys()] == [b"12"]
        assert sum(lake.delivery.metrics("flaky").write_failures.values()) == 2
    finally:
        lake.close()


def test_an_interrupted_flush_is_redone_once_after_restart(tmp_path):
    lake = Lake(tmp_path / "data").start()
    lake.objects.create_bucket("lake")
    lake.streams.create_stream("src", 2)
    lake.delivery.create_delivery_stream("once", destination(buffering_hints=BufferingHints(1, 900)),
                                         source_stream="src")
    records = [f"{i}\n".encode() for i in range(200)]
    lake.streams.put_records("src", records, [str(i) for i in range(200)])
    stream = lake.delivery.describe_delivery_stream("once")
    lake.close()

    # A crash after step 1 (intent) and part of step 2 (one object written), before step 3.
    lake = Lake(tmp_path / "data")
    source = lake.streams.describe_stream("src")
    ranges = {s.shard_id: (s.start_counter, lake.streams.describe_stream("src").next_counter) for s in source.shards}
    lake.delivery.save_intent("once", ranges)
    data = []
    for s in source.shards:
        data.extend(lake.streams.read_shard("src", s.index, 0, 10_000)[0])
    by_shard = sorted(data, key=lambda r: (int(r.sequence_number[40:48]), r.sequence_number))
    batch_id = ";".join(f"{k}:{a}-{b}" for k, (a, b) in sorted(ranges.items()))
    first = assemble(stream, [r.data for r in by_shard], [r.approximate_arrival_timestamp for r in by_shard],
                     batch_id, 0.0)
    lake.objects.put_object("lake", first[0].key, first[0].body)
    lake.start()
    assert lake.delivery.flush("once", timeout=30)
    delivered = b"".join(lake.read(k) for k in lake.keys())
    assert sorted(delivered.splitlines(keepends=True)) == sorted(records)  # every record once, none twice
    assert lake.delivery.load_intent("once") == {}
    lake.close()


def test_partitions_past_the_active_limit_go_to_the_error_prefix(lake, monkeypatch):
    from tidelake.delivery import assemble as assemble_module
    monkeypatch.setattr(assemble_module, "ACTIVE_PARTITION_LIMIT", 2)
    lake.delivery.create_delivery_stream("many", destination(
        prefix="k=!{partitionKeyFromQuery:k}/", error_output_prefix="err/!{firehose:error-output-type}/",
        buffering_hints=BufferingHints(64, 60), dynamic_partitioning=True, processing_enabled=True,
        processors=[Processor("MetadataExtraction", {"MetadataExtractionQuery": "{k:.k}",
                                                     "JsonParsingEngine": "JQ-1.6"})]))
    lake.delivery.put_record_batch("many", [orjson.dumps({"k": k}) for k in "abc"])
    assert lake.delivery.flush("many", timeout=30)
    assert len(lake.keys(prefix="k=")) == 2
    [over] = lake.keys(prefix="err/activePartitionExceeded/")
    assert orjson.loads(lake.read(over))["errorCode"] == "DynamicPartitioning.ActivePartitionsLimitExceeded"


def test_an_unexpected_failure_is_retried_from_the_checkpoints(lake, monkeypatch):
    from tidelake.delivery import worker as worker_module
    real = worker_module.assemble
    calls = {"n": 0}

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in a processor")
        return real(*args, **kwargs)
    monkeypatch.setattr(worker_module, "assemble", failing_once)
    monkeypatch.setattr(worker_module, "MAX_BACKOFF_SECONDS", 0.1)
    lake.delivery.create_delivery_stream("fragile", destination(prefix="f/"))
    lake.delivery.put_record_batch("fragile", [b"1", b"2"])
    assert lake.delivery.flush("fragile", timeout=30)
    assert [lake.read(k) for k in lake.keys(prefix="f/")] == [b"12"]
    assert lake.delivery.metrics("fragile").write_failures == {"RuntimeError": 1}
