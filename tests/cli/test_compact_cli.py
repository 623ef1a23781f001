"""`tidelake compact` against a running server: the workshop's hourly JSON table into Parquet."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

import orjson
import pytest

from support import tidelake

RESULTS = "s3://cli-compact-results/"


def athena(server: Any, sql: str, database: str) -> list[list[str]]:
    client = server.client("athena")
    query_id = client.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": database},
                                            ResultConfiguration={"OutputLocation": RESULTS})["QueryExecutionId"]
    while True:
        status = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.02)
    assert status["State"] == "SUCCEEDED", status
    rows = client.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
    return [[d.get("VarCharValue") for d in row["Data"]] for row in rows[1:]]


@pytest.fixture
def workshop(server: Any) -> tuple[str, str]:
    """A database with the workshop's JSON table: two past hours (closed) and one in 2099 (open)."""
    db, bucket = f"cli_{uuid.uuid4().hex[:8]}", f"cli-compact-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3", s3={"addressing_style": "path"})
    s3.create_bucket(Bucket=bucket)
    if "cli-compact-results" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="cli-compact-results")
    for year, hour in ((2025, 10), (2025, 11), (2099, 10)):
        for n in range(3):
            body = b"".join(orjson.dumps({"Invoice": f"{n}-{i}", "Quantity": i, "Price": 2.5, "Country": "France",
                                          "InvoiceDate": f"{year}-11-23 {hour}:00:00"}) + b"\n" for i in range(4))
            s3.put_object(Bucket=bucket, Key=f"json-data/year={year}/month=11/day=23/hour={hour}/part-{n}.json",
                          Body=body)
    athena(server, f"CREATE DATABASE {db}", "default")
    athena(server, "CREATE EXTERNAL TABLE retail_json (invoice string, quantity int, price double, country string, "
                   "invoicedate timestamp) PARTITIONED BY (year int, month int, day int, hour int) "
                   "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
                   f"LOCATION 's3://{bucket}/json-data/'", db)
    athena(server, "MSCK REPAIR TABLE retail_json", db)
    return db, bucket


def test_compact_closed_partitions_then_rerun_and_all(server, workshop):
    db, bucket = workshop
    out = tidelake(server, "compact", f"{db}.retail_json", f"{db}.retail_parquet",
                   "--location", f"s3://{bucket}/parquet-data/").stdout
    assert "year=2025/month=11/day=23/hour=10" in out and "year=2025/month=11/day=23/hour=11" in out
    assert "2099" not in out.split(f"{db}.retail_parquet:")[0]
    assert f"{db}.retail_parquet: 2 compacted (table created); 1 not closed yet; 6 source file(s) rewritten" in out
    assert f"s3://{bucket}/parquet-data/year=2025/month=11/day=23/hour=10/part-00000.snappy.parquet" in out
    keys = [o["Key"] for o in server.client("s3", s3={"addressing_style": "path"}).list_objects_v2(
        Bucket=bucket, Prefix="parquet-data/")["Contents"]]
    assert len(keys) == 2 and all(k.endswith("/part-00000.snappy.parquet") for k in keys)
    assert athena(server, "SELECT hour, count(*), sum(quantity * price) FROM retail_parquet GROUP BY 1 ORDER BY 1",
                  db) == [["10", "12", "45.0"], ["11", "12", "45.0"]]

    report = json.loads(tidelake(server, "compact", f"{db}.retail_json", f"{db}.retail_parquet", "--json").stdout)
    assert [p["action"] for p in report["partitions"]] == ["unchanged", "unchanged"]
    assert report["not_closed"] == ["year=2099/month=11/day=23/hour=10"] and not report["created_target"]

    report = json.loads(tidelake(server, "compact", f"{db}.retail_json", f"{db}.retail_parquet", "--all",
                                 "--partition", "year = 2099", "--json").stdout)
    assert [(p["spec"], p["action"], p["files_in"], p["rows"]) for p in report["partitions"]] == [
        ("year=2099/month=11/day=23/hour=10", "compacted", 3, 12)]
    assert athena(server, "SELECT count(*) FROM retail_parquet", db) == \
        athena(server, "SELECT count(*) FROM retail_json", db) == [["36"]]


def test_compact_errors_are_one_line(server, workshop):
    db, _ = workshop
    result = tidelake(server, "compact", f"{db}.nope", f"{db}.retail_parquet", check=False)
    assert result.stderr == "Error: Table nope not found.\n", result.stderr
    result = tidelake(server, "compact", "nodot", f"{db}.retail_parquet", check=False)
    assert result.returncode == 1 and "DATABASE.TABLE" in result.stderr
    result = tidelake(server, "compact", f"{db}.retail_json", f"{db}.retail_json", check=False)
    assert result.returncode == 1 and "is not a Parquet table" in result.stderr
