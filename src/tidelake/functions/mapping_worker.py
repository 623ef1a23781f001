"""One event source mapping's reader: polls its stream's shards, invokes the function, checkpoints.

Per shard one *chunk* is in flight at a time: up to ParallelizationFactor x BatchSize records read
at once, split into ParallelizationFactor lanes by a hash of the partition key (a key always lands
in the same lane, so its records keep their order), each lane cut into batches of BatchSize invoked
one after the other. Once every lane is done -- each batch succeeded, or was discarded to the
OnFailure destination after its retries -- the shard's checkpoint moves past the chunk in one
durable commit. A crash before that replays the chunk: delivery is at-least-once. Closed shards are
read to their end before their children start (``StreamConsumer`` orders them).

A failing batch, in Lambda's order: bisected in two when BisectBatchOnFunctionError is on (halving
uses no retry), retried with a growing delay, and discarded once MaximumRetryAttempts retries
failed or its records are older than MaximumRecordAgeInSeconds. With ReportBatchItemFailures only
the records from the lowest reported sequence number on are retried. Errors before the function
runs (it is missing, the runtime refused the call) use no retry: they are retried until the records
expire, as Lambda does.

Idle cost: a worker scans its shards only when poked -- by the service's watcher, which sees a new
commit to the stream log through SQLite's ``PRAGMA data_version`` (checked every
``mapping_poll_seconds`` for all mappings at once) -- when a chunk finishes, when a batching window
closes, or once a second at the latest. An idle mapping wakes about once a second and reads nothing.
"""
from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from tidelake.functions.kinesis_events import (MAX_PAYLOAD_BYTES, EventSource, Failure, failure_object_key,
                                               invocation_record, kinesis_event)
from tidelake.functions.mappings import EventSourceMapping
from tidelake.stream.consumer import ShardBatch, StreamConsumer
from tidelake.stream.log import Columns
from tidelake.stream.models import Shard
from tidelake.stream.store import SHARD_END

if TYPE_CHECKING:
    from tidelake.functions.mappings import EventSourceMappings
    from tidelake.functions.models import Invocation

log = logging.getLogger("tidelake.functions")

GRACE_SECONDS = 5.0  # how long a stopping worker waits for the batches in flight
RETRY_BASE_SECONDS = 0.05
RETRY_MAX_SECONDS = 5.0
READ_BYTES = MAX_PAYLOAD_BYTES * 3 // 4  # raw data that still fits one event once in base64
MAX_CONCURRENT_BATCHES = 32  # per mapping: shards x ParallelizationFactor beyond this wait their turn
IDLE_WAKE_SECONDS = 1.0  # Lambda's base polling rate; new records wake the worker sooner (see poke)
FUNCTION_FAILED = "PROBLEM: Function call failed"


class _Stopped(Exception):
    """The worker is stopping or restarting: leave the chunk uncommitted."""


@dataclass(slots=True)
class Chunk:
    shard_id: str
    columns: Columns
    sequence_numbers: list[str]
    end: int  # the checkpoint once every lane is done (SHARD_END for a shard's last chunk)
    pending: int  # lanes still running
    aborted: bool = False


@dataclass(slots=True)
class Attempt:
    items: list[int]  # indexes into the chunk's columns
    retries: int = 0
    invokes: int = 0
    problems: int = 0  # failures before the function ran
    last: "Invocation | None" = field(default=None)


class MappingWorker(threading.Thread):
    def __init__(self, service: "EventSourceMappings", uuid: str, predecessor: "MappingWorker | None" = None) -> None:
        super().__init__(name=f"esm-{uuid[:8]}", daemon=True)
        self.service = service
        self.uuid = uuid
        self._predecessor = predecessor  # a stopping worker of the same mapping: never read beside it
        self._stop_event = threading.Event()
        self._abort = threading.Event()  # per session: lanes give up at their next step
        self._wake = threading.Condition()
        self._woken = False
        self._done: list[Chunk] = []
        self._inflight: dict[str, Chunk] = {}
        self._problem: tuple[str, str] | None = None  # (LastProcessingResult before, the problem reported)
        self._lanes = ThreadPoolExecutor(MAX_CONCURRENT_BATCHES, thread_name_prefix=f"esm-{uuid[:8]}")

    def signal_stop(self) -> None:
        self._stop_event.set()
        self._abort.set()
        self._notify()

    def poke(self) -> None:
        """Something was committed to the stream log: look at the shards now."""
        self._notify()

    def _notify(self) -> None:
        with self._wake:
            self._woken = True
            self._wake.notify_all()

    # -- the polling loop --------------------------------------------------------------------

    def run(self) -> None:
        delay = RETRY_BASE_SECONDS
        if self._predecessor is not None:
            self._predecessor.join()
            self._predecessor = None
        try:
            while not self._stop_event.is_set():
                try:
                    self._consume()
                    delay = RETRY_BASE_SECONDS
                except Exception as error:  # the stream is gone, the log refused a commit...: start over
                    if self._stop_event.is_set():
                        break
                    mapping = self.service.live(self.uuid)
                    if mapping is not None:
                        before = self._problem[0] if self._problem else mapping.last_processing_result
                        self._problem = (before, f"PROBLEM: {error}")
                    self.service.report(self.uuid, f"PROBLEM: {error}")
                    log.warning("event source mapping %s: %s; reading again from its checkpoints in %.2f s",
                                self.uuid, error, delay)
                    self._stop_event.wait(delay)
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
        finally:
            self._lanes.shutdown(wait=False, cancel_futures=True)

    def _consume(self) -> None:
        """One session: a consumer positioned at the checkpoints, polled until stopped or failing."""
        mapping = self.service.live(self.uuid)
        if mapping is None:
            self._stop_event.set()
            return
        self._abort = threading.Event()
        if self._stop_event.is_set():
            return
        consumer = self.service.consumer(mapping)
        windows: dict[str, float] = {}  # shard id -> when its batching window opened (monotonic)
        scanned: int | None = None  # the log's data_version at the last scan
        try:
            while not self._stop_event.is_set():
                mapping = self.service.live(self.uuid)
                if mapping is None:
                    self._stop_event.set()
                    break
                force = self._commit_done(consumer)
                version = self.service.streams.log.query("PRAGMA data_version")[0][0]
                window_due = bool(windows) and time.monotonic() >= min(windows.values()) + \
                    mapping.maximum_batching_window_in_seconds
                if force or version != scanned or window_due:
                    scanned = version
                    self._scan(consumer, mapping, windows)
                    if self._problem is not None:  # reading works again (the stream became ACTIVE...)
                        before, problem = self._problem
                        if mapping.last_processing_result == problem:
                            self.service.report(self.uuid, before)
                        self._problem = None
                self._sleep(mapping, windows)
        finally:
            self._drain(consumer)

    def _scan(self, consumer: StreamConsumer, mapping: EventSourceMapping, windows: dict[str, float]) -> None:
        limit = mapping.batch_size * mapping.parallelization_factor
        for shard in consumer.shards():
            if shard.shard_id in self._inflight:
                continue
            batch = consumer.read(shard, limit=limit, max_bytes=READ_BYTES * mapping.parallelization_factor)
            count = len(batch.columns.data)
            if not count:
                windows.pop(shard.shard_id, None)
                if batch.finished:  # a closed shard read to its end: its children become readable
                    consumer.commit(shard.shard_id, SHARD_END)
                    self._notify()
                continue
            window = mapping.maximum_batching_window_in_seconds
            if window and count < limit and not batch.finished and \
                    sum(map(len, batch.columns.data)) < READ_BYTES * mapping.parallelization_factor:
                opened = windows.setdefault(shard.shard_id, time.monotonic())
                if time.monotonic() - opened < window:
                    continue  # gather more; read again when the log changes or the window closes
            windows.pop(shard.shard_id, None)
            consumer.advance(batch)
            self._dispatch(mapping, shard, batch)

    def _sleep(self, mapping: EventSourceMapping, windows: dict[str, float]) -> None:
        timeout = IDLE_WAKE_SECONDS
        if windows:
            due = min(windows.values()) + mapping.maximum_batching_window_in_seconds - time.monotonic()
            timeout = max(0.0, min(timeout, due))
        with self._wake:
            if not self._woken:
                self._wake.wait(timeout)
            self._woken = False

    def _dispatch(self, mapping: EventSourceMapping, shard: Shard, batch: ShardBatch) -> None:
        columns = batch.columns
        count = len(columns.data)
        factor = mapping.parallelization_factor
        if factor == 1:
            lanes = [list(range(count))]
        else:
            buckets: list[list[int]] = [[] for _ in range(factor)]
            for i, key in enumerate(columns.partition_keys):
                buckets[zlib.crc32(key) % factor].append(i)
            lanes = [lane for lane in buckets if lane]
        chunk = Chunk(shard.shard_id, columns, columns.sequence_numbers(batch.stream_key, shard.index),
                      SHARD_END if batch.finished else batch.next_position, len(lanes))
        self._inflight[shard.shard_id] = chunk
        abort = self._abort
        for lane in lanes:
            future = self._lanes.submit(self._run_lane, chunk, lane, abort)
            future.add_done_callback(lambda f, c=chunk: self._lane_done(c, f))

    def _lane_done(self, chunk: Chunk, future: Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        if error is not None and not isinstance(error, _Stopped):
            log.error("event source mapping %s: a batch of %s failed unexpectedly", self.uuid, chunk.shard_id,
                      exc_info=error)
        with self._wake:
            if future.cancelled() or error is not None:
                chunk.aborted = True
            chunk.pending -= 1
            if chunk.pending == 0:
                self._done.append(chunk)
                self._woken = True
                self._wake.notify_all()

    def _commit_done(self, consumer: StreamConsumer) -> bool:
        """Checkpoint the chunks whose lanes all finished, in one transaction; True if any finished."""
        with self._wake:
            done, self._done = self._done, []
        if not done:
            return False
        for chunk in done:
            self._inflight.pop(chunk.shard_id, None)
        if any(chunk.aborted for chunk in done):
            raise RuntimeError("a batch was left unfinished")  # start over from the checkpoints
        consumer.commit_many({chunk.shard_id: chunk.end for chunk in done})
        return True

    def _drain(self, consumer: StreamConsumer) -> None:
        """End a session: lanes stop at their next step; what finishes in time is still committed."""
        self._abort.set()
        started = time.monotonic()
        with self._wake:
            while any(chunk.pending for chunk in self._inflight.values()):
                if self._stop_event.is_set() and time.monotonic() - started > GRACE_SECONDS:
                    break
                self._wake.wait(0.1)
            done, self._done = self._done, []
        finished = {c.shard_id: c.end for c in done if not c.aborted}
        self._inflight.clear()
        if finished:
            try:
                consumer.commit_many(finished)
            except Exception as error:  # the log is closing: those chunks are delivered again next time
                log.warning("event source mapping %s: final checkpoint failed: %s", self.uuid, error)

    # -- one lane: batches, retries, bisection, discards -------------------------------------

    def _run_lane(self, chunk: Chunk, lane: list[int], abort: threading.Event) -> None:
        mapping = self.service.live(self.uuid)
        if mapping is None:
            raise _Stopped()
        size = mapping.batch_size
        for start in range(0, len(lane), size):
            self._deliver(mapping, chunk, lane[start:start + size], abort)

    def _deliver(self, mapping: EventSourceMapping, chunk: Chunk, items: list[int], abort: threading.Event) -> None:
        """Invoke the function on one batch until each record succeeded or was discarded."""
        functions = self.service.functions
        work = deque([Attempt(items)])
        while work:
            attempt = work.popleft()
            _check(abort)
            attempt.items = self._drop_expired(mapping, chunk, attempt, abort)
            if not attempt.items:
                continue
            try:
                source = self._source(mapping, chunk)
                event = kinesis_event(source, chunk.columns, chunk.sequence_numbers, attempt.items)
                if len(event) > MAX_PAYLOAD_BYTES and len(attempt.items) > 1:
                    work.extendleft(reversed(_halves(attempt)))  # too big for one call: no failure, no retry
                    continue
                invocation = functions.invoke(mapping.function_arn, event)
            except Exception as error:  # before the function ran: retried until the records expire
                _check(abort)
                self.service.report(self.uuid, f"PROBLEM: {error}")
                attempt.problems += 1
                _backoff(attempt.problems, abort)
                work.appendleft(attempt)
                continue
            attempt.invokes += 1
            attempt.last = invocation
            failed = _failed_items(mapping, invocation, chunk, attempt.items)
            if failed is None:
                self.service.report(self.uuid, "OK")
                continue
            self.service.report(self.uuid, FUNCTION_FAILED)
            _check(abort)  # when stopping, a failure may be the runtime closing: leave it for the next start
            if invocation.function_error is not None and mapping.bisect_batch_on_function_error \
                    and len(attempt.items) > 1:
                work.extendleft(reversed(_halves(attempt)))
                continue
            attempt.items = failed
            attempt.retries += 1
            if mapping.maximum_retry_attempts != -1 and attempt.retries > mapping.maximum_retry_attempts:
                self._discard(mapping, chunk, attempt, "RetryAttemptsExhausted", failed, abort)
                continue
            _backoff(attempt.retries, abort)
            work.appendleft(attempt)

    def _drop_expired(self, mapping: EventSourceMapping, chunk: Chunk, attempt: Attempt,
                      abort: threading.Event) -> list[int]:
        """Discard the records older than MaximumRecordAgeInSeconds (the oldest come first)."""
        age = mapping.maximum_record_age_in_seconds
        if age == -1:
            return attempt.items
        horizon = self.service.clock.now() - age
        arrivals = chunk.columns.arrivals
        expired = 0
        for i in attempt.items:
            if arrivals[i] >= horizon:
                break
            expired += 1
        if expired:
            self._discard(mapping, chunk, attempt, "RecordAgeExceeded", attempt.items[:expired], abort)
        return attempt.items[expired:]

    def _discard(self, mapping: EventSourceMapping, chunk: Chunk, attempt: Attempt, condition: str,
                 items: list[int], abort: threading.Event) -> None:
        """Send the invocation record of discarded records to OnFailure (retried until it is written)."""
        destination = mapping.on_failure_destination
        log.warning("event source mapping %s: %s, discarding %d record(s) of %s from %s", self.uuid, condition,
                    len(items), chunk.shard_id, chunk.sequence_numbers[items[0]])
        if destination is None:
            return
        last = attempt.last
        failure = Failure(condition, attempt.invokes, last.request_id if last else None,
                          last.status_code if last else 200, last.function_error if last else None,
                          last.executed_version if last else "$LATEST")
        problems = 0
        while True:
            _check(abort)
            now = self.service.clock.now()
            source = self._source(mapping, chunk)
            try:
                if destination.startswith("arn:aws:s3:::"):
                    event = kinesis_event(source, chunk.columns, chunk.sequence_numbers, items)
                    body = invocation_record(source, mapping.function_arn, failure, chunk.columns,
                                             chunk.sequence_numbers, items, now, event)
                    self.service.objects.put_object(destination[len("arn:aws:s3:::"):],
                                                    failure_object_key(self.uuid, chunk.shard_id, now), body,
                                                    content_type="application/json")
                else:
                    body = invocation_record(source, mapping.function_arn, failure, chunk.columns,
                                             chunk.sequence_numbers, items, now)
                    streams = self.service.streams
                    streams.put_record(streams.stream_name_from_arn(destination), body, chunk.shard_id)
                return
            except Exception as error:  # the destination is missing or down: keep the records, retry
                self.service.report(self.uuid, f"PROBLEM: OnFailure destination {destination}: {error}")
                problems += 1
                _backoff(problems, abort)

    def _source(self, mapping: EventSourceMapping, chunk: Chunk) -> EventSource:
        try:
            role = self.service.functions.get_function(mapping.function_arn).role
        except Exception:  # the function is gone: the invocation will say so
            role = ""
        return EventSource(mapping.event_source_arn, chunk.shard_id, self.service.settings.region, role)


def _failed_items(mapping: EventSourceMapping, invocation: "Invocation", chunk: Chunk,
                  items: list[int]) -> list[int] | None:
    """The records to retry (None: the batch succeeded). With ReportBatchItemFailures, a response naming
    sequence numbers fails the batch from the lowest of them; one naming none of the batch's, or
    an empty or missing itemIdentifier, fails it whole (the rules of Lambda's partial batch response)."""
    if invocation.function_error is not None:
        return items
    if not mapping.reports_batch_item_failures:
        return None
    try:
        response = orjson.loads(invocation.payload)
    except orjson.JSONDecodeError:
        return None
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return None
    if not isinstance(failures, list):
        return items
    positions = {chunk.sequence_numbers[i]: n for n, i in enumerate(items)}
    lowest = len(items)
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return items
        lowest = min(lowest, positions[identifier])
    return items[lowest:]


def _halves(attempt: Attempt) -> list[Attempt]:
    half = len(attempt.items) // 2
    return [Attempt(part, attempt.retries, attempt.invokes, 0, attempt.last)
            for part in (attempt.items[:half], attempt.items[half:])]


def _check(abort: threading.Event) -> None:
    if abort.is_set():
        raise _Stopped()


def _backoff(failures: int, abort: threading.Event) -> None:
    if abort.wait(min(RETRY_BASE_SECONDS * 2 ** (failures - 1), RETRY_MAX_SECONDS)):
        raise _Stopped()
