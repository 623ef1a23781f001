"""Reading tables: pruning, data scanned, formats, parameters, errors, cancel."""
from __future__ import annotations

import threading
import time

import pytest

from tidelake.query.errors import QueryCancelled, QueryFailed


def test_partition_pruning_reads_only_matching_files(retail, engine):
    all_rows = engine.execute("SELECT count(*) FROM mydatabase.retail_trans_json")
    assert all_rows.rows == [(30,)] and all_rows.data_scanned_bytes == retail[10] + retail[11]
    one = engine.execute("SELECT count(*) FROM mydatabase.retail_trans_json WHERE hour = 11 AND quantity > 0")
    assert one.rows == [(10,)] and one.data_scanned_bytes == retail[11]
    none = engine.execute("SELECT count(*) FROM mydatabase.retail_trans_json t WHERE t.hour IN (1, 2)")
    assert none.rows == [(0,)] and none.data_scanned_bytes == 0


def test_execution_parameters(retail, engine):
    result = engine.execute("SELECT count(*) FROM retail_trans_json WHERE country = ? AND hour = ?",
                            database="mydatabase", parameters=["'France'", "10"])
    assert result.rows == [(10,)]
    with pytest.raises(QueryFailed, match="Incorrect number of parameters"):
        engine.execute("SELECT ?", parameters=[])


def test_errors_read_like_athena(retail, engine):
    with pytest.raises(QueryFailed) as error:
        engine.execute("SELECT x FROM mydatabase.retail_trans_json")
    assert str(error.value) == "COLUMN_NOT_FOUND: line 1:8: Column 'x' cannot be resolved"
    with pytest.raises(QueryFailed) as error:
        engine.execute("SELECT * FROM mydatabase.nope")
    assert str(error.value) == "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.mydatabase.nope' does not exist"
    with pytest.raises(QueryFailed) as error:
        engine.execute("SELECT * FROM nodb.t")
    assert "SCHEMA_NOT_FOUND" in str(error.value)
    with pytest.raises(QueryFailed) as error:
        engine.execute("SELEC 1")
    assert str(error.value).startswith("SYNTAX_ERROR: line 1:")
    assert error.value.category == "USER"


def test_output_names_and_integer_division(engine):
    result = engine.execute("SELECT 5 / 2, 5.0 / 2 AS half, 'x' AS Label")
    assert [c.name for c in result.columns] == ["_col0", "half", "label"]
    assert result.rows == [(2, pytest.approx(2.5), "x")]


def test_csv_and_parquet_tables(engine, objects, catalog):
    objects.put_object("my-bucket", "csv/a.csv", b"id,name,when\n1,ann,2026-01-01 10:00:00\n2,bob,bad\n")
    engine.execute("CREATE DATABASE d")
    engine.execute("CREATE EXTERNAL TABLE d.people (id int, name string, `when` timestamp) ROW FORMAT DELIMITED "
                   "FIELDS TERMINATED BY ',' LOCATION 's3://my-bucket/csv/' TBLPROPERTIES ('skip.header.line.count'='1')")
    rows = engine.execute("SELECT id, name, \"when\" FROM d.people ORDER BY id").rows
    assert rows[0][:2] == (1, "ann") and rows[1][2] is None
    engine.execute("CREATE TABLE d.people_pq WITH (format='parquet', external_location='s3://my-bucket/pq/') AS "
                   "SELECT * FROM d.people")
    assert engine.execute("SELECT count(*) FROM d.people_pq").rows == [(2,)]


def test_cancel_interrupts_a_running_query(engine):
    outcome = {}

    def run():
        try:
            engine.execute("SELECT count(*) FROM (SELECT x FROM UNNEST(sequence(1, 100000)) AS t(x)) a, "
                           "(SELECT y FROM UNNEST(sequence(1, 1000000)) AS u(y)) b WHERE a.x + b.y = -1", token="q1")
        except QueryCancelled as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 5
    while not engine.cancel("q1") and time.monotonic() < deadline:
        time.sleep(0.01)
    thread.join(10)
    assert isinstance(outcome.get("error"), QueryCancelled)


def test_partition_projection(engine, put_jsonl, catalog, make_record):
    retail_record = make_record
    put_jsonl("proj/2026/11/23/a.json", [retail_record(1)])
    put_jsonl("proj/2026/11/24/a.json", [retail_record(2), retail_record(3)])
    engine.execute("CREATE DATABASE d")
    engine.execute("CREATE EXTERNAL TABLE d.p (invoice string) PARTITIONED BY (dt string) "
                   "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://my-bucket/proj/' "
                   "TBLPROPERTIES ('projection.enabled'='true', 'projection.dt.type'='date', "
                   "'projection.dt.format'='yyyy/MM/dd', 'projection.dt.range'='2026/11/20,2026/11/30', "
                   "'storage.location.template'='s3://my-bucket/proj/${dt}/')")
    assert engine.execute("SELECT count(*) FROM d.p").rows == [(3,)]
    result = engine.execute("SELECT invoice FROM d.p WHERE dt = '2026/11/23'")
    assert result.rows == [("489435",)]


def test_time_limit_stops_a_statement(catalog, objects, tmp_path):
    from tidelake.query.engine import QueryEngine
    engine = QueryEngine(catalog, tmp_path / "lake", objects, timeout_seconds=0.3)
    try:
        with pytest.raises(QueryCancelled) as error:
            engine.execute("SELECT count(*) FROM (SELECT x FROM UNNEST(sequence(1, 100000)) AS t(x)) a, "
                           "(SELECT y FROM UNNEST(sequence(1, 1000000)) AS u(y)) b WHERE a.x + b.y = -1")
        assert error.value.timed_out
    finally:
        engine.close()
