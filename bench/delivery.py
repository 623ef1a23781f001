"""Delivery benchmark: stream -> lake as JSON lines and as Parquet, and put -> object latency.

    python bench/delivery.py            # full run
    python bench/delivery.py --smoke    # seconds, for CI

In-process (no HTTP): a 4-shard stream is loaded with retail transactions (~220 bytes of JSON each),
then a delivery stream is flushed and timed from the first read to the last object written.
Baseline in the same process: DuckDB converting the same records from a JSON-lines file to Parquet.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import percentile, print_table  # noqa: E402

from tidelake.config import Settings  # noqa: E402
from tidelake.delivery.convert import Column, TableSchema  # noqa: E402
from tidelake.delivery.models import BufferingHints, FormatConversion, Processor, S3Destination  # noqa: E402
from tidelake.generate.retail import encode, transactions  # noqa: E402
from tidelake.platform import Platform  # noqa: E402

SCHEMA = TableSchema((Column("invoice", "string"), Column("stockcode", "string"), Column("description", "string"),
                      Column("quantity", "int"), Column("invoicedate", "timestamp"), Column("price", "double"),
                      Column("customer_id", "string"), Column("country", "string")))


def load(platform: Platform, stream: str, records: list[bytes]) -> None:
    keys = [str(i) for i in range(500)]
    for start in range(0, len(records), 500):
        chunk = records[start:start + 500]
        platform.streams.put_records(stream, chunk, keys[:len(chunk)])


def delivery_rate(records: list[bytes], parquet: bool) -> tuple[float, int]:
    """Records/s from the first read of the source to the last object in the lake."""
    with tempfile.TemporaryDirectory() as tmp, Platform(Settings(data_dir=Path(tmp), transition_seconds=0)) as p:
        p.objects.create_bucket("bench")
        p.streams.create_stream("source", 4)
        p.delivery.register_schema("bench", "retail", SCHEMA)
        dest = S3Destination("bench", prefix="out/", buffering_hints=BufferingHints(128, 900),
                             processing_enabled=not parquet, processors=[Processor("AppendDelimiterToRecord")],
                             format_conversion=FormatConversion(SCHEMA) if parquet else None)
        p.delivery.create_delivery_stream("bench", dest, source_stream="source")
        load(p, "source", records[:100])  # warm up: the first flush loads DuckDB and pyarrow's writers
        assert p.delivery.flush("bench", timeout=600)
        warm = p.delivery.metrics("bench").delivered_records
        load(p, "source", records)
        started = time.perf_counter()
        assert p.delivery.flush("bench", timeout=600)
        elapsed = time.perf_counter() - started
        delivered = p.delivery.metrics("bench").delivered_records - warm
        return delivered / elapsed, p.delivery.metrics("bench").delivered_objects - 1


def duckdb_baseline(records: list[bytes]) -> float:
    import duckdb
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.json"
        source.write_bytes(b"\n".join(records) + b"\n")
        columns = "{" + ", ".join(f"'{c.name}': '{'TIMESTAMP' if c.type == 'timestamp' else 'VARCHAR' if c.type == 'string' else 'INTEGER' if c.type == 'int' else 'DOUBLE'}'" for c in SCHEMA.columns) + "}"
        started = time.perf_counter()
        duckdb.sql(f"COPY (SELECT * FROM read_json('{source}', format='newline_delimited', columns={columns}, "
                   f"timestampformat='%Y-%m-%d %H:%M:%S')) TO '{Path(tmp) / 'out.parquet'}' "
                   "(FORMAT PARQUET, COMPRESSION SNAPPY)")
        return len(records) / (time.perf_counter() - started)


def latency(samples: int) -> list[float]:
    """DirectPut with IntervalInSeconds=0: time from the acknowledged put to the object being listable."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, Platform(Settings(data_dir=Path(tmp), transition_seconds=0)) as p:
        p.objects.create_bucket("bench")
        p.delivery.create_delivery_stream("fast", S3Destination("bench", prefix="fast/",
                                                                buffering_hints=BufferingHints(1, 0)))
        for i in range(samples):
            seen = len(p.objects.list_objects("bench", prefix="fast/").objects)
            p.delivery.put_record_batch("fast", [f"record {i}\n".encode()])
            acked = time.perf_counter()
            while len(p.objects.list_objects("bench", prefix="fast/").objects) == seen:
                time.sleep(0.002)
            out.append(time.perf_counter() - acked)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds in all, for CI")
    args = parser.parse_args()
    count = 50_000 if args.smoke else 1_000_000
    source = transactions()
    records = [encode(next(source)) for _ in range(count)]
    size = sum(map(len, records)) / count
    rows = []
    rate, objects = delivery_rate(records, parquet=False)
    rows.append((f"stream -> lake, JSON lines ({count:,} records of {size:.0f} B)", f"{rate:,.0f} records/s",
                 f"{objects} object(s); target >= 500,000/s"))
    rate, objects = delivery_rate(records, parquet=True)
    baseline = duckdb_baseline(records)
    rows.append(("stream -> lake, JSON -> Parquet (snappy)", f"{rate:,.0f} records/s",
                 f"{objects} object(s); {rate / baseline:.2f}x raw DuckDB read_json -> Parquet ({baseline:,.0f}/s) "
                 "on a file; target >= 300,000/s"))
    lat = latency(10 if args.smoke else 100)
    rows.append(("put -> object listable, IntervalInSeconds=0", f"p50 {percentile(lat, 50) * 1000:.0f} ms",
                 f"p99 {percentile(lat, 99) * 1000:.0f} ms over {len(lat)} puts; target p99 < 1 s"))
    print_table("tidelake delivery benchmark — durability=fsync", rows)


if __name__ == "__main__":
    main()
