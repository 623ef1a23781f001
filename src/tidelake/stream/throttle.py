"""Per-shard throughput limits of Kinesis Data Streams, as token buckets (off unless configured)."""
from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(slots=True)
class Bucket:
    """Refills at ``rate`` per second up to ``burst``. ``charge`` may overdraw: the debt is paid back
    by time, which is how Kinesis throttles the reads that follow one large GetRecords."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, amount: float, now: float) -> bool:
        self.refill(now)
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True

    def charge(self, amount: float) -> None:
        self.tokens -= amount


class ShardLimits:
    """Write: 1,000 records/s and 1 MiB/s per shard. Read: 5 calls/s and 2 MiB/s per shard."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[int, int, str], Bucket] = {}

    def _bucket(self, key: tuple[int, int, str], rate: float, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(rate, rate, rate, now)
        return bucket

    def admit_write(self, stream_key: int, shard_index: int, size: int, now: float) -> bool:
        records = self._bucket((stream_key, shard_index, "wr"), 1000, now)
        data = self._bucket((stream_key, shard_index, "wb"), MIB, now)
        records.refill(now)
        data.refill(now)
        # A record larger than the bucket (up to 10 MiB, "large records") is admitted once the bucket
        # is full and leaves a debt that time pays back, as Kinesis bursts for intermittent large records.
        if records.tokens < 1 or data.tokens < min(size, data.burst):
            return False
        records.tokens -= 1
        data.tokens -= size
        return True

    def admit_read(self, stream_key: int, shard_index: int, now: float) -> bool:
        calls = self._bucket((stream_key, shard_index, "rc"), 5, now)
        data = self._bucket((stream_key, shard_index, "rb"), 2 * MIB, now)
        data.refill(now)
        return data.tokens > 0 and calls.take(1, now)

    def charge_read(self, stream_key: int, shard_index: int, size: int, now: float) -> None:
        self._bucket((stream_key, shard_index, "rb"), 2 * MIB, now).charge(size)
