"""Query benchmark: Athena API overhead and the engine against raw DuckDB on the same lake files.

    python bench/query.py            # full run
    python bench/query.py --smoke    # seconds, for CI: checks the benchmark runs, figures are rough

Through `tidelake up` and boto3, as users run it:
1. a trivial query's round trip (StartQueryExecution, poll GetQueryExecution, GetQueryResults):
   p50 / p95 (target p50 < 30 ms);
2. an aggregate over retail transactions stored as JSON lines in the lake (an external table made by
   Athena DDL) through tidelake, against DuckDB reading the very same files in this process
   (target ratio <= 1.2);
3. compaction in process (no server): 2M workshop records in 10,000 small JSON files over 24 hourly
   partitions, written straight into a temporary lake; the same aggregate through the engine over
   the JSON table, then over the Parquet table compaction made (target speedup >= 15x), and the
   compaction's own time. ``--smoke``: 40,000 records in 200 files.
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


def write_small_files(lake: Path, prefix: str, records: int, files: int, hours: int = 24) -> None:
    """``files`` JSON-lines files of workshop records (keys as the generator spells them) spread over
    ``hours`` hourly partitions, written directly (a pool of encoded lines, cycled: only the volume
    matters here)."""
    import datetime
    source = transactions(now=lambda: datetime.datetime(2026, 1, 1))
    pool = [encode(t) for t in itertools.islice(source, 20_000)]
    per_file = records // files
    for n in range(files):
        folder = lake / prefix / f"year=2026/month=01/day=01/hour={n % hours:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        start = (n * per_file) % (len(pool) - per_file)
        (folder / f"part-{n:05d}.json").write_bytes(b"\n".join(pool[start:start + per_file]) + b"\n")


def compaction_figures(records: int, files: int, repeats: int) -> list[tuple[str, str, str]]:
    """The aggregate over many small JSON files, compaction, then the aggregate over its Parquet."""
    import tempfile
    from datetime import datetime, timezone

    from tidelake.clock import ManualClock
    from tidelake.lake.catalog.store import Catalog
    from tidelake.lake.local_store import LocalObjectStore
    from tidelake.query.compaction import compact
    from tidelake.query.engine import QueryEngine

    with tempfile.TemporaryDirectory(prefix="tidelake-bench-compaction-") as tmp:
        lake = Path(tmp) / "lake"
        started = time.perf_counter()
        objects = LocalObjectStore(lake, fsync=False)
        objects.create_bucket(BUCKET)
        write_small_files(lake / BUCKET, "retail-json", records, files)
        generated = time.perf_counter() - started
        clock = ManualClock(datetime(2026, 1, 2, tzinfo=timezone.utc).timestamp())
        catalog = Catalog(Path(tmp) / "catalog.db", clock, "000000000000")
        engine = QueryEngine(catalog, lake, objects, threads=2)
        try:
            engine.execute("CREATE DATABASE bench")
            engine.execute("CREATE EXTERNAL TABLE retail_json (invoice string, stockcode string, description string, "
                           "quantity int, invoicedate timestamp, price double, customer_id string, country string) "
                           "PARTITIONED BY (year int, month int, day int, hour int) "
                           "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
                           f"LOCATION 's3://{BUCKET}/retail-json/'", "bench")
            engine.execute("MSCK REPAIR TABLE retail_json", "bench")

            def timed(table: str) -> tuple[float, list]:
                rows = engine.execute(AGGREGATE.format(table=table), "bench").rows  # warm-up (key learning)
                times = []
                for _ in range(repeats):
                    began = time.perf_counter()
                    engine.execute(AGGREGATE.format(table=table), "bench")
                    times.append(time.perf_counter() - began)
                return statistics.median(times), rows

            before, rows_before = timed("retail_json")
            began = time.perf_counter()
            report = compact(catalog, engine, objects, ("bench", "retail_json"), ("bench", "retail_parquet"),
                             target_location=f"s3://{BUCKET}/retail-parquet/", clock=clock)
            took = time.perf_counter() - began
            after, rows_after = timed("retail_parquet")
        finally:
            engine.close()
            catalog.close()
    same = "same answer" if _rounded(rows_before) == _rounded(rows_after) else "ANSWERS DIFFER"
    written = sum(p.bytes_out for p in report.partitions)
    read = sum(p.bytes_in for p in report.partitions)
    return [
        ("aggregate over small JSON files", f"{before * 1000:.0f} ms",
         f"median of {repeats} after a warm-up, {records:,} records in {files:,} files, 24 partitions "
         f"(written in {generated:.1f} s)"),
        ("compaction", f"{took:.1f} s", f"{records / took:,.0f} records/s, {read / 2**20:,.0f} MiB JSON -> "
         f"{written / 2**20:,.1f} MiB Parquet in {len(report.partitions)} objects"),
        ("same aggregate after compaction", f"{after * 1000:.0f} ms", f"median of {repeats}, {same}"),
        ("speedup from compaction", f"{before / after:.1f}x", "target >= 15x"),
    ]


def _rounded(rows: list) -> list:
    return [tuple(round(v, 2) if isinstance(v, float) else v for v in row) for row in rows]


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
    ]
    rows += compaction_figures(*((40_000, 200, 3) if args.smoke else (2_000_000, 10_000, 5)))
    print_table("tidelake query" + (" (smoke)" if args.smoke else ""), rows)


if __name__ == "__main__":
    main()
