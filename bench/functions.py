"""Functions benchmark: Kinesis event source mappings, stream -> function.

    python bench/functions.py            # full run (about a minute)
    python bench/functions.py --smoke    # seconds, for CI: checks the benchmark runs, figures are rough

Runs a Platform in this process (its functions in their worker subprocesses, as the server does):
the Kinesis event built from columns; throughput with records pre-loaded into the stream, BatchSize
1,000 and a trivial handler; put -> handler latency at MaximumBatchingWindowInSeconds 0; and what
idle mappings cost; baseline: a fresh Python process per event. Then the tables benchmark
(bench/tables.py: GetItem, BatchWriteItem), whose figures the same issue sets. Figures are printed, not asserted.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tables  # noqa: E402
from common import arguments, percentile, print_table  # noqa: E402

RECORD = 100
SHARDS = 4
TRIVIAL = "def lambda_handler(event, context):\n    return None\n"
STAMPER = '''
import base64, os, time

def lambda_handler(event, context):
    now = time.time()
    lines = "".join(f"{base64.b64decode(r['kinesis']['data']).decode()} {now}\\n" for r in event["Records"])
    with open(os.environ["OUT"], "a") as f:
        f.write(lines)
'''


def _platform(root: Path, durability: str):  # type: ignore[no-untyped-def]
    from tidelake.config import Settings
    from tidelake.platform import Platform
    settings = Settings(data_dir=root / "data", durability=durability, transition_seconds=0,
                        function_concurrency=64)
    return Platform(settings).start()


def _function(platform, root: Path, name: str, source: str, **env: str) -> None:  # type: ignore[no-untyped-def]
    code = root / name
    code.mkdir()
    (code / "handler.py").write_text(source)
    platform.functions.create_function(name, "handler.lambda_handler", code_dir=code, timeout=60,
                                       environment=dict(env))


def _warm(platform, name: str, workers: int) -> None:  # type: ignore[no-untyped-def]
    """Start the worker processes first: cold starts are not what this measures."""
    threads = [threading.Thread(target=platform.functions.invoke, args=(name, b'{"Records": []}'))
               for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- 1. the event ----------------------------------------------------------------------------------

def event_build(seconds: float) -> float:
    from tidelake.functions.kinesis_events import EventSource, kinesis_event
    from tidelake.stream.log import Columns
    n = 1000
    columns = Columns([os.urandom(RECORD // 2).hex().encode() for _ in range(n)],
                      [f"pk-{i}".encode() for i in range(n)], [1_790_000_000.123] * n, list(range(n)))
    numbers = columns.sequence_numbers(1, 0)
    source = EventSource("arn:aws:kinesis:us-east-1:000000000000:stream/bench", "shardId-000000000000",
                         "us-east-1", "arn:aws:iam::000000000000:role/bench")
    items = list(range(n))
    built = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        kinesis_event(source, columns, numbers, items)
        built += n
    return built / (time.perf_counter() - started)


# -- 2. throughput ---------------------------------------------------------------------------------

def throughput(records: int, durability: str, factor: int) -> dict[str, float]:
    from tidelake.functions.mappings import StartingPosition
    from tidelake.stream.consumer import StreamConsumer
    with tempfile.TemporaryDirectory(prefix="tidelake-bench-") as tmp:
        root = Path(tmp)
        platform = _platform(root, durability)
        try:
            platform.streams.create_stream("bench", SHARDS)
            data = [os.urandom(RECORD // 2).hex().encode() for _ in range(500)]
            for start in range(0, records, 500):
                platform.streams.put_records("bench", data, [f"pk-{start + i}" for i in range(500)])
            _function(platform, root, "trivial", TRIVIAL)
            _warm(platform, "trivial", SHARDS * factor)
            started = time.perf_counter()
            mapping = platform.mappings.create_event_source_mapping(
                platform.streams.stream_arn("bench"), "trivial", starting_position=StartingPosition.TRIM_HORIZON,
                batch_size=1000, parallelization_factor=factor)
            consumer = StreamConsumer(platform.streams, "bench", mapping.consumer_name)
            while consumer.lag()[0]:
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
        finally:
            platform.close()
    return {"rate": records / elapsed, "seconds": elapsed}


def cold_process_baseline(records: int) -> float:
    """Baseline: the same 1,000-record events, each run by a fresh Python process (what a runner
    without warm workers pays per batch), fed over its stdin."""
    import subprocess
    from tidelake.functions.kinesis_events import EventSource, kinesis_event
    from tidelake.stream.log import Columns
    n = 1000
    columns = Columns([os.urandom(RECORD // 2).hex().encode() for _ in range(n)],
                      [f"pk-{i}".encode() for i in range(n)], [1_790_000_000.123] * n, list(range(n)))
    source = EventSource("arn:aws:kinesis:us-east-1:000000000000:stream/bench", "shardId-000000000000",
                         "us-east-1", "arn:aws:iam::000000000000:role/bench")
    event = kinesis_event(source, columns, columns.sequence_numbers(1, 0), list(range(n)))
    run = ("import json, sys\n" + TRIVIAL + "lambda_handler(json.load(sys.stdin), None)\n")
    started = time.perf_counter()
    for _ in range(records // n):
        subprocess.run([sys.executable, "-c", run], input=event, check=True)
    return records / (time.perf_counter() - started)


# -- 3. latency ------------------------------------------------------------------------------------

def latency(seconds: float, durability: str) -> dict[str, float]:
    from tidelake.functions.mappings import StartingPosition
    with tempfile.TemporaryDirectory(prefix="tidelake-bench-") as tmp:
        root = Path(tmp)
        out = root / "seen.txt"
        platform = _platform(root, durability)
        try:
            platform.streams.create_stream("latency", 2)
            _function(platform, root, "stamper", STAMPER, OUT=str(out))
            _warm(platform, "stamper", 2)
            platform.mappings.create_event_source_mapping(
                platform.streams.stream_arn("latency"), "stamper", starting_position=StartingPosition.LATEST,
                maximum_batching_window_in_seconds=0)
            time.sleep(0.3)
            put_at: dict[str, tuple[float, float]] = {}  # record -> (put started, acknowledged)
            n = 0
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                name = f"r{n}"
                before = time.time()
                platform.streams.put_record("latency", name.encode(), name)
                put_at[name] = (before, time.time())
                n += 1
                time.sleep(0.01)
            time.sleep(1.0)
        finally:
            platform.close()
        invoked = dict(line.split() for line in out.read_text().splitlines())
    from_ack = [float(invoked[k]) - acked for k, (_, acked) in put_at.items() if k in invoked]
    from_put = [float(invoked[k]) - before for k, (before, _) in put_at.items() if k in invoked]
    return {"records": len(put_at), "missing": len(put_at) - len(from_ack), "p50": percentile(from_ack, 50),
            "p99": percentile(from_ack, 99), "put_p99": percentile(from_put, 99)}


# -- 4. idle cost ----------------------------------------------------------------------------------

def idle_cost(mappings: int, seconds: float, durability: str) -> dict[str, float]:
    """Process CPU time (every thread) with ``mappings`` idle mappings, against none."""
    from tidelake.functions.mappings import StartingPosition
    with tempfile.TemporaryDirectory(prefix="tidelake-bench-") as tmp:
        root = Path(tmp)
        platform = _platform(root, durability)
        try:
            platform.streams.create_stream("idle", SHARDS)
            time.sleep(0.5)
            before = time.process_time()
            time.sleep(seconds)
            baseline = time.process_time() - before
            for i in range(mappings):
                _function(platform, root, f"idle{i}", TRIVIAL)
                platform.mappings.create_event_source_mapping(platform.streams.stream_arn("idle"), f"idle{i}",
                                                              starting_position=StartingPosition.LATEST)
            time.sleep(0.5)
            before = time.process_time()
            time.sleep(seconds)
            busy = time.process_time() - before
        finally:
            platform.close()
    return {"baseline": baseline / seconds, "idle": busy / seconds}


def main() -> None:
    args = arguments(__doc__)
    seconds = 0.5 if args.smoke else 3.0
    records = 40_000 if args.smoke else 400_000
    rows: list[tuple[str, str, str]] = []
    built = event_build(seconds)
    rows.append(("Kinesis event built from columns (1,000-record batches)", f"{built:,.0f} records/s",
                 "one dict per record, one orjson call"))
    for factor in (1, 2):
        result = throughput(records, args.durability, factor)
        rows.append((f"stream -> function, {SHARDS} shards, BatchSize 1,000, ParallelizationFactor {factor}, "
                     "trivial handler", f"{result['rate']:,.0f} records/s",
                     f"{records:,} pre-loaded records in {result['seconds']:.2f} s, checkpoints committed"
                     + ("; target >= 100,000/s" if factor == 1 else "")))
        if factor == 1:
            warm = result["rate"]
    cold = cold_process_baseline(10_000 if args.smoke else 50_000)
    rows.append(("baseline: a fresh Python process per 1,000-record event, same handler", f"{cold:,.0f} records/s",
                 f"the warm worker pool: {warm / cold:.0f}x"))
    lat = latency(2.0 if args.smoke else 10.0, args.durability)
    rows.append(("put -> handler invoked, MaximumBatchingWindowInSeconds 0", f"p50 {lat['p50'] * 1000:.1f} ms",
                 f"p99 {lat['p99'] * 1000:.1f} ms after the put's ack (p99 {lat['put_p99'] * 1000:.1f} ms after it "
                 f"started); {lat['records']} records, {lat['missing']} missing; target p99 < 200 ms"))
    idle = idle_cost(20, 1.0 if args.smoke else 5.0, args.durability)
    rows.append(("20 idle mappings (4 shards each), CPU of the whole process",
                 f"{(idle['idle'] - idle['baseline']) * 100:.2f}% of a core",
                 f"{idle['idle'] * 100:.2f}% with them, {idle['baseline'] * 100:.2f}% without"))
    print_table(f"tidelake functions benchmark — durability={args.durability}", rows)
    tables.main()  # the key-value figures (GetItem, BatchWriteItem) belong to this run too


if __name__ == "__main__":
    main()
