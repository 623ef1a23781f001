"""Hive DDL through the engine, checked in the catalog (Athena DDL reference pages)."""
from __future__ import annotations

import pytest

from tidelake.query.errors import QueryFailed


def test_database_lifecycle(engine, catalog):
    engine.execute("CREATE DATABASE d1")
    engine.execute("CREATE DATABASE IF NOT EXISTS d1")
    with pytest.raises(QueryFailed):
        engine.execute("CREATE DATABASE d1")
    assert ("d1",) in engine.execute("SHOW DATABASES").rows
    assert engine.execute("SHOW SCHEMAS LIKE 'd*'").rows == [("d1",)]
    engine.execute("DROP DATABASE d1")
    engine.execute("DROP DATABASE IF EXISTS d1")
    with pytest.raises(QueryFailed, match="Database does not exist"):
        engine.execute("DROP DATABASE d1")


def test_create_external_table_records_the_catalog_shape(retail, catalog):
    table = catalog.get_table("mydatabase", "retail_trans_json")
    sd = table.storage_descriptor
    assert [c.name for c in sd.columns][:3] == ["invoice", "stockcode", "description"]
    assert [(c.name, c.type) for c in table.partition_keys] == [("year", "int"), ("month", "int"), ("day", "int"),
                                                               ("hour", "int")]
    assert sd.serde_info.serialization_library == "org.openx.data.jsonserde.JsonSerDe"
    assert sd.input_format == "org.apache.hadoop.mapred.TextInputFormat"
    assert sd.location == "s3://my-bucket/json-data"
    assert len(catalog.get_partitions("mydatabase", "retail_trans_json")) == 2


def test_tblproperties_delimited_and_show(engine, catalog):
    engine.execute("CREATE DATABASE d")
    engine.execute("CREATE EXTERNAL TABLE d.csv_t (a string COMMENT 'first', b int) COMMENT 'tbl' "
                   "ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' STORED AS TEXTFILE LOCATION 's3://my-bucket/csv/' "
                   "TBLPROPERTIES ('skip.header.line.count'='1', 'projection.enabled'='false')")
    table = catalog.get_table("d", "csv_t")
    assert table.storage_descriptor.serde_info.parameters["field.delim"] == ","
    assert table.parameters["skip.header.line.count"] == "1"
    assert table.description == "tbl" and table.storage_descriptor.columns[0].comment == "first"
    assert engine.execute("SHOW TABLES IN d").rows == [("csv_t",)]
    assert engine.execute("SHOW COLUMNS IN d.csv_t").rows == [("a",), ("b",)]
    create = "\n".join(r[0] for r in engine.execute("SHOW CREATE TABLE d.csv_t").rows)
    assert "CREATE EXTERNAL TABLE `d`.`csv_t`(" in create and "'s3://my-bucket/csv/'" in create
    assert engine.execute("DESCRIBE d.csv_t").rows[0][0].startswith("a")
    engine.execute("DROP TABLE d.csv_t")
    engine.execute("DROP TABLE IF EXISTS d.csv_t")
    with pytest.raises(QueryFailed, match="Table not found"):
        engine.execute("DROP TABLE d.csv_t")


def test_add_and_drop_partitions(retail, engine, catalog):
    engine.execute("ALTER TABLE mydatabase.retail_trans_json ADD IF NOT EXISTS "
                   "PARTITION (year=2026, month=11, day=24, hour=0) LOCATION 's3://my-bucket/elsewhere/' "
                   "PARTITION (year=2026, month=11, day=24, hour=1)")
    part = catalog.get_partition("mydatabase", "retail_trans_json", ["2026", "11", "24", "0"])
    assert part.storage_descriptor.location == "s3://my-bucket/elsewhere/"
    with pytest.raises(QueryFailed, match="already exists"):
        engine.execute("ALTER TABLE mydatabase.retail_trans_json ADD PARTITION (year=2026, month=11, day=24, hour=1)")
    engine.execute("ALTER TABLE mydatabase.retail_trans_json DROP PARTITION (year=2026, month=11, day=24, hour=1)")
    assert len(engine.execute("SHOW PARTITIONS mydatabase.retail_trans_json").rows) == 3


def test_msck_reports_added_partitions(engine, put_jsonl, retail_ddl, make_record):
    RETAIL_DDL, retail_record = retail_ddl, make_record
    put_jsonl("json-data/year=2026/month=11/day=23/hour=10/a.json", [retail_record(1)])
    put_jsonl("json-data/_tmp/x.json", [retail_record(1)])
    engine.execute("CREATE DATABASE mydatabase")
    engine.execute(RETAIL_DDL)
    rows = engine.execute("MSCK REPAIR TABLE mydatabase.retail_trans_json").rows
    assert rows[-1] == ("Repair: Added partition to metastore retail_trans_json:year=2026/month=11/day=23/hour=10",)
    assert engine.execute("MSCK REPAIR TABLE mydatabase.retail_trans_json").rows == []


def test_views(retail, engine, catalog):
    engine.execute("CREATE VIEW mydatabase.uk AS SELECT invoice, price FROM retail_trans_json "
                   "WHERE country = 'United Kingdom'", database="mydatabase")
    view = catalog.get_table("mydatabase", "uk")
    assert view.table_type == "VIRTUAL_VIEW" and view.view_original_text.startswith("/* Presto View: ")
    assert engine.execute("SELECT count(*) FROM mydatabase.uk").rows == [(15,)]
    with pytest.raises(QueryFailed):
        engine.execute("CREATE VIEW mydatabase.uk AS SELECT 1 x")
    engine.execute("CREATE OR REPLACE VIEW mydatabase.uk AS SELECT 1 x")
    assert engine.execute("SELECT x FROM mydatabase.uk").rows == [(1,)]
    engine.execute("DROP VIEW mydatabase.uk")
    engine.execute("DROP VIEW IF EXISTS mydatabase.uk")
