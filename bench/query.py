"""Query benchmark: Athena API overhead and the engine against raw DuckDB on the same lake files.

    python bench/query.py            # full run
    python bench/query.py --smoke    # seconds, for CI: checks the benchmark runs, figures are rough

Through `tidelake up` and boto3, as users run it:
1. a trivial query's round trip (StartQueryExecution, poll GetQueryExecution, GetQueryResults):
   p50 / p95 (target p50 < 30 ms);
2. an aggregate over retail transactions stored as JSON lines in the lake (an external table made by
   Athena DDL) through tidelake, against DuckDB reading the very same files in this process
   (target ratio <= 1.2);
3. compaction of 2M records: not measured yet (tidelake has no compaction yet).
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ServerUnderTest, percentile, print_table  # noqa: E402
from stream import machine_info  # noqa: E402

from tidelake.generate.retail import encode, transactions  # noqa: E402

BUCKET = "bench-results"
AGGREGATE = ("SELECT country, count(*) AS lines, sum(quantity * price) AS revenue FROM {table} "
             "GROUP BY country ORDER BY revenue DESC")
RAW = ("SELECT Country, count(*) AS lines, sum(Quantity * Price) AS revenue FROM read_json_auto('{files}') "
       "GROUP BY Country ORDER BY revenue DESC")


def clients(url: str) -> tuple[Any, Any]:
    kwargs = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client("athena", **kwargs), boto3.client("s3", config=boto3.session.Config(
        s3={"addressing_style": "path"}), **kwargs)


def run(athena: Any, sql: str, database: str | None = None) -> tuple[float, list]:
    """Seconds from start to the last result page, and the rows."""
    started = time.perf_counter()
    context = {"QueryExecutionContext": {"Database": database}} if database else {}
    query_id = athena.start_query_execution(QueryString=sql, ResultConfiguration={
        "OutputLocation": f"s3://{BUCKET}/"}, **context)["QueryExecutionId"]
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.001)
    if status["State"] != "SUCCEEDED":
        raise RuntimeError(f"{sql[:60]}: {status['State']} {status.get('StateChangeReason')}")
    rows = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        rows.extend(page["ResultSet"]["Rows"])
    return time.perf_counter() - started, rows


def round_trips(athena: Any, seconds: float) -> list[float]:
    run(athena, "SELECT 1")  # warm up
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        times.append(run(athena, "SELECT 1")[0])
    return times


def load_lake(s3: Any, records: int, files: int) -> None:
    source = transactions(now=lambda: __import__("datetime").datetime(2026, 1, 1))
    per_file = records // files
    for n in range(files):
        body = b"\n".join(encode({k.lower(): v for k, v in t.items()}) for t in itertools.islice(source, per_file))
        s3.put_object(Bucket=BUCKET, Key=f"retail/part-{n:04d}.json", Body=body + b"\n")


def raw_duckdb(files: str, repeats: int) -> list[float]:
    import duckdb
    conn = duckdb.connect()
    conn.execute("SET threads = 2")  # the engine's default per query
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        conn.execute(RAW.format(files=files)).fetchall()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few seconds in all, for CI")
    args = parser.parse_args()
    records, files, repeats = (20_000, 2, 3) if args.smoke else (1_000_000, 8, 5)
    server = ServerUnderTest()
    with server as url:
        athena, s3 = clients(url)
        s3.create_bucket(Bucket=BUCKET)
        trips = round_trips(athena, 2.0 if args.smoke else 10.0)
        load_lake(s3, records, files)
        run(athena, "CREATE DATABASE bench")
        run(athena, "CREATE EXTERNAL TABLE retail (invoice string, stockcode string, description string, "
                    "quantity int, invoicedate string, price double, customer_id string, country string) "
                    "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
                    f"LOCATION 's3://{BUCKET}/retail/'", "bench")
        ours = [run(athena, AGGREGATE.format(table="retail"), "bench")[0] for _ in range(repeats)]
        lake_files = Path(server._tmp.name) / "data" / "lake" / BUCKET / "retail" / "*.json"
        raw = raw_duckdb(str(lake_files), repeats)
    ratio = statistics.median(ours) / statistics.median(raw)
    rows = [
        ("trivial query round trip p50", f"{percentile(trips, 50) * 1000:.1f} ms",
         f"p95 {percentile(trips, 95) * 1000:.1f} ms over {len(trips)} (start, poll, results; target p50 < 30 ms)"),
        ("aggregate via Athena API", f"{statistics.median(ours) * 1000:.0f} ms",
         f"median of {repeats}, {records:,} JSON records in {files} files"),
        ("same aggregate, raw DuckDB", f"{statistics.median(raw) * 1000:.0f} ms", "same files, 2 threads, in-process"),
        ("ratio tidelake / DuckDB", f"{ratio:.2f}", "target <= 1.2"),
        ("compaction of 2M records", "skipped", "tidelake has no compaction yet"),
    ]
    print_table("tidelake query" + (" (smoke)" if args.smoke else ""), rows, machine_info())


if __name__ == "__main__":
    main()
