"""Real Athena clients against `tidelake up`: PyAthena's DB-API cursor, its SQLAlchemy dialect, pandas,
and the AWS CLI (`aws athena start-query-execution` / `get-query-results`)."""
from __future__ import annotations

import json
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas
import pyathena
import pytest
import sqlalchemy

from support import aws as aws_cli, ok
from test_athena import BUCKET, results_bucket, unique

STAGING = f"s3://{BUCKET}/pyathena/"
TYPED = ("SELECT 1 AS i, CAST(2 AS bigint) AS big, 'x' AS s, CAST(1.5 AS double) AS d, true AS b, "
         "DATE '2026-01-02' AS day, TIMESTAMP '2026-01-02 03:04:05.678' AS ts, CAST('12.34' AS decimal(10,2)) AS dec, "
         "CAST(NULL AS varchar) AS nothing")


@pytest.fixture
def connection(server: Any) -> Any:
    results_bucket(server)
    conn = pyathena.connect(s3_staging_dir=STAGING, region_name="us-east-1", endpoint_url=server.url,
                            aws_access_key_id="test", aws_secret_access_key="test", schema_name="default")
    yield conn
    conn.close()


def test_cursor_fetches_typed_rows(connection):
    cursor = connection.cursor()
    cursor.execute(TYPED)
    assert [d[0] for d in cursor.description] == ["i", "big", "s", "d", "b", "day", "ts", "dec", "nothing"]
    assert [d[1] for d in cursor.description][:3] == ["integer", "bigint", "varchar"]
    assert cursor.fetchall() == [(1, 2, "x", 1.5, True, date(2026, 1, 2), datetime(2026, 1, 2, 3, 4, 5, 678000),
                                  Decimal("12.34"), None)]
    assert cursor.state == "SUCCEEDED" and cursor.query_id
    assert cursor.output_location == f"{STAGING}{cursor.query_id}.csv"


def test_cursor_pages_through_many_rows(connection):
    cursor = connection.cursor(arraysize=1000)
    cursor.execute("SELECT x FROM UNNEST(sequence(1, 2345)) AS t(x) ORDER BY x")
    assert [row[0] for row in cursor.fetchall()] == list(range(1, 2346))


def test_cursor_parameters_and_errors(connection):
    cursor = connection.cursor()
    cursor.execute("SELECT %(n)d AS n, %(s)s AS s", {"n": 7, "s": "it's"})
    assert cursor.fetchall() == [(7, "it's")]
    with pytest.raises(pyathena.error.OperationalError):
        cursor.execute("SELEC broken")


def test_sqlalchemy_engine_and_inspector(server, connection):
    database, table = unique("pyathena_db"), unique("items")
    s3 = server.client("s3", s3={"addressing_style": "path"})
    s3.put_object(Bucket=BUCKET, Key=f"data/{table}/part-0.json", Body=b'{"id": 1, "name": "a"}\n')
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE {database}")
    cursor.execute(f"CREATE EXTERNAL TABLE {database}.{table} (id int, name string) ROW FORMAT SERDE "
                   f"'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://{BUCKET}/data/{table}/'")
    engine = sqlalchemy.create_engine(
        f"awsathena+rest://test:test@athena.us-east-1.amazonaws.com:443/{database}?s3_staging_dir={STAGING}",
        connect_args={"endpoint_url": server.url})
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text(f"SELECT id, name FROM {table}")).fetchall() == [(1, "a")]
    inspector = sqlalchemy.inspect(engine)
    assert database in inspector.get_schema_names()
    assert inspector.get_table_names(schema=database) == [table]
    assert [c["name"] for c in inspector.get_columns(table, schema=database)] == ["id", "name"]
    engine.dispose()


@pytest.mark.filterwarnings("ignore:pandas only supports SQLAlchemy")  # PyAthena's DB-API connection works
def test_pandas_read_sql(connection):
    frame = pandas.read_sql("SELECT x, x * 2 AS y FROM UNNEST(sequence(1, 5)) AS t(x) ORDER BY x", connection)
    assert list(frame.columns) == ["x", "y"]
    assert frame["y"].tolist() == [2, 4, 6, 8, 10]


def aws(url: str, *args: str) -> dict[str, Any]:
    out = ok(aws_cli(url, "athena", *args, "--output", "json", timeout=120))
    return json.loads(out) if out.strip() else {}


def test_aws_cli_start_poll_and_results(server):
    results_bucket(server)
    started = aws(server.url, "start-query-execution", "--query-string", "SELECT 'cli' AS source, 3 AS n",
                  "--result-configuration", f"OutputLocation=s3://{BUCKET}/cli/")
    query_id = started["QueryExecutionId"]
    deadline = time.monotonic() + 30
    while (state := aws(server.url, "get-query-execution", "--query-execution-id", query_id)
           ["QueryExecution"]["Status"]["State"]) in ("QUEUED", "RUNNING"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert state == "SUCCEEDED"
    answer = aws(server.url, "get-query-results", "--query-execution-id", query_id)
    rows = [[d.get("VarCharValue") for d in r["Data"]] for r in answer["ResultSet"]["Rows"]]
    assert rows == [["source", "n"], ["cli", "3"]]
