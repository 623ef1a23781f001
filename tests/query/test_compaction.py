"""Compaction of the workshop's hourly JSON partitions into one snappy Parquet object each: closed
partitions only, idempotent re-runs, late data, crashes between the steps, and the same answers."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import pyarrow.parquet as pq
import pytest

from tidelake.clock import ManualClock
from tidelake.lake.catalog.models import PARQUET_SERDE, Column
from tidelake.query import compaction
from tidelake.query.compaction import (COMPACTED, DIGEST, OBJECT_NAME, REGISTERED, REWRITTEN, UNCHANGED, compact)
from tidelake.query.errors import InvalidCompaction

SOURCE, TARGET = ("mydatabase", "retail_trans_json"), ("mydatabase", "retail_trans_parquet")
HOUR = "json-data/year=2026/month=11/day=23/hour={hour}/"
OUT = "retail-parquet/year=2026/month=11/day=23/hour={hour}/" + OBJECT_NAME
AGGREGATE = ("SELECT hour, count(*), sum(quantity), round(sum(quantity * price), 2), count(DISTINCT customer_id), "
             "min(invoicedate), max(invoicedate), count(DISTINCT country) FROM {table} WHERE hour < 12 "
             "GROUP BY hour ORDER BY hour")


@pytest.fixture
def hours(engine: Any, put_jsonl: Callable[..., int], make_record: Callable[..., dict], retail_ddl: str) -> ManualClock:
    """Hours 10 and 11 of 2026-11-23 closed, 12 open (the clock reads 12:30 UTC); several small
    files per hour, one of them with keys spelled in lower case (the OpenX SerDe's rule applies)."""
    for hour in (10, 11, 12):
        for n in range(3):
            put_jsonl(HOUR.format(hour=hour) + f"part-{n:04d}.json",
                      [make_record(i, hour=hour) for i in range(n * 7, n * 7 + 7)])
    put_jsonl(HOUR.format(hour=11) + "part-lower.json",
              [{k.lower(): v for k, v in make_record(i, hour=11).items()} for i in range(100, 105)])
    put_jsonl(HOUR.format(hour=10) + "_SUCCESS", [{"hidden": True}])  # Hive hides _ and . names
    engine.execute("CREATE DATABASE mydatabase")
    engine.execute(retail_ddl)
    engine.execute("MSCK REPAIR TABLE mydatabase.retail_trans_json")
    return ManualClock(datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc).timestamp())


def run(catalog: Any, engine: Any, objects: Any, clock: ManualClock, **kwargs: Any) -> Any:
    return compact(catalog, engine, objects, SOURCE, TARGET, target_location="s3://my-bucket/retail-parquet",
                   clock=clock, **kwargs)


def keys(objects: Any, prefix: str = "retail-parquet/") -> list[str]:
    return [o.key for o in objects.list_objects("my-bucket", prefix=prefix).objects]


def test_closed_partitions_become_one_snappy_parquet_each(catalog, engine, objects, hours):
    report = run(catalog, engine, objects, hours)

    assert report.created_target and report.target == "mydatabase.retail_trans_parquet"
    assert [(p.spec, p.action, p.files_in, p.rows) for p in report.partitions] == [
        ("year=2026/month=11/day=23/hour=10", COMPACTED, 3, 21),
        ("year=2026/month=11/day=23/hour=11", COMPACTED, 4, 26)]
    assert report.not_closed == ["year=2026/month=11/day=23/hour=12"]
    assert keys(objects) == [OUT.format(hour=10), OUT.format(hour=11)]
    assert report.partitions[0].object_out == f"s3://my-bucket/{OUT.format(hour=10)}"
    assert report.partitions[0].bytes_in == sum(o.size for o in objects.list_objects(
        "my-bucket", prefix=HOUR.format(hour=10)).objects if not o.key.endswith("_SUCCESS"))
    # The target is the workshop's CREATE EXTERNAL TABLE ... STORED AS PARQUET: same columns and keys.
    table = catalog.get_table(*TARGET)
    source = catalog.get_table(*SOURCE)
    assert table.storage_descriptor.serde_info.serialization_library == PARQUET_SERDE
    assert table.storage_descriptor.location == "s3://my-bucket/retail-parquet/"
    assert [(c.name, c.type) for c in table.storage_descriptor.columns] == \
        [(c.name, c.type) for c in source.storage_descriptor.columns]
    assert [k.name for k in table.partition_keys] == ["year", "month", "day", "hour"]
    partitions = catalog.get_partitions(*TARGET)
    assert [p.values for p in partitions] == [["2026", "11", "23", "10"], ["2026", "11", "23", "11"]]
    assert partitions[0].storage_descriptor.location == "s3://my-bucket/retail-parquet/year=2026/month=11/day=23/hour=10/"
    assert partitions[0].parameters[compaction.FILES] == "3" and partitions[0].parameters[compaction.ROWS] == "21"
    # One Parquet file, snappy, without the partition columns (they are in the path).
    meta = pq.ParquetFile(engine.location_to_path(report.partitions[1].object_out)).metadata
    assert meta.num_rows == 26 and meta.row_group(0).column(0).compression == "SNAPPY"
    assert meta.schema.names == [c.name for c in source.storage_descriptor.columns]
    # The JSON stays where it was.
    assert len(keys(objects, "json-data/")) == 3 * 3 + 2


def test_the_target_answers_as_the_source(catalog, engine, objects, hours):
    run(catalog, engine, objects, hours)
    before = engine.execute(AGGREGATE.format(table="retail_trans_json"), "mydatabase").rows
    after = engine.execute(AGGREGATE.format(table="retail_trans_parquet"), "mydatabase").rows
    assert after == before and [row[1] for row in after] == [21, 26]
    assert engine.execute("SELECT count(*) FROM retail_trans_parquet WHERE invoice IS NULL OR quantity IS NULL",
                          "mydatabase").rows == [(0,)]


def test_a_rerun_changes_nothing(catalog, engine, objects, hours):
    run(catalog, engine, objects, hours)
    first = {k: objects.head_object("my-bucket", k) for k in keys(objects)}
    report = run(catalog, engine, objects, hours)
    assert [(p.action, p.rows, p.object_out is not None) for p in report.partitions] == [(UNCHANGED, 21, True),
                                                                                         (UNCHANGED, 26, True)]
    assert not report.created_target and report.written == []
    assert {k: objects.head_object("my-bucket", k) for k in keys(objects)} == first


def test_late_data_rewrites_only_its_partition(catalog, engine, objects, hours, put_jsonl, make_record):
    run(catalog, engine, objects, hours)
    old = objects.head_object("my-bucket", OUT.format(hour=11))
    put_jsonl(HOUR.format(hour=10) + "part-late.json", [make_record(i) for i in range(500, 504)])

    report = run(catalog, engine, objects, hours)
    assert [(p.action, p.files_in, p.rows) for p in report.partitions] == [(REWRITTEN, 4, 25), (UNCHANGED, 4, 26)]
    assert keys(objects) == [OUT.format(hour=10), OUT.format(hour=11)]  # still one object per partition
    assert objects.head_object("my-bucket", OUT.format(hour=11)) == old
    assert engine.execute("SELECT hour, count(*) FROM retail_trans_parquet GROUP BY 1 ORDER BY 1",
                          "mydatabase").rows == [(10, 25), (11, 26)]


def test_an_open_partition_is_compacted_once_its_hour_ends(catalog, engine, objects, hours):
    assert len(run(catalog, engine, objects, hours).partitions) == 2
    hours.advance(1800)
    report = run(catalog, engine, objects, hours)
    assert [p.action for p in report.partitions] == [UNCHANGED, UNCHANGED, COMPACTED]
    assert report.not_closed == []


def test_a_crash_before_the_catalog_update_is_finished_by_the_next_run(catalog, engine, objects, hours,
                                                                        monkeypatch):
    def crash(*args: Any) -> None:
        raise KeyboardInterrupt("killed between the object write and the catalog update")
    monkeypatch.setattr(compaction, "_register", crash)
    with pytest.raises(KeyboardInterrupt):
        run(catalog, engine, objects, hours)
    assert keys(objects) == [OUT.format(hour=10)]  # complete, the catalog does not know it yet
    assert catalog.get_partitions(*TARGET) == []
    written = objects.head_object("my-bucket", OUT.format(hour=10))
    monkeypatch.undo()

    report = run(catalog, engine, objects, hours)
    assert [(p.action, p.rows) for p in report.partitions] == [(REGISTERED, 21), (COMPACTED, 26)]
    assert objects.head_object("my-bucket", OUT.format(hour=10)) == written  # registered, not rewritten
    assert engine.execute("SELECT hour, count(*) FROM retail_trans_parquet GROUP BY 1 ORDER BY 1",
                          "mydatabase").rows == [(10, 21), (11, 26)]
    assert [p.action for p in run(catalog, engine, objects, hours).partitions] == [UNCHANGED, UNCHANGED]


def test_a_crash_after_rewriting_late_data_never_shows_double_rows(catalog, engine, objects, hours, put_jsonl,
                                                                   make_record, monkeypatch):
    run(catalog, engine, objects, hours)
    put_jsonl(HOUR.format(hour=11) + "part-late.json", [make_record(i, hour=11) for i in range(600, 603)])
    real = compaction._register
    monkeypatch.setattr(compaction, "_register", lambda catalog, dst, values, *a: (
        real(catalog, dst, values, *a) if values[-1] == "10" else (_ for _ in ()).throw(KeyboardInterrupt())))
    with pytest.raises(KeyboardInterrupt):
        run(catalog, engine, objects, hours)
    # The new object replaced the old one in place: readers see 29 rows, never 26 + 29.
    assert keys(objects, "retail-parquet/year=2026/month=11/day=23/hour=11/") == [OUT.format(hour=11)]
    assert engine.execute("SELECT count(*) FROM retail_trans_parquet WHERE hour = 11", "mydatabase").rows == [(29,)]
    monkeypatch.undo()

    report = run(catalog, engine, objects, hours)
    assert [(p.action, p.rows) for p in report.partitions] == [(UNCHANGED, 21), (REGISTERED, 29)]
    stored = catalog.get_partition(*TARGET, ["2026", "11", "23", "11"]).parameters
    assert stored[DIGEST] == objects.head_object("my-bucket", OUT.format(hour=11)).metadata[DIGEST]


def test_a_failed_put_leaves_the_previous_object(catalog, engine, objects, hours, put_jsonl, make_record,
                                                 monkeypatch):
    run(catalog, engine, objects, hours)
    before = objects.head_object("my-bucket", OUT.format(hour=10))
    put_jsonl(HOUR.format(hour=10) + "part-late.json", [make_record(700)])
    real_put = objects.put_object

    def half_then_crash(bucket: str, key: str, data: Any, **kwargs: Any) -> Any:
        def chunks():
            yield data.read(100)
            raise OSError("disk gone")
        return real_put(bucket, key, chunks(), **kwargs)
    monkeypatch.setattr(objects, "put_object", half_then_crash)
    with pytest.raises(OSError):
        run(catalog, engine, objects, hours)
    assert objects.head_object("my-bucket", OUT.format(hour=10)) == before
    assert engine.execute("SELECT count(*) FROM retail_trans_parquet WHERE hour = 10", "mydatabase").rows == [(21,)]
    monkeypatch.undo()
    assert [p.rows for p in run(catalog, engine, objects, hours).written] == [22]


def test_an_expression_and_all_choose_partitions(catalog, engine, objects, hours):
    report = run(catalog, engine, objects, hours, partitions="hour = 12", closed=False)
    assert [(p.spec, p.action, p.rows) for p in report.partitions] == [
        ("year=2026/month=11/day=23/hour=12", COMPACTED, 21)]
    assert run(catalog, engine, objects, hours, partitions="hour >= 11").not_closed == [
        "year=2026/month=11/day=23/hour=12"]


def test_progress_reports_the_plan_then_each_partition(catalog, engine, objects, hours):
    seen: list[tuple[int, int, str | None]] = []
    run(catalog, engine, objects, hours, progress=lambda done, total, p: seen.append((done, total, p and p.action)))
    assert seen == [(0, 2, None), (1, 2, COMPACTED), (2, 2, COMPACTED)]


def test_refusals(catalog, engine, objects, hours):
    with pytest.raises(InvalidCompaction, match="overlaps the source location"):
        compact(catalog, engine, objects, SOURCE, TARGET, target_location="s3://my-bucket/json-data/parquet/",
                clock=hours)
    engine.execute("CREATE EXTERNAL TABLE mydatabase.flat (a string) LOCATION 's3://my-bucket/flat/'")
    with pytest.raises(InvalidCompaction, match="not a partitioned table"):
        compact(catalog, engine, objects, ("mydatabase", "flat"), TARGET, clock=hours)
    with pytest.raises(InvalidCompaction, match="not a Parquet table"):
        compact(catalog, engine, objects, SOURCE, ("mydatabase", "retail_trans_json"), clock=hours)
    engine.execute("CREATE EXTERNAL TABLE mydatabase.by_region (a string) PARTITIONED BY (region string) "
                   "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://my-bucket/by-region/'")
    engine.execute("ALTER TABLE mydatabase.by_region ADD PARTITION (region='eu')")
    with pytest.raises(InvalidCompaction, match="not year/month/day/hour"):
        compact(catalog, engine, objects, ("mydatabase", "by_region"), ("mydatabase", "by_region_pq"), clock=hours)
    with pytest.raises(Exception, match="retail_nope"):
        compact(catalog, engine, objects, SOURCE, ("mydatabase", "retail_nope"), create_target=False, clock=hours)


@pytest.mark.parametrize("keys_, values, closed", [
    (["year", "month", "day", "hour"], ["2026", "11", "23", "11"], True),  # ended 12:00, now 12:30
    (["year", "month", "day", "hour"], ["2026", "11", "23", "12"], False),
    (["year", "month", "day"], ["2026", "11", "23"], False),
    (["year", "month", "day"], ["2026", "11", "22"], True),
    (["year", "month"], ["2026", "10"], True),
    (["year", "month"], ["2026", "11"], False),
    (["year"], ["2025"], True),
    (["year", "month", "day", "hour"], ["2026", "11", "23", "__HIVE_DEFAULT_PARTITION__"], False),
])
def test_closed_means_the_finest_period_has_ended(keys_, values, closed):
    now = datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc).timestamp()
    assert compaction._is_closed([Column(k, "int") for k in keys_], values, now) is closed


def test_workshop_json_records_roundtrip(engine, objects, catalog, hours):
    """Every column keeps its value and type (timestamps parsed, floats as REAL) through Parquet."""
    run(catalog, engine, objects, hours)
    cols = "invoice, stockcode, description, quantity, invoicedate, price, customer_id, country, hour"
    query = f"SELECT {cols} FROM {{}} WHERE hour < 12 ORDER BY invoice, hour"
    assert engine.execute(query.format("retail_trans_parquet"), "mydatabase").rows == \
        engine.execute(query.format("retail_trans_json"), "mydatabase").rows
    types = [[c.type for c in engine.execute(query.format(t) + " LIMIT 1", "mydatabase").columns]
             for t in ("retail_trans_parquet", "retail_trans_json")]
    assert types[0] == types[1]
