"""CTAS, INSERT INTO and UNLOAD (Athena CREATE TABLE AS / INSERT INTO / UNLOAD reference pages)."""
from __future__ import annotations

import pytest

from tidelake.query.errors import QueryFailed


def test_ctas_partitioned_json(retail, engine, catalog, objects):
    result = engine.execute("CREATE TABLE mydatabase.by_country WITH (format='Json', external_location="
                            "'s3://my-bucket/by-country/', partitioned_by=ARRAY['country']) AS "
                            "SELECT invoice, quantity, country FROM mydatabase.retail_trans_json")
    assert result.update_count == 30
    table = catalog.get_table("mydatabase", "by_country")
    assert [k.name for k in table.partition_keys] == ["country"]
    assert {tuple(p.values) for p in catalog.get_partitions("mydatabase", "by_country")} == \
        {("United Kingdom",), ("France",)}
    keys = [o.key for o in objects.list_objects("my-bucket", prefix="by-country/").objects]
    assert all(k.endswith(".gz") for k in keys)  # JSON defaults to GZIP
    assert engine.execute("SELECT count(*) FROM mydatabase.by_country WHERE country = 'France'").rows == [(15,)]


def test_ctas_rules(retail, engine):
    with pytest.raises(QueryFailed, match="HIVE_PATH_ALREADY_EXISTS"):
        engine.execute("CREATE TABLE mydatabase.x WITH (external_location='s3://my-bucket/json-data/') AS SELECT 1 a")
    with pytest.raises(QueryFailed, match="HIVE_COLUMN_ORDER_MISMATCH"):
        engine.execute("CREATE TABLE mydatabase.x WITH (external_location='s3://my-bucket/x/', "
                       "partitioned_by=ARRAY['a']) AS SELECT 1 a, 2 b")
    with pytest.raises(QueryFailed, match="HIVE_TOO_MANY_OPEN_PARTITIONS"):
        engine.execute("CREATE TABLE mydatabase.x WITH (external_location='s3://my-bucket/x/', "
                       "partitioned_by=ARRAY['p']) AS SELECT range AS v, range AS p FROM (SELECT unnest(sequence(1, 101)) AS range)")


def test_ctas_with_no_data_then_insert(retail, engine, catalog):
    engine.execute("CREATE TABLE mydatabase.empty WITH (format='TEXTFILE', field_delimiter=',', "
                   "external_location='s3://my-bucket/empty/') AS SELECT invoice, price FROM "
                   "mydatabase.retail_trans_json WITH NO DATA")
    assert engine.execute("SELECT count(*) FROM mydatabase.empty").rows == [(0,)]
    inserted = engine.execute("INSERT INTO mydatabase.empty SELECT invoice, price FROM mydatabase.retail_trans_json "
                              "WHERE hour = 10")
    assert inserted.update_count == 20 and inserted.data_scanned_bytes == retail[10]
    assert engine.execute("SELECT count(*), sum(price) > 0 FROM mydatabase.empty").rows == [(20, True)]


def test_unload(retail, engine, objects):
    result = engine.execute("UNLOAD (SELECT invoice FROM mydatabase.retail_trans_json WHERE hour = ?) "
                            "TO 's3://my-bucket/unload/' WITH (format='JSON', compression='NONE')", parameters=["11"])
    assert result.update_count == 10
    keys = [o.key for o in objects.list_objects("my-bucket", prefix="unload/").objects]
    _, data = objects.get_object("my-bucket", keys[0])
    assert data.count(b"\n") == 10 and b'"invoice"' in data
