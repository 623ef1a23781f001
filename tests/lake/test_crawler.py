"""Crawlers in-process: classification, grouping into tables, partitions, policies, runs, schedules.

Behaviour pinned by the Glue developer guide (docs.aws.amazon.com/glue/latest/dg/): built-in
classifiers (add-classifier.html: Parquet reads the footer, CSV's header rule), "How does a crawler
determine when to create partitions?" (crawler-s3-folder-table-partition.html), SchemaChangePolicy
(API_SchemaChangePolicy.html) and incremental crawls (incremental-crawls.html).
"""
from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any, Iterator

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tidelake.clock import ManualClock
from tidelake.errors import InvalidArgument
from tidelake.lake.catalog.classifiers import merge_types
from tidelake.lake.catalog.crawler import (Crawler, CrawlerService, CrawlerTargets, RecrawlPolicy, S3Target, Schedule,
                                           SchemaChangePolicy, cron_schedule, next_run)
from tidelake.lake.catalog.errors import (CrawlerAlreadyExists, CrawlerNotFound, CrawlerNotRunning, CrawlerRunning,
                                          InvalidCrawler, TableNotFound)
from tidelake.lake.catalog.models import LAZY_SIMPLE_SERDE, OPENX_JSON_SERDE, PARQUET_SERDE
from tidelake.lake.catalog.store import Catalog
from tidelake.lake.local_store import LocalObjectStore

BUCKET = "lake"
WORKSHOP = [{"Invoice": "536365", "StockCode": "85123A", "Description": "WHITE HANGING HEART T-LIGHT HOLDER",
             "Quantity": 6, "InvoiceDate": "2026-11-23 10:26:00", "Price": 2.55, "Customer_ID": "17850",
             "Country": "United Kingdom"},
            {"Invoice": "536366", "StockCode": "22633", "Description": "HAND WARMER UNION JACK", "Quantity": 12,
             "InvoiceDate": "2026-11-23 10:28:00", "Price": 1, "Customer_ID": None, "Country": "France"}]


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    s = LocalObjectStore(tmp_path / "lake", fsync=False)
    s.create_bucket(BUCKET)
    return s


@pytest.fixture
def catalog(tmp_path: Path, clock: ManualClock) -> Iterator[Catalog]:
    cat = Catalog(tmp_path / "catalog" / "catalog.db", clock, "000000000000")
    yield cat
    cat.close()


@pytest.fixture
def crawlers(tmp_path: Path, catalog: Catalog, store: LocalObjectStore, clock: ManualClock) -> Iterator[CrawlerService]:
    service = CrawlerService(tmp_path / "catalog" / "crawlers.db", catalog, store, clock)
    yield service
    service.close()


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def crawler(name: str = "retail", path: str = f"s3://{BUCKET}/json-data/", **kwargs: Any) -> Crawler:
    exclusions = kwargs.pop("exclusions", [])
    return Crawler(name, role="arn:aws:iam::000000000000:role/glue", database_name="lake",
                   targets=CrawlerTargets([S3Target(path, exclusions)]), **kwargs)


def crawl(crawlers: CrawlerService, definition: Crawler | None = None, name: str = "retail") -> Crawler:
    if definition is not None:
        crawlers.create_crawler(definition)
    crawlers.start_crawler(name)
    done = crawlers.wait(name, timeout=30)
    assert done.state == "READY" and done.last_crawl is not None
    assert done.last_crawl.status == "SUCCEEDED", done.last_crawl.error_message
    return done


def columns(catalog: Catalog, table: str) -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in catalog.get_table("lake", table).storage_descriptor.columns]


def test_workshop_json_lines_become_one_partitioned_table(crawlers, catalog, store):
    for hour in ("10", "11"):
        store.put_object(BUCKET, f"json-data/year=2026/month=11/day=23/hour={hour}/part-0001.json", jsonl(WORKSHOP))
    store.put_object(BUCKET, "json-data/year=2026/month=11/day=23/hour=10/_SUCCESS", b"")
    crawl(crawlers, crawler())
    table = catalog.get_table("lake", "json_data")
    assert columns(catalog, "json_data") == [
        ("invoice", "string"), ("stockcode", "string"), ("description", "string"), ("quantity", "int"),
        ("invoicedate", "string"), ("price", "double"), ("customer_id", "string"), ("country", "string")]
    assert [(k.name, k.type) for k in table.partition_keys] == [(k, "string") for k in ("year", "month", "day", "hour")]
    sd = table.storage_descriptor
    assert sd.location == f"s3://{BUCKET}/json-data/"
    assert sd.serde_info.serialization_library == OPENX_JSON_SERDE
    assert sd.input_format == "org.apache.hadoop.mapred.TextInputFormat"
    assert table.parameters["classification"] == "json" and table.parameters["UPDATED_BY_CRAWLER"] == "retail"
    partitions = catalog.get_partitions("lake", "json_data")
    assert [p.values for p in partitions] == [["2026", "11", "23", "10"], ["2026", "11", "23", "11"]]
    assert partitions[0].storage_descriptor.location == f"s3://{BUCKET}/json-data/year=2026/month=11/day=23/hour=10/"
    metrics = crawlers.get_crawler_metrics(["retail"])[0]
    assert (metrics.tables_created, metrics.tables_updated, metrics.tables_deleted) == (1, 0, 0)


def test_type_merging_across_records_and_files():
    assert merge_types("int", "bigint") == "bigint"
    assert merge_types("bigint", "double") == "double"
    assert merge_types("int", "string") == "string"
    assert merge_types("null", "boolean") == "boolean"
    assert merge_types(("struct", (("a", "int"),)), ("struct", (("b", "string"),))) == \
        ("struct", (("a", "int"), ("b", "string")))


def test_nested_json_and_types_merged_across_files(crawlers, catalog, store):
    store.put_object(BUCKET, "events/a.json", jsonl([{"id": 1, "v": 1, "ok": True, "tags": ["x"],
                                                      "geo": {"lat": 1.5}}]))
    store.put_object(BUCKET, "events/b.json", jsonl([{"id": 2 ** 40, "v": 2.5, "ok": False, "tags": [],
                                                      "geo": {"lat": 2, "city": "Oslo"}}]))
    crawl(crawlers, crawler(path=f"s3://{BUCKET}/events"))
    assert columns(catalog, "events") == [("id", "bigint"), ("v", "double"), ("ok", "boolean"),
                                          ("tags", "array<string>"), ("geo", "struct<lat:double,city:string>")]
    assert catalog.get_table("lake", "events").partition_keys == []


def test_csv_with_header_and_delimiter(crawlers, catalog, store):
    store.put_object(BUCKET, "csv/sales/2026/a.csv",
                     b"id|name|price|ok|at\n1|apple|1.5|true|2026-11-23 10:00:00\n2|pear|2|false|2026-11-23 11:00:00\n")
    crawl(crawlers, crawler(path=f"s3://{BUCKET}/csv/sales/"))
    table = catalog.get_table("lake", "sales")
    assert columns(catalog, "sales") == [("id", "bigint"), ("name", "string"), ("price", "double"),
                                         ("ok", "boolean"), ("at", "timestamp")]
    assert table.storage_descriptor.serde_info.serialization_library == LAZY_SIMPLE_SERDE
    assert table.storage_descriptor.serde_info.parameters == {"field.delim": "|"}
    assert table.parameters["skip.header.line.count"] == "1" and table.parameters["classification"] == "csv"
    # A non-Hive folder level becomes partition_0.
    assert [k.name for k in table.partition_keys] == ["partition_0"]
    assert [p.values for p in catalog.get_partitions("lake", "sales")] == [["2026"]]


def test_csv_of_only_strings_has_no_header(crawlers, catalog, store):
    # add-classifier.html: when every column is a string, the first row is not taken as a header.
    store.put_object(BUCKET, "names/a.csv", b"first,last\nada,lovelace\nalan,turing\n")
    crawl(crawlers, crawler(path=f"s3://{BUCKET}/names/"))
    assert columns(catalog, "names") == [("col0", "string"), ("col1", "string")]
    assert "skip.header.line.count" not in catalog.get_table("lake", "names").parameters


class CountingStore(LocalObjectStore):
    """Records the byte ranges read, to show Parquet sampling reads only the footer."""
    ranges: list[Any] = []

    def get_object(self, bucket, key, byte_range=None):  # type: ignore[override]
        self.ranges.append((key, byte_range))
        return super().get_object(bucket, key, byte_range)


def test_parquet_schema_from_the_footer_only(tmp_path, catalog, clock):
    store = CountingStore(tmp_path / "plake", fsync=False)
    store.create_bucket(BUCKET)
    table = pa.table({"id": pa.array(range(200_000), pa.int64()), "name": [f"name-{i}" for i in range(200_000)],
                      "price": pa.array([1.5] * 200_000, pa.float32()),
                      "tags": [["a"]] * 200_000})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="none", use_dictionary=False)
    data = buffer.getvalue()
    assert len(data) > 2 * 1024 * 1024
    store.put_object(BUCKET, "parquet/dt=2026-11-23/part-0.parquet", data)
    service = CrawlerService(tmp_path / "c.db", catalog, store, clock)
    try:
        crawl(service, crawler(path=f"s3://{BUCKET}/parquet/"))
    finally:
        service.close()
    assert columns(catalog, "parquet") == [("id", "bigint"), ("name", "string"), ("price", "float"),
                                           ("tags", "array<string>")]
    t = catalog.get_table("lake", "parquet")
    assert t.storage_descriptor.serde_info.serialization_library == PARQUET_SERDE
    assert [k.name for k in t.partition_keys] == ["dt"]
    read = [r for k, r in store.ranges if k.endswith(".parquet")]
    assert read and all(r is not None and r[0] > len(data) - 100_000 for r in read)  # only the footer


def test_incompatible_sibling_folders_become_two_tables(crawlers, catalog, store):
    store.put_object(BUCKET, "root/orders/a.json", jsonl([{"order_id": 1, "total": 2.5, "customer": "c"}]))
    store.put_object(BUCKET, "root/products/a.json", jsonl([{"sku": "x", "name": "n", "weight": 1}]))
    crawl(crawlers, crawler(path=f"s3://{BUCKET}/root/", table_prefix="raw_"))
    names = [t.name for t in catalog.list_tables("lake")]
    assert names == ["raw_orders", "raw_products"]
    assert catalog.get_table("lake", "raw_orders").storage_descriptor.location == f"s3://{BUCKET}/root/orders/"


def test_compatible_sibling_folders_become_partitions(crawlers, catalog, store):
    store.put_object(BUCKET, "root/a/x.json", jsonl([{"k": 1, "v": "a", "w": 1.5}]))
    store.put_object(BUCKET, "root/b/x.json", jsonl([{"k": 2, "v": "b", "w": 2, "extra": True}]))
    crawl(crawlers, crawler(path=f"s3://{BUCKET}/root/"))
    assert [t.name for t in catalog.list_tables("lake")] == ["root"]
    assert [p.values for p in catalog.get_partitions("lake", "root")] == [["a"], ["b"]]
    assert columns(catalog, "root") == [("k", "int"), ("v", "string"), ("w", "double"), ("extra", "boolean")]


def test_combine_compatible_schemas_groups_dissimilar_folders(crawlers, catalog, store):
    store.put_object(BUCKET, "root/orders/a.json", jsonl([{"order_id": 1}]))
    store.put_object(BUCKET, "root/products/a.json", jsonl([{"sku": "x"}]))
    crawl(crawlers, crawler(path=f"s3://{BUCKET}/root/", configuration=orjson.dumps(
        {"Version": 1.0, "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"}}).decode()))
    assert [t.name for t in catalog.list_tables("lake")] == ["root"]
    assert columns(catalog, "root") == [("order_id", "int"), ("sku", "string")]


def test_exclusions(crawlers, catalog, store):
    store.put_object(BUCKET, "json-data/year=2026/a.json", jsonl(WORKSHOP))
    store.put_object(BUCKET, "json-data/year=2025/a.json", jsonl(WORKSHOP))
    store.put_object(BUCKET, "json-data/year=2026/notes.txt", b"free text, not data\n")
    crawl(crawlers, crawler(exclusions=["year=2025/**", "**.txt"]))
    assert [p.values for p in catalog.get_partitions("lake", "json_data")] == [["2026"]]


def test_schema_change_update_in_database_vs_log(crawlers, catalog, store):
    store.put_object(BUCKET, "json-data/day=1/a.json", jsonl([{"a": 1, "b": "x"}]))
    crawl(crawlers, crawler(schema_change_policy=SchemaChangePolicy("LOG", "LOG")))
    store.put_object(BUCKET, "json-data/day=2/a.json", jsonl([{"a": 1.5, "b": "x", "c": True}]))
    crawl(crawlers)
    assert columns(catalog, "json_data") == [("a", "int"), ("b", "string")]  # LOG: definition kept...
    assert [p.values for p in catalog.get_partitions("lake", "json_data")] == [["1"], ["2"]]  # ...partitions added
    assert crawlers.get_crawler_metrics(["retail"])[0].tables_updated == 0
    crawlers.update_crawler("retail", schema_change_policy=SchemaChangePolicy("UPDATE_IN_DATABASE", "LOG"))
    crawl(crawlers)
    assert columns(catalog, "json_data") == [("a", "double"), ("b", "string"), ("c", "boolean")]
    assert crawlers.get_crawler_metrics(["retail"])[0].tables_updated == 1
    assert catalog.get_table("lake", "json_data").version_id == "1"


@pytest.mark.parametrize("behavior", ["DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE", "LOG"])
def test_delete_behaviors(crawlers, catalog, store, clock, behavior):
    store.put_object(BUCKET, "root/orders/day=1/a.json", jsonl([{"order_id": 1, "total": 2.5}]))
    store.put_object(BUCKET, "root/orders/day=2/a.json", jsonl([{"order_id": 2, "total": 3.5}]))
    store.put_object(BUCKET, "root/products/a.json", jsonl([{"sku": "x", "name": "n"}]))
    crawl(crawlers, crawler(path=f"s3://{BUCKET}/root/",
                            schema_change_policy=SchemaChangePolicy("UPDATE_IN_DATABASE", behavior)))
    store.delete_object(BUCKET, "root/products/a.json")
    store.delete_object(BUCKET, "root/orders/day=2/a.json")
    crawl(crawlers)
    orders = [p.values for p in catalog.get_partitions("lake", "orders")]
    metrics = crawlers.get_crawler_metrics(["retail"])[0]
    if behavior == "DELETE_FROM_DATABASE":
        with pytest.raises(TableNotFound):
            catalog.get_table("lake", "products")
        assert orders == [["1"]] and metrics.tables_deleted == 1
    elif behavior == "DEPRECATE_IN_DATABASE":
        assert catalog.get_table("lake", "products").parameters["DEPRECATED_BY_CRAWLER"] == str(int(clock.now()))
        assert orders == [["1"], ["2"]] and metrics.tables_deleted == 1
    else:
        assert "DEPRECATED_BY_CRAWLER" not in catalog.get_table("lake", "products").parameters
        assert orders == [["1"], ["2"]] and metrics.tables_deleted == 0


def test_crawl_new_folders_only(crawlers, catalog, store):
    store.put_object(BUCKET, "json-data/month=10/a.json", jsonl([{"a": 1}]))
    with pytest.raises(InvalidCrawler):  # Glue: incremental crawls need LOG / LOG
        crawlers.create_crawler(crawler(recrawl_policy=RecrawlPolicy("CRAWL_NEW_FOLDERS_ONLY")))
    crawl(crawlers, crawler(recrawl_policy=RecrawlPolicy("CRAWL_NEW_FOLDERS_ONLY"),
                            schema_change_policy=SchemaChangePolicy("LOG", "LOG")))
    store.put_object(BUCKET, "json-data/month=11/a.json", jsonl([{"a": 1, "b": "new column"}]))
    store.put_object(BUCKET, "json-data/month=10/b.json", b"this file is in an old folder and never read\n")
    store.delete_object(BUCKET, "json-data/month=10/a.json")
    crawl(crawlers)
    assert [p.values for p in catalog.get_partitions("lake", "json_data")] == [["10"], ["11"]]
    assert columns(catalog, "json_data") == [("a", "int")]


def test_errors_and_lifecycle(crawlers, store):
    crawlers.create_crawler(crawler())
    with pytest.raises(CrawlerAlreadyExists):
        crawlers.create_crawler(crawler())
    with pytest.raises(CrawlerNotFound):
        crawlers.get_crawler("nope")
    with pytest.raises(CrawlerNotRunning):
        crawlers.stop_crawler("retail")
    with pytest.raises(InvalidArgument):
        crawlers.create_crawler(crawler("bad", path="/not/s3"))
    crawlers.delete_crawler("retail")
    with pytest.raises(CrawlerNotFound):
        crawlers.delete_crawler("retail")


class BlockingStore(LocalObjectStore):
    """Reads wait until released: a run that can be observed RUNNING and stopped."""
    gate = threading.Event()

    def get_object(self, bucket, key, byte_range=None):  # type: ignore[override]
        self.gate.wait(10)
        return super().get_object(bucket, key, byte_range)


def test_running_crawler_refuses_start_and_can_be_stopped(tmp_path, catalog, clock):
    store = BlockingStore(tmp_path / "blake", fsync=False)
    store.create_bucket(BUCKET)
    for i in range(3):
        store.put_object(BUCKET, f"json-data/d={i}/a.json", jsonl(WORKSHOP))
    service = CrawlerService(tmp_path / "b.db", catalog, store, clock)
    try:
        service.create_crawler(crawler())
        service.start_crawler("retail")
        assert service.get_crawler("retail").state == "RUNNING"
        with pytest.raises(CrawlerRunning):
            service.start_crawler("retail")
        with pytest.raises(CrawlerRunning):
            service.delete_crawler("retail")
        assert service.get_crawler_metrics(["retail"])[0].still_estimating is True
        service.stop_crawler("retail")
        assert service.get_crawler("retail").state == "STOPPING"
        store.gate.set()
        done = service.wait("retail", timeout=10)
        assert done.state == "READY" and done.last_crawl.status == "CANCELLED"
    finally:
        store.gate.set()
        service.close()


def test_crawler_schedules_are_aws_cron_expressions():
    assert cron_schedule("cron(5 * * * ? *)").spec == "5 * * * * 0 *"
    assert cron_schedule("cron(0 12 ? * 2-6 *)").spec == "0 12 * * 1-5 0 *"  # AWS MON-FRI is 2-6
    assert cron_schedule("cron(0 8 ? * MON#1 2027)").spec == "0 8 * * MON#1 0 2027"
    for bad in ("cron(5 * * * *)", "cron(5 * * * * *)", "rate(5 minutes)", "cron(61 * * * ? *)"):
        with pytest.raises(InvalidCrawler):
            cron_schedule(bad)
    start = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
    assert next_run("cron(5 * * * ? *)", start) == 1_790_000_000.0 - 13 * 60 - 20 + 65 * 60
    assert next_run("cron(0 0 1 1 ? 2020)", start) == float("inf")


def test_schedule_starts_the_crawler_when_due(crawlers, catalog, store, clock):
    store.put_object(BUCKET, "json-data/year=2026/a.json", jsonl(WORKSHOP))
    crawlers.create_crawler(crawler(schedule=Schedule("cron(0 * * * ? *)")))
    assert crawlers.tick() == []
    clock.advance(3600)
    assert crawlers.tick() == ["retail"]
    done = crawlers.wait("retail", timeout=30)
    assert done.last_crawl.status == "SUCCEEDED"
    assert [p.values for p in catalog.get_partitions("lake", "json_data")] == [["2026"]]
    assert crawlers.tick() == []  # not due again until the next hour
    crawlers.update_crawler("retail", schedule=Schedule("cron(0 * * * ? *)", "NOT_SCHEDULED"))
    clock.advance(3600)
    assert crawlers.tick() == []
