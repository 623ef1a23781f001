"""The workshop's statements, exactly as written, against a lake in the workshop's shape."""
from __future__ import annotations

import datetime as dt



def test_workshop_statements(engine, put_jsonl, objects, retail_ddl, make_record):
    RETAIL_DDL, retail_record = retail_ddl, make_record
    size = put_jsonl("json-data/year=2026/month=11/day=23/hour=10/part-0001.json", [retail_record(i) for i in range(20)])
    assert engine.execute("CREATE DATABASE mydatabase;").statement_type == "DDL"
    engine.execute(RETAIL_DDL + ";")
    engine.execute("MSCK REPAIR TABLE mydatabase.retail_trans_json;")
    parts = engine.execute("SHOW PARTITIONS mydatabase.retail_trans_json;")
    assert parts.rows == [("year=2026/month=11/day=23/hour=10",)]
    top = engine.execute("SELECT * FROM retail_trans_json LIMIT 10;", database="mydatabase")
    assert [c.name for c in top.columns] == ["invoice", "stockcode", "description", "quantity", "invoicedate",
                                             "price", "customer_id", "country", "year", "month", "day", "hour"]
    assert [c.type for c in top.columns][:8] == ["varchar", "varchar", "varchar", "integer", "timestamp", "real",
                                                 "varchar", "varchar"]
    assert len(top.rows) == 10
    first = dict(zip([c.name for c in top.columns], top.rows[0]))
    assert first["invoice"] == "489434" and first["customer_id"] == "13085"  # keys matched case-insensitively
    assert first["invoicedate"] == dt.datetime(2026, 11, 23, 10, 0)
    assert (first["year"], first["month"], first["day"], first["hour"]) == (2026, 11, 23, 10)
    assert top.data_scanned_bytes == size
    monthly = engine.execute("SELECT date_trunc('month', invoicedate) m, sum(price*quantity) FROM retail_trans_json "
                             "GROUP BY 1 ORDER BY 1;", database="mydatabase")
    assert [c.name for c in monthly.columns] == ["m", "_col1"]
    expected = sum(r["Price"] * r["Quantity"] for r in (retail_record(i) for i in range(20)))
    assert monthly.rows[0][0] == dt.datetime(2026, 11, 1)
    assert abs(monthly.rows[0][1] - expected) < 1e-6
    ctas = engine.execute(
        "CREATE TABLE mydatabase.tmp_parquet WITH (external_location='s3://my-bucket/parquet-retail-trans/year=2026/"
        "month=11/day=23/hour=10/', format='PARQUET', parquet_compression='SNAPPY')\nAS SELECT invoice, stockcode, "
        "description, quantity, invoicedate, price, customer_id, country FROM mydatabase.retail_trans_json WHERE "
        "year=2026 AND month=11 AND day=23 AND hour=10 WITH DATA;")
    assert ctas.update_count == 20
    keys = [o.key for o in objects.list_objects("my-bucket", prefix="parquet-retail-trans/").objects]
    assert len(keys) == 1 and keys[0].startswith("parquet-retail-trans/year=2026/month=11/day=23/hour=10/")
    again = engine.execute("SELECT count(*), min(invoicedate), sum(quantity) FROM mydatabase.tmp_parquet")
    assert again.rows == [(20, dt.datetime(2026, 11, 23, 10, 0), sum(retail_record(i)["Quantity"] for i in range(20)))]
    assert again.columns[0].type == "bigint"
