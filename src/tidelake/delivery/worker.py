"""The delivery worker: reads a delivery stream's source, buffers, and writes lake objects exactly once.

A flush is a small transaction over two stores (the stream log and the lake):

1. Record a *flush intent* (the source ranges of the buffer) durably.
2. Assemble the objects (a pure function of the ranges' records) and write them; keys derive from
   the ranges, so writing again replaces, never duplicates. Failed writes retry with backoff; the
   records stay in the source log meanwhile, so nothing is lost while the lake is down.
3. Commit the source checkpoints of every range in one transaction.
4. Clear the intent.

After a crash at any point, start-up finds the intent and redoes exactly that flush before reading
on: no record is lost (the checkpoint never passed an unwritten record) and none is written twice
(the redo overwrites the same keys).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidelake.delivery.assemble import TransformInvoker, assemble
from tidelake.delivery.errors import DeliveryStreamNotFound
from tidelake.delivery.models import MIB, DeliveryStream
from tidelake.stream.consumer import StreamConsumer
from tidelake.stream.store import SHARD_END

if TYPE_CHECKING:
    from tidelake.delivery.service import DeliveryService

log = logging.getLogger("tidelake.delivery")
IDLE_POLL_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class Buffer:
    data: dict[int, list[bytes]] = field(default_factory=dict)  # shard index -> records, in order
    arrivals: dict[int, list[float]] = field(default_factory=dict)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # shard id -> (start, end or SHARD_END)
    size: int = 0
    count: int = 0
    started: float | None = None  # monotonic time the first record was buffered

    def add(self, shard_index: int, data: list[bytes], arrivals: list[float]) -> None:
        self.data.setdefault(shard_index, []).extend(data)
        self.arrivals.setdefault(shard_index, []).extend(arrivals)
        self.size += sum(map(len, data))
        self.count += len(data)
        if self.started is None:
            self.started = time.monotonic()

    def flat(self) -> tuple[list[bytes], list[float]]:
        """Records in a canonical order (shard, then sequence), the same on a redo."""
        order = sorted(self.data)
        return ([d for i in order for d in self.data[i]], [a for i in order for a in self.arrivals[i]])

    @property
    def batch_id(self) -> str:
        return ";".join(f"{shard}:{start}-{end}" for shard, (start, end) in sorted(self.ranges.items()))


class DeliveryWorker(threading.Thread):
    def __init__(self, service: "DeliveryService", name: str, transform: TransformInvoker | None) -> None:
        super().__init__(name=f"delivery-{name}", daemon=True)
        self.service = service
        self.stream_name = name
        self.transform = transform
        self._stop_event = threading.Event()
        self._wake = threading.Condition()
        self._flush_requests = 0
        self._flushes_done = 0
        self.consumer: StreamConsumer | None = None

    # -- control -----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop_event.set()
        with self._wake:
            self._wake.notify_all()
        self.join()

    def flush(self, timeout: float = 60.0) -> bool:
        """Deliver everything the source holds now; True once it is in the lake."""
        with self._wake:
            self._flush_requests += 1
            wanted = self._flush_requests
            self._wake.notify_all()
            return self._wake.wait_for(lambda: self._flushes_done >= wanted or not self.is_alive(), timeout)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        delay = 0.5
        while not self._stop_event.is_set():
            try:
                self._deliver()
            except DeliveryStreamNotFound:
                return  # deleted under us
            except Exception as error:  # never take the server down, never drop the buffer's records:
                stream = self.service.describe_delivery_stream(self.stream_name)
                self.service.count_write_failure(stream, error)
                log.exception("delivery stream %s failed; retrying from its checkpoints in %.1f s",
                              self.stream_name, delay)
                self._stop_event.wait(delay)  # then start over from the committed checkpoints
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            finally:
                with self._wake:
                    self._wake.notify_all()

    def _deliver(self) -> None:
        stream = self.service.describe_delivery_stream(self.stream_name)
        self.consumer = _consumer(self.service, stream)  # positions = the committed checkpoints
        self._redo()
        buffer = Buffer()
        while not self._stop_event.is_set():
            stream = self.service.describe_delivery_stream(self.stream_name)
            requested = self._flush_requests
            caught_up = self._fill(stream, buffer)
            hints = stream.destination.buffering_hints
            due = buffer.started is not None and (
                buffer.size >= hints.size_in_mbs * MIB
                or time.monotonic() - buffer.started >= hints.interval_in_seconds)
            forced = requested > self._flushes_done and caught_up
            if due or forced or (buffer.ranges and not buffer.count and caught_up):
                self._flush(stream, buffer)
                buffer = Buffer()
            if forced:
                with self._wake:
                    self._flushes_done = requested
                    self._wake.notify_all()
            elif caught_up and not due:
                with self._wake:
                    self._wake.wait(IDLE_POLL_SECONDS)

    def _fill(self, stream: DeliveryStream, buffer: Buffer) -> bool:
        """Read what the source has, up to the buffer size; True if nothing more is waiting."""
        assert self.consumer is not None
        limit = stream.destination.buffering_hints.size_in_mbs * MIB
        caught_up = True
        for shard in self.consumer.shards():
            if buffer.size >= limit:
                return False
            start = buffer.ranges.get(shard.shard_id, (self.consumer.position(shard), 0))[0]
            batch = self.consumer.read(shard, limit=10_000, max_bytes=limit - buffer.size)
            data = batch.columns.data
            if not data and not batch.finished:
                continue
            self.consumer.advance(batch)
            buffer.ranges[shard.shard_id] = (start, SHARD_END if batch.finished else batch.next_position)
            if data:
                buffer.add(shard.index, data, batch.columns.arrivals)
                self.service.count_incoming(stream, data)
                caught_up = False
            elif batch.finished:
                caught_up = False  # its children are readable now
        return caught_up

    def _flush(self, stream: DeliveryStream, buffer: Buffer) -> None:
        assert self.consumer is not None
        # Step 1: the intent, durable before any object is written.
        self.service.save_intent(stream.delivery_stream_name, buffer.ranges)
        # Step 2: the objects, retried until written.
        if buffer.count:
            data, arrivals = buffer.flat()
            objects = assemble(stream, data, arrivals, buffer.batch_id, self.service.clock.now(), self.transform)
            for item in objects:
                if not self._write(stream, item.key, item.body):
                    return  # stopping: the intent stays, the next start redoes this flush
            self.service.count_delivered(stream, objects)
        # Step 3: the checkpoints, all shards in one transaction. Step 4: forget the intent.
        self.consumer.commit_many({shard: end for shard, (_, end) in buffer.ranges.items()})
        self.service.clear_intent(stream.delivery_stream_name)

    def _write(self, stream: DeliveryStream, key: str, body: bytes) -> bool:
        delay = 0.5
        while not self._stop_event.is_set():
            try:
                self.service.objects.put_object(stream.destination.bucket, key, body)
                return True
            except Exception as error:  # lake down, bucket missing...: keep the backlog, retry
                self.service.count_write_failure(stream, error)
                log.warning("delivery %s: writing s3://%s/%s failed (%s); retrying in %.1f s",
                            stream.delivery_stream_name, stream.destination.bucket, key, error, delay)
                self._stop_event.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        return False

    def _redo(self) -> None:
        """Finish the flush a crash interrupted: the same records, the same objects, the same keys."""
        assert self.consumer is not None
        ranges = self.service.load_intent(self.stream_name)
        if not ranges:
            return
        stream = self.service.describe_delivery_stream(self.stream_name)
        buffer = Buffer(ranges=dict(ranges))
        source = self.service.streams.describe_stream(stream.source_stream)
        for shard_id, (start, end) in ranges.items():
            shard = source.shard(shard_id)
            if shard is None:
                continue
            position, until = start, None if end == SHARD_END else end
            while True:
                columns, position, finished = self.service.streams.read_shard_columns(
                    stream.source_stream, shard.index, position, 10_000, until=until)
                if columns.data:
                    buffer.add(shard.index, columns.data, columns.arrivals)
                if not columns.data or finished:
                    break
            self.consumer.seek(shard_id, position if until is None else until)
        log.info("delivery %s: redoing an interrupted flush of %d records", self.stream_name, buffer.count)
        self._flush(stream, buffer)


def _consumer(service: "DeliveryService", stream: DeliveryStream) -> StreamConsumer:
    # A Kinesis source is read from the moment the delivery stream was created (Firehose starts at
    # LATEST); a DirectPut buffer from its beginning (counter 0). The creation time in the name
    # tells a re-created delivery stream of the same name apart: it starts afresh.
    return StreamConsumer(service.streams, stream.source_stream,
                          f"firehose:{stream.delivery_stream_name}:{int(stream.created_at * 1000)}",
                          from_counter=stream.source_start_counter)
