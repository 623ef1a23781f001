"""Tables benchmark: GetItem latency and BatchWriteItem throughput, in-process and over HTTP.

    python bench/tables.py            # full run (about half a minute)
    python bench/tables.py --smoke    # seconds, for CI: checks the benchmark runs, figures are rough

Items are the rows of products.csv (the seed's products_info table, ~190 bytes each). Over HTTP,
boto3's own cost per call is measured beside the server's: the same BatchWriteItem bodies are also
sent pre-encoded by bare keep-alive HTTP clients. Baseline: moto's DynamoDB server in this process,
driven by the same boto3 calls. Figures are printed, not asserted.
"""
from __future__ import annotations

import csv
import http.client
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ServerUnderTest, arguments, moto_server, percentile, print_table  # noqa: E402

PRODUCTS = Path(__file__).resolve().parents[1] / "src" / "tidelake" / "generate" / "data" / "products.csv"
BATCH = 25  # BatchWriteItem's limit


def products() -> list[dict[str, str]]:
    with open(PRODUCTS, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def renamed(rows: list[dict[str, str]], n: int) -> list[dict[str, str]]:
    """``n`` items: the products again and again, each copy under new keys."""
    return [{**rows[i % len(rows)], "product_cd": f"{rows[i % len(rows)]['product_cd']}-{i}"} for i in range(n)]


# -- in-process -----------------------------------------------------------------------------------

def in_process(seconds: float, durability: str) -> dict[str, float]:
    from tidelake.clock import SystemClock
    from tidelake.tables.models import KeyAttribute, Write
    from tidelake.tables.store import TableStore

    items = renamed(products(), 300_000)
    with tempfile.TemporaryDirectory() as tmp:
        store = TableStore(Path(tmp) / "tables.db", SystemClock(), "us-east-1", "000000000000",
                           fsync=durability == "fsync")
        store.create_table("products_info", KeyAttribute("product_cd", "S"))
        rates = {}
        cursor = [0]
        lock = threading.Lock()
        for threads in (1, 4):
            def writer() -> None:
                stop = time.perf_counter() + seconds
                while time.perf_counter() < stop:
                    with lock:
                        first = cursor[0]
                        cursor[0] += BATCH
                    if first + BATCH > len(items):
                        return
                    store.batch_write([Write("products_info", item=item) for item in items[first:first + BATCH]])
            before, started = cursor[0], time.perf_counter()
            workers = [threading.Thread(target=writer) for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            rates[threads] = (cursor[0] - before) / (time.perf_counter() - started)
        started = time.perf_counter()
        bulk = items[cursor[0]:cursor[0] + 20_000]
        for i in range(0, len(bulk), 1000):
            store.batch_put("products_info", bulk[i:i + 1000])
        bulk_rate = len(bulk) / (time.perf_counter() - started)
        keys = [{"product_cd": item["product_cd"]} for item in items[:cursor[0]]]
        random.Random(1).shuffle(keys)
        latencies = []
        deadline = time.perf_counter() + seconds
        for key in keys:
            t0 = time.perf_counter()
            store.get_item("products_info", key)
            latencies.append(time.perf_counter() - t0)
            if t0 > deadline:
                break
        codes = [k["product_cd"] for k in keys[:1000]]
        t0 = time.perf_counter()
        store.lookup("products_info", codes)
        lookup = (time.perf_counter() - t0) / len(codes)
        store.close()
    return {"batch_1": rates[1], "batch_4": rates[4], "bulk": bulk_rate, "get_p50": percentile(latencies, 50),
            "get_p99": percentile(latencies, 99), "gets": len(latencies), "lookup": lookup}


# -- over HTTP ------------------------------------------------------------------------------------

def _client(url: str, validate: bool = True):
    import boto3
    from botocore.config import Config
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                        aws_secret_access_key="bench",
                        config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate))


def _wire(item: dict[str, str]) -> dict[str, dict[str, str]]:
    return {k: {"S": v} for k, v in item.items()}


def _boto3_writer(url: str, offset: int, seconds: float, queue: "multiprocessing.Queue") -> None:
    client = _client(url)
    items = renamed(products(), 100_000)[offset::4]
    written, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds and written + BATCH <= len(items):
        batch = [{"PutRequest": {"Item": _wire(item)}} for item in items[written:written + BATCH]]
        client.batch_write_item(RequestItems={"products_info": batch})
        written += BATCH
    queue.put((written, time.perf_counter() - started, time.process_time() - cpu))


def boto3_writes(url: str, processes: int, seconds: float) -> dict[str, float]:
    """Items/s, and the CPU time boto3 spends in the client per call (serializing, signing, parsing)."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_boto3_writer, args=(url, i, seconds, queue)) for i in range(processes)]
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    written = sum(n for n, _, _ in results)
    return {"rate": written / max(t for _, t, _ in results),
            "client_cpu": sum(c for _, _, c in results) / max(written / BATCH, 1)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_writes(url: str, threads: int, seconds: float) -> int:
    """The server's own rate: bodies encoded before the clock starts, one keep-alive connection each."""
    import orjson
    address = urlparse(url)
    items = renamed(products(), 60_000)
    bodies = [orjson.dumps({"RequestItems": {"products_info": [{"PutRequest": {"Item": _wire(item)}}
                                                               for item in items[i:i + BATCH]]}})
              for i in range(0, len(items), BATCH)]
    counts: list[int] = []

    def writer(mine: list[bytes]) -> None:
        conn = http.client.HTTPConnection(address.hostname, address.port)
        done, stop = 0, time.perf_counter() + seconds
        for body in mine:
            if time.perf_counter() > stop:
                break
            conn.request("POST", "/", body=body, headers={"X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
                                                          "Content-Type": "application/x-amz-json-1.0"})
            answer = conn.getresponse()
            answer.read()
            assert answer.status == 200, answer.status
            done += BATCH
        counts.append(done)
        conn.close()
    workers = [threading.Thread(target=writer, args=(bodies[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts)


def boto3_gets(url: str, seconds: float) -> dict[str, float]:
    client = _client(url)
    codes = [row["product_cd"] for row in products()]
    random.Random(2).shuffle(codes)
    latencies = []
    deadline = time.perf_counter() + seconds
    for code in codes * 20:
        t0 = time.perf_counter()
        assert "Item" in client.get_item(TableName="products_info", Key={"product_cd": {"S": code}})
        latencies.append(time.perf_counter() - t0)
        if t0 > deadline:
            break
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "n": len(latencies)}


def load_products(url: str) -> float:
    client = _client(url)
    client.create_table(TableName="products_info", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "product_cd", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "product_cd", "AttributeType": "S"}])
    rows = products()
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        client.batch_write_item(RequestItems={"products_info": [{"PutRequest": {"Item": _wire(r)}}
                                                                for r in rows[i:i + BATCH]]})
    return time.perf_counter() - started


def moto_baseline(seconds: float) -> dict[str, float] | None:
    """The same boto3 calls against moto's DynamoDB server, started in this process."""
    with moto_server() as url:
        if url is None:
            return None
        loaded = load_products(url)
        return {"load": 5446 / loaded, "get_p50": boto3_gets(url, seconds)["p50"]}


def main() -> None:
    args = arguments(__doc__)
    seconds = 0.5 if args.smoke else 3.0
    rows: list[tuple[str, str, str]] = []

    local = in_process(seconds, args.durability)
    rows.append(("GetItem in-process (TableStore.get_item, random keys)", f"p50 {local['get_p50'] * 1e6:.0f} µs",
                 f"p99 {local['get_p99'] * 1e6:.0f} µs over {local['gets']:,} gets; target p50 < 1 ms"))
    rows.append(("lookup in-process (TableStore.lookup, 1,000 plain keys)", f"{local['lookup'] * 1e6:.1f} µs/key",
                 "items as Python values, for enrichment"))
    for threads in (1, 4):
        rows.append((f"BatchWriteItem in-process (TableStore.batch_write, 25 items/call, {threads} thread(s))",
                     f"{local[f'batch_{threads}']:,.0f} items/s",
                     "one commit per call: fsync-bound" if threads == 1 else
                     "group commit: concurrent calls share one fsync; target >= 20,000/s"))
    rows.append(("bulk load in-process (TableStore.batch_put, 1,000 items/call)", f"{local['bulk']:,.0f} items/s",
                 "the path a CSV load inside the platform takes"))

    server = ServerUnderTest(durability=args.durability)
    with server as url:
        loaded = load_products(url)
        rows.append(("load products.csv via boto3 BatchWriteItem (5,446 items, 1 client)", f"{loaded:.2f} s",
                     f"{5446 / loaded:,.0f} items/s"))
        gets = boto3_gets(url, seconds)
        rows.append(("GetItem over HTTP via boto3 (keep-alive, 1 client)", f"p50 {gets['p50'] * 1000:.2f} ms",
                     f"p99 {gets['p99'] * 1000:.2f} ms over {gets['n']:,} gets; target p50 < 5 ms"))
        for processes in (1, 2):
            boto = boto3_writes(url, processes, seconds)
            rows.append((f"BatchWriteItem over HTTP via boto3, {processes} client process(es), 25 items/call",
                         f"{boto['rate']:,.0f} items/s",
                         f"boto3 CPU {boto['client_cpu'] * 1000:.2f} ms/call in the client (caps one client at "
                         f"{BATCH / boto['client_cpu']:,.0f} items/s per core)"
                         + ("; target >= 20,000/s" if processes == 2 else "")))
        cpu, started = cpu_seconds(server.process.pid), time.perf_counter()
        written = raw_writes(url, 2, seconds)
        elapsed, server_cpu = time.perf_counter() - started, cpu_seconds(server.process.pid) - cpu
        per_call = server_cpu / max(written / BATCH, 1)
        rows.append(("BatchWriteItem over HTTP, bare keep-alive clients (2, bodies pre-encoded)",
                     f"{written / elapsed:,.0f} items/s",
                     f"server CPU {per_call * 1000:.2f} ms/call (caps the server at {BATCH / per_call:,.0f} items/s "
                     "per core)"))
    moto = moto_baseline(seconds)
    if moto is not None:
        rows.append(("baseline: moto DynamoDB server in this process, same boto3 calls",
                     f"{moto['load']:,.0f} items/s", f"products.csv load (tidelake {5446 / loaded:,.0f}/s); GetItem p50 "
                     f"{moto['get_p50'] * 1000:.2f} ms (tidelake {gets['p50'] * 1000:.2f} ms)"))
    print_table(f"tidelake tables benchmark — durability={args.durability}", rows)



if __name__ == "__main__":
    main()
