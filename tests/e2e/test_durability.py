"""Acknowledged means durable: producers write while the server is killed with SIGKILL, repeatedly.

After each restart every acknowledged record is readable exactly once, in order per partition key,
and each producer's in-flight request is either wholly present or wholly absent.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from support import ServerProcess

PRODUCERS = 6
BATCH = 25
CYCLES = 3

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


class Producer(threading.Thread):
    """Puts batches with partition key ``p<id>`` until the server stops answering."""

    def __init__(self, server: ServerProcess, stream: str, ident: int, start_at: int) -> None:
        super().__init__(daemon=True)
        self.client = server.client("kinesis")
        self.stream, self.producer_id, self.next = stream, ident, start_at
        self.acknowledged: list[int] = []
        self.in_flight: list[int] = []

    def run(self) -> None:
        while True:
            numbers = list(range(self.next, self.next + BATCH))
            self.in_flight = numbers
            try:
                answer = self.client.put_records(StreamName=self.stream, Records=[
                    {"Data": f"{self.producer_id}:{n}".encode(), "PartitionKey": f"p{self.producer_id}"} for n in numbers])
            except (BotoCoreError, ClientError):
                return  # the server is gone: this batch is unacknowledged
            assert answer["FailedRecordCount"] == 0
            self.acknowledged.extend(numbers)
            self.in_flight = []
            self.next += BATCH


def read_all(client: Any, stream: str) -> list[tuple[str, bytes]]:
    records = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            answer = client.get_records(ShardIterator=iterator, Limit=10_000)
            records.extend((r["PartitionKey"], r["Data"]) for r in answer["Records"])
            if not answer["Records"] and answer["MillisBehindLatest"] == 0:
                break
            iterator = answer.get("NextShardIterator")
    return records


def test_acknowledged_records_survive_kill_9(server_factory):
    server = server_factory()
    server.client("kinesis").create_stream(StreamName="durable", ShardCount=3)
    acknowledged: dict[int, list[int]] = defaultdict(list)
    last_in_flight: dict[int, list[int]] = {}
    next_number = defaultdict(int)
    for cycle in range(CYCLES):
        producers = [Producer(server, "durable", i, next_number[i]) for i in range(PRODUCERS)]
        for p in producers:
            p.start()
        time.sleep(1.0 + 0.3 * cycle)
        server.kill()
        for p in producers:
            p.join(timeout=30)
            assert not p.is_alive()
            acknowledged[p.producer_id].extend(p.acknowledged)
            last_in_flight[p.producer_id] = p.in_flight
        server.start()
        read = read_all(server.client("kinesis"), "durable")
        by_key: dict[int, list[int]] = defaultdict(list)
        for key, data in read:
            ident, number = data.decode().split(":")
            assert key == f"p{ident}"
            by_key[int(ident)].append(int(number))
        for ident in range(PRODUCERS):
            got = by_key[ident]
            assert got == sorted(got), f"producer {ident}: records out of order"
            assert len(got) == len(set(got)), f"producer {ident}: duplicates"
            acked = acknowledged[ident]
            assert got[:len(acked)] == acked, f"cycle {cycle}: producer {ident} lost acknowledged records"
            extra = got[len(acked):]
            assert extra in ([], last_in_flight[ident]), f"producer {ident}: partial batch {extra}"
            if extra:  # committed but not acknowledged: it is part of the history now
                acknowledged[ident].extend(extra)
            next_number[ident] = (got[-1] + 1) if got else 0
        assert sum(len(v) for v in acknowledged.values()) > PRODUCERS * BATCH * (cycle + 1)
