"""Stream benchmark: in-process append, PutRecords through the API, GetRecords read-back, put->get latency.

    python bench/stream.py            # full run (about a minute)
    python bench/stream.py --smoke    # seconds, for CI: checks the benchmark runs, figures are rough

Prints a table of figures with the machine and the durability setting. Baselines run in the same
process: SQLite with one row per record (the naive log), and moto's Kinesis (if installed). The
"ceiling" rows run the same boto3 clients against a server that only sends a canned reply: on 2
shared cores, boto3's own CPU per 500-record call (printed with each PutRecords row) bounds every
PutRecords figure.
Figures are printed, not asserted.
"""
from __future__ import annotations

import multiprocessing
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ServerUnderTest, arguments, moto_server, percentile, print_table  # noqa: E402

RECORD = 200
BATCH = 500


def payloads(n: int) -> tuple[list[bytes], list[str]]:
    return [os.urandom(RECORD // 2).hex().encode() for _ in range(n)], [f"pk-{i}" for i in range(n)]


# -- 1. in-process append ----------------------------------------------------------------------

def in_process(seconds: float, durability: str) -> dict[str, float]:
    from tidelake.clock import SystemClock
    from tidelake.config import Settings
    from tidelake.stream.store import StreamStore

    with tempfile.TemporaryDirectory() as tmp:
        store = StreamStore.open(Settings(data_dir=Path(tmp), durability=durability, transition_seconds=0),
                                 SystemClock())
        store.create_stream("bench", 4)
        data, keys = payloads(BATCH)
        counts = [0] * 4
        stop = time.perf_counter() + seconds

        def writer(slot: int) -> None:
            while time.perf_counter() < stop:
                store.put_records("bench", data, keys)
                counts[slot] += BATCH
        started = time.perf_counter()
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rate = sum(counts) / (time.perf_counter() - started)
        store.close()
    return {"rate": rate}


def log_append(seconds: float, durability: str) -> float:
    """The durable log alone: packed 500-record batches from 2 threads, group commit."""
    from tidelake.stream.log import StreamLog

    data, keys = payloads(BATCH)
    encoded = [k.encode() for k in keys]
    counter = [0]
    lock = threading.Lock()
    with tempfile.TemporaryDirectory() as tmp:
        log = StreamLog(Path(tmp) / "log.db", durability)
        stop = time.perf_counter() + seconds

        def writer() -> None:
            pending = []
            while time.perf_counter() < stop:
                with lock:
                    first = counter[0]
                    counter[0] += BATCH
                pending.append(log.submit(log.append_job([log.batch(1, first % 4, first, 0, encoded, data)])))
                if len(pending) > 8:  # keep a few requests in flight, as concurrent clients do
                    pending.pop(0).result()
            for future in pending:
                future.result()
        started = time.perf_counter()
        threads = [threading.Thread(target=writer) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rate = counter[0] / (time.perf_counter() - started)
        log.close()
    return rate


def sqlite_row_per_record(seconds: float, durability: str) -> float:
    """Baseline: the naive durable log, one SQLite row per record, one transaction per request."""
    data, keys = payloads(BATCH)
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "naive.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'fsync' else 'NORMAL'}")
        conn.execute("CREATE TABLE records (shard INTEGER, seq INTEGER, pk TEXT, data BLOB, "
                     "PRIMARY KEY (shard, seq))")
        n = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?)",
                             [(i % 4, n + i, keys[i], data[i]) for i in range(BATCH)])
            conn.execute("COMMIT")
            n += BATCH
        rate = n / (time.perf_counter() - started)
        conn.close()
    return rate


# -- 2. PutRecords through the API ----------------------------------------------------------

def _client(url: str, validate: bool = True):
    import boto3
    from botocore.config import Config
    # parameter_validation=False is botocore's own switch for producers that trust their input:
    # it halves the client's CPU per 500-record call (~6 ms -> ~3.4 ms), which on 2 shared cores
    # is the larger half of the cost. The server validates every call either way.
    config = Config(retries={"total_max_attempts": 1}, parameter_validation=validate)
    return boto3.client("kinesis", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                        aws_secret_access_key="bench", config=config)


def _producer(url: str, stream: str, seconds: float, queue: "multiprocessing.Queue", validate: bool,
              threads: int, start: Any) -> None:
    """One client process; with threads > 1, its threads share one boto3 client (clients are
    thread-safe), so one call's serialization overlaps another's wait for the server. Every process
    imports boto3 and makes a first call before the common start, so the window measures puts only."""
    client = _client(url, validate)
    data, keys = payloads(BATCH)
    records = [{"Data": d, "PartitionKey": k} for d, k in zip(data, keys)]
    client.put_records(StreamName=stream, Records=records)
    latencies: list[float] = []
    sent = [0] * threads
    start.wait()
    cpu = time.process_time()
    stop = time.perf_counter() + seconds

    def run(slot: int) -> None:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            answer = client.put_records(StreamName=stream, Records=records)
            latencies.append(time.perf_counter() - t0)
            sent[slot] += BATCH - answer["FailedRecordCount"]
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((sum(sent), latencies, time.process_time() - cpu))


def api_put(url: str, stream: str, clients: int, seconds: float, validate: bool = True,
            threads: int = 1) -> dict[str, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    start = multiprocessing.Barrier(clients + 1)
    procs = [multiprocessing.Process(target=_producer, args=(url, stream, seconds, queue, validate, threads, start))
             for _ in range(clients)]
    for p in procs:
        p.start()
    start.wait()
    started = time.perf_counter()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for _, lat, _ in results for x in lat)
    return {"rate": sum(s for s, _, _ in results) / elapsed, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99), "records": sum(s for s, _, _ in results),
            "client_cpu_per_call": sum(c for _, _, c in results) / max(1, len(latencies))}


# -- the clients' own ceiling ------------------------------------------------------------------

def _canned_server(port: int, ready: Any) -> None:
    """An HTTP server that answers every request with the same 500-record PutRecords reply and
    does nothing else: what boto3 reaches on this machine when the server costs ~nothing."""
    import asyncio

    import orjson
    body = orjson.dumps({"FailedRecordCount": 0, "Records": [
        {"SequenceNumber": "4" + "9" * 55, "ShardId": "shardId-000000000000"}] * BATCH})
    reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: "
             + str(len(body)).encode() + b"\r\n\r\n" + body)

    class Canned(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport, self.buffer = transport, bytearray()

        def data_received(self, chunk: bytes) -> None:
            self.buffer += chunk
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                head = bytes(self.buffer[:end]).lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15:].split(b"\r\n", 1)[0]) if at >= 0 else 0
                if len(self.buffer) < end + 4 + length:
                    return
                del self.buffer[:end + 4 + length]
                self.transport.write(reply)

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Canned, "127.0.0.1", port)
        ready.set()
        await server.serve_forever()
    asyncio.run(serve())


def client_ceiling(seconds: float, validate: bool) -> dict[str, float]:
    from common import free_port
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_canned_server, args=(port, ready), daemon=True)
    server.start()
    ready.wait(10)
    try:
        return api_put(f"http://127.0.0.1:{port}", "bench", 2, seconds, validate)
    finally:
        server.kill()


# -- 3. GetRecords read-back ----------------------------------------------------------------

def api_read(url: str, stream: str) -> dict[str, float]:
    client = _client(url)
    total = 0
    started = time.perf_counter()
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            answer = client.get_records(ShardIterator=iterator, Limit=10_000)
            total += len(answer["Records"])
            if answer["MillisBehindLatest"] == 0 and len(answer["Records"]) < 10_000:
                break
            iterator = answer.get("NextShardIterator")
    return {"rate": total / (time.perf_counter() - started), "records": total}


def api_read_raw(url: str, stream: str, readers: int = 2) -> dict[str, float]:
    """The same read with bare HTTP clients (keep-alive, no botocore parsing), one per shard group,
    as a consumer with a worker per shard reads: the server's own read rate."""
    import http.client
    from urllib.parse import urlparse

    import orjson

    address = urlparse(url)

    def reader(shards: list[str], counts: list[int]) -> None:
        conn = http.client.HTTPConnection(address.hostname, address.port)

        def call(operation: str, body: dict) -> dict:
            conn.request("POST", "/", body=orjson.dumps(body), headers={
                "X-Amz-Target": f"Kinesis_20131202.{operation}", "Content-Type": "application/x-amz-json-1.1"})
            return orjson.loads(conn.getresponse().read())
        for shard_id in shards:
            iterator = call("GetShardIterator", {"StreamName": stream, "ShardId": shard_id,
                                                 "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
            while iterator:
                answer = call("GetRecords", {"ShardIterator": iterator, "Limit": 10_000})
                counts.append(len(answer["Records"]))
                if answer["MillisBehindLatest"] == 0 and len(answer["Records"]) < 10_000:
                    break
                iterator = answer.get("NextShardIterator")
        conn.close()

    shard_ids = [s["ShardId"] for s in _client(url).list_shards(StreamName=stream)["Shards"]]
    counts: list[int] = []
    started = time.perf_counter()
    threads = [threading.Thread(target=reader, args=(shard_ids[i::readers], counts)) for i in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(counts)
    return {"rate": total / (time.perf_counter() - started), "records": total}


# -- 4. put -> get latency ------------------------------------------------------------------

def _get_records(url: str, bare: bool) -> Callable[[str], tuple[list[bytes], str]]:
    """GetRecords for the latency consumer: (records' data, next iterator), via boto3 or bare HTTP
    (keep-alive, orjson: what the server itself takes, without botocore's parsing)."""
    if not bare:
        client = _client(url)

        def get(iterator: str) -> tuple[list[bytes], str]:
            answer = client.get_records(ShardIterator=iterator)
            return [r["Data"] for r in answer["Records"]], answer["NextShardIterator"]
        return get
    import base64
    import http.client
    from urllib.parse import urlparse

    import orjson
    address = urlparse(url)
    conn = http.client.HTTPConnection(address.hostname, address.port)

    def get_bare(iterator: str) -> tuple[list[bytes], str]:
        conn.request("POST", "/", body=orjson.dumps({"ShardIterator": iterator}), headers={
            "X-Amz-Target": "Kinesis_20131202.GetRecords", "Content-Type": "application/x-amz-json-1.1"})
        answer = orjson.loads(conn.getresponse().read())
        return [base64.b64decode(r["Data"]) for r in answer["Records"]], answer["NextShardIterator"]
    return get_bare


def latency(url: str, seconds: float, bare: bool, poll: float = 0.05) -> dict[str, float]:
    """A producer puts single records; a consumer polls every shard every 50 ms.

    "server lag" is, per record, how long after its put was acknowledged *and* a poll had started
    the record reached the consumer: the poll's own round trip when the server adds nothing. With
    ``bare``, the consumer speaks HTTP itself, so the lag leaves out botocore's client-side work."""
    client = _client(url)
    stream = f"latency-{'bare' if bare else 'boto3'}"
    client.create_stream(StreamName=stream, ShardCount=2)
    while client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        time.sleep(0.01)
    acked: dict[bytes, float] = {}
    seen: dict[bytes, tuple[float, float]] = {}  # data -> (poll started, received)
    stop = threading.Event()

    def consume() -> None:
        get = _get_records(url, bare)
        iterators = {s["ShardId"]: client.get_shard_iterator(StreamName=stream, ShardId=s["ShardId"],
                                                             ShardIteratorType="LATEST")["ShardIterator"]
                     for s in client.list_shards(StreamName=stream)["Shards"]}
        while not stop.is_set():
            for shard_id, iterator in iterators.items():
                started = time.perf_counter()
                records, iterators[shard_id] = get(iterator)
                received = time.perf_counter()
                for data in records:
                    seen[data] = (started, received)
            time.sleep(poll)
    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(0.3)
    producer = _client(url)
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        data = f"r{n}".encode()
        producer.put_record(StreamName=stream, Data=data, PartitionKey=str(n))
        acked[data] = time.perf_counter()
        n += 1
        time.sleep(0.01)
    time.sleep(0.3)
    stop.set()
    consumer.join()
    end_to_end = sorted(seen[d][1] - t for d, t in acked.items() if d in seen)
    lag = sorted(seen[d][1] - max(t, seen[d][0]) for d, t in acked.items() if d in seen)
    late = sum(1 for d, t in acked.items() if d in seen and seen[d][0] > t + poll * 2 + 0.1)
    return {"records": len(acked), "missing": len(acked) - len(seen), "e2e_p50": percentile(end_to_end, 50),
            "e2e_p99": percentile(end_to_end, 99), "lag_p50": percentile(lag, 50), "lag_p99": percentile(lag, 99),
            "late": late}


# -- baseline: moto's Kinesis in this process ---------------------------------------------------

def moto_put(seconds: float) -> float | None:
    with moto_server() as url:
        if url is None:
            return None
        client = _client(url)
        client.create_stream(StreamName="bench", ShardCount=4)
        data, keys = payloads(BATCH)
        records = [{"Data": d, "PartitionKey": k} for d, k in zip(data, keys)]
        sent = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            sent += BATCH - client.put_records(StreamName="bench", Records=records)["FailedRecordCount"]
        return sent / (time.perf_counter() - started)


def main() -> None:
    args = arguments(__doc__)
    seconds = 1.0 if args.smoke else 5.0
    rows: list[tuple[str, str, str]] = []

    appended = log_append(seconds, args.durability)
    local = in_process(seconds, args.durability)
    naive = sqlite_row_per_record(seconds, args.durability)
    rows.append(("durable log append, group commit (StreamLog, 500-record batches)", f"{appended:,.0f} records/s",
                 f"{appended / naive:.1f}x SQLite row-per-record ({naive:,.0f}/s); target >= 1,000,000/s"))
    rows.append(("in-process put (StreamStore.put_records: hash, route, number, append; 4 threads, 4 shards)",
                 f"{local['rate']:,.0f} records/s", f"{local['rate'] / naive:.1f}x SQLite row-per-record"))

    with ServerUnderTest(durability=args.durability) as url:
        client = _client(url)
        client.create_stream(StreamName="bench", ShardCount=4)
        while client.describe_stream_summary(StreamName="bench")["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
            time.sleep(0.01)
        for clients, validate, threads in ((1, True, 1), (2, True, 1), (2, True, 8), (2, False, 1), (2, False, 8)):
            put = api_put(url, "bench", clients, seconds, validate, threads)
            client_side = ("" if validate else ", client parameter_validation=False") + (
                f", {threads} threads each" if threads > 1 else "")
            rows.append((f"PutRecords 500 x {RECORD} B via boto3, {clients} client process(es){client_side}",
                         f"{put['rate']:,.0f} records/s",
                         f"call p50 {put['p50'] * 1000:.1f} ms, p99 {put['p99'] * 1000:.1f} ms; client CPU "
                         f"{put['client_cpu_per_call'] * 1000:.1f} ms per call"
                         + ("; target >= 150,000/s" if clients == 2 else "")))
        read = api_read(url, "bench")
        rows.append(("GetRecords read-back via boto3 (Limit 10,000)", f"{read['rate']:,.0f} records/s",
                     f"{read['records']:,} records; client-side parsing included"))
        raw = api_read_raw(url, "bench")
        rows.append(("GetRecords read-back, bare HTTP clients (2 readers, keep-alive)", f"{raw['rate']:,.0f} records/s",
                     f"{raw['records']:,} records; target >= 300,000/s"))
        for bare in (False, True):
            lat = latency(url, 2.0 if args.smoke else 10.0, bare)
            consumer = "a bare HTTP consumer" if bare else "a boto3 consumer"
            rows.append((f"put -> get, {consumer} polling every 50 ms", f"p50 {lat['e2e_p50'] * 1000:.1f} ms",
                         f"p99 {lat['e2e_p99'] * 1000:.1f} ms; {lat['records']} records, {lat['missing']} missing"))
            rows.append(("  of which the server adds (lag after ack and poll start)" if bare else
                         "  lag after ack and poll start (the server plus botocore's own work)",
                         f"p50 {lat['lag_p50'] * 1000:.2f} ms",
                         f"p99 {lat['lag_p99'] * 1000:.2f} ms{'; target < 5 ms' if bare else ''}; {lat['late']} "
                         "seen later than the first poll after their ack"))

    for validate in (True, False):
        ceiling = client_ceiling(seconds, validate)
        cpu = ceiling["client_cpu_per_call"]
        rows.append((f"ceiling: the same 2 boto3 processes against a server that does nothing (canned reply)"
                     + ("" if validate else ", parameter_validation=False"), f"{ceiling['rate']:,.0f} records/s",
                     f"what the clients alone reach on these 2 cores: {cpu * 1000:.1f} ms of client CPU per call, "
                     f"{cpu * 300:.2f} cores at 150,000 records/s"))
    moto = moto_put(seconds)
    if moto is not None:
        rows.append(("baseline: moto Kinesis PutRecords, 1 client, same process", f"{moto:,.0f} records/s",
                     f"tidelake 1 client: {rows[2][1]}"))
    print_table(f"tidelake stream benchmark — durability={args.durability}", rows)



if __name__ == "__main__":
    main()
