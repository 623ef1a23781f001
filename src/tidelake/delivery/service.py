"""DeliveryService: delivery streams (Firehose semantics) from a stream into the lake.

A delivery stream reads a stream: the user's Kinesis stream (KinesisStreamAsSource) or, for
DirectPut, an internal stream of its own, so a PutRecordBatch is acknowledged only once durable and
both kinds share the exactly-once path of ``worker.py``. Configuration and flush intents live in
``DATA_DIR/delivery/delivery.db``; checkpoints live with the stream log.
"""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, Sequence

import orjson

from tidelake import sqlite
from tidelake.clock import Clock
from tidelake.config import Settings
from tidelake.delivery import prefix
from tidelake.delivery.assemble import LakeObject, TransformInvoker
from tidelake.delivery.convert import Column, TableSchema
from tidelake.delivery.errors import (ConcurrentModification, DeliveryStreamAlreadyExists, DeliveryStreamInUse,
                                      DeliveryStreamNotFound, SourceStreamNotFound)
from tidelake.delivery.models import (BufferingHints, DeliveryMetrics, DeliveryStream, DeliveryStreamStatus,
                                      FormatConversion, Processor, S3Destination, SourceType)
from tidelake.delivery.worker import DeliveryWorker
from tidelake.errors import InvalidArgument
from tidelake.lake.objects import ObjectStore
from tidelake.stream.errors import StreamNotFound
from tidelake.stream.store import StreamStore

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * (1 << 20)
MAX_RECORD_BYTES = 1000 * 1024


class DeliveryService:
    def __init__(self, settings: Settings, clock: Clock, streams: StreamStore, objects: ObjectStore,
                 transform: TransformInvoker | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.streams = streams
        self.objects = objects
        self.transform = transform
        self._db = sqlite.connect(Path(settings.data_dir) / "delivery" / "delivery.db")
        self._db.executescript("CREATE TABLE IF NOT EXISTS delivery_streams (name TEXT PRIMARY KEY, doc BLOB);"
                               "CREATE TABLE IF NOT EXISTS intents (name TEXT PRIMARY KEY, doc BLOB);"
                               "CREATE TABLE IF NOT EXISTS schemas (name TEXT PRIMARY KEY, doc BLOB);")
        self._lock = threading.RLock()
        self._streams: dict[str, DeliveryStream] = {
            name: _from_doc(doc) for name, doc in self._db.execute("SELECT name, doc FROM delivery_streams")}
        self._metrics: dict[str, DeliveryMetrics] = {name: DeliveryMetrics() for name in self._streams}
        self._workers: dict[str, DeliveryWorker] = {}
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._started = True
            for name, stream in list(self._streams.items()):
                if stream.deleting:
                    self._forget(name)
                else:
                    self._start_worker(name)

    def close(self) -> None:
        with self._lock:
            self._started = False
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.stop()
        self._db.close()

    def _start_worker(self, name: str) -> None:
        if self._started and name not in self._workers:
            worker = DeliveryWorker(self, name, self.transform)
            self._workers[name] = worker
            worker.start()

    # -- configuration -----------------------------------------------------------------------

    def arn(self, name: str) -> str:
        return f"arn:aws:firehose:{self.settings.region}:{self.settings.account_id}:deliverystream/{name}"

    def create_delivery_stream(self, name: str, destination: S3Destination, source_stream: str | None = None,
                               tags: dict[str, str] | None = None) -> DeliveryStream:
        _validate(destination)
        with self._lock:
            old = self._streams.get(name)  # a deleted one lingers here while DELETING, then frees the name
            if old is not None and not (old.deleting and self.clock.now() >= old.settled_at):
                raise DeliveryStreamAlreadyExists(name, self.settings.account_id)
            now = self.clock.now()
            start = 0
            if source_stream is not None:
                try:
                    start = self.streams.describe_stream(source_stream).next_counter
                except StreamNotFound:
                    raise SourceStreamNotFound(source_stream) from None
                source, kind = source_stream, SourceType.KINESIS_STREAM
            else:
                source, kind = f"__firehose.{name}.{int(now * 1000)}", SourceType.DIRECT_PUT
                self.streams.create_stream(source, 1, internal=True)
            stream = DeliveryStream(name, self.arn(name), kind, source, destination, now, tags=dict(tags or {}),
                                    settled_at=now + self.settings.transition_seconds, source_start_counter=start)
            self._save(stream)
            self._streams[name] = stream
            self._metrics[name] = DeliveryMetrics()
            self._start_worker(name)
            return stream

    def status(self, stream: DeliveryStream) -> DeliveryStreamStatus:
        if stream.deleting:
            return DeliveryStreamStatus.DELETING
        return DeliveryStreamStatus.CREATING if self.clock.now() < stream.settled_at else DeliveryStreamStatus.ACTIVE

    def describe_delivery_stream(self, name: str) -> DeliveryStream:
        stream = self._streams.get(name)
        if stream is None or (stream.deleting and self.clock.now() >= stream.settled_at):
            raise DeliveryStreamNotFound(name, self.settings.account_id)
        return stream

    def list_delivery_streams(self, source_type: SourceType | None = None) -> list[DeliveryStream]:
        streams = []
        for name in sorted(self._streams):
            try:
                stream = self.describe_delivery_stream(name)
            except DeliveryStreamNotFound:
                continue
            if source_type is None or stream.source_type is source_type:
                streams.append(stream)
        return streams

    def delete_delivery_stream(self, name: str) -> None:
        with self._lock:
            stream = self.describe_delivery_stream(name)
            if stream.deleting:
                raise DeliveryStreamInUse(name, "DELETING")
            stream.deleting = True
            stream.settled_at = self.clock.now() + self.settings.transition_seconds
            self._save(stream)
            worker = self._workers.pop(name, None)
        if worker is not None:
            worker.stop()
        self._forget(name)

    def _forget(self, name: str) -> None:
        stream = self._streams[name]
        if stream.source_type is SourceType.DIRECT_PUT:
            try:
                self.streams.delete_stream(stream.source_stream, enforce_consumer_deletion=True)
            except Exception:  # already gone
                pass
        self._db.execute("DELETE FROM delivery_streams WHERE name = ?", (name,))
        self._db.execute("DELETE FROM intents WHERE name = ?", (name,))

    def update_destination(self, name: str, current_version_id: int, destination: S3Destination) -> DeliveryStream:
        """Replace the destination; the version (part of every object name) goes up by one."""
        _validate(destination)
        with self._lock:
            stream = self.describe_delivery_stream(name)
            if current_version_id != stream.version_id:
                raise ConcurrentModification(name, current_version_id, stream.version_id)
            stream.destination = destination
            stream.version_id += 1
            stream.last_update_at = self.clock.now()
            self._save(stream)
            return stream

    def tag(self, name: str, tags: dict[str, str]) -> None:
        with self._lock:
            stream = self.describe_delivery_stream(name)
            if len({**stream.tags, **tags}) > 50:
                raise InvalidArgument(f"A delivery stream cannot have more than 50 tags; {name} would have "
                                      f"{len({**stream.tags, **tags})}.")
            stream.tags.update(tags)
            self._save(stream)

    def untag(self, name: str, keys: Sequence[str]) -> None:
        with self._lock:
            stream = self.describe_delivery_stream(name)
            for key in keys:
                stream.tags.pop(key, None)
            self._save(stream)

    # -- table schemas for record format conversion -------------------------------------------

    def register_schema(self, database: str, table: str, schema: TableSchema) -> None:
        """Declare the table a conversion names in its SchemaConfiguration (until a catalog exists)."""
        doc = orjson.dumps([dataclasses.asdict(c) for c in schema.columns])
        self._db.execute("INSERT OR REPLACE INTO schemas VALUES (?, ?)", (f"{database}.{table}", doc))

    def resolve_schema(self, database: str, table: str) -> TableSchema:
        row = self._db.execute("SELECT doc FROM schemas WHERE name = ?", (f"{database}.{table}",)).fetchone()
        if row is None:
            raise InvalidArgument(f"Table {database}.{table} is not known: register its columns first "
                                  f"(`tidelake delivery schema {database}.{table} name:type,...` or "
                                  "DeliveryService.register_schema).")
        return TableSchema(tuple(Column(**c) for c in orjson.loads(row[0])))

    # -- records -----------------------------------------------------------------------------

    def put_record_batch(self, name: str, records: Sequence[bytes]) -> list[str]:
        """DirectPut: returns a record id per record, once all of them are durable."""
        stream = self.describe_delivery_stream(name)
        if stream.source_type is not SourceType.DIRECT_PUT:
            raise InvalidArgument(f"This operation is not permitted on KinesisStreamAsSource delivery stream type "
                                  f"({name} reads {stream.source_stream}).")
        if len(records) > MAX_BATCH_RECORDS:
            raise InvalidArgument(f"A PutRecordBatch request can hold at most {MAX_BATCH_RECORDS} records.")
        size = sum(map(len, records))
        if size > MAX_BATCH_BYTES:
            raise InvalidArgument(f"Records size exceeds {MAX_BATCH_BYTES >> 20} MiB limit ({size} bytes).")
        for i, record in enumerate(records):
            if len(record) > MAX_RECORD_BYTES:
                raise InvalidArgument(f"Record {i} is {len(record)} bytes; the maximum is {MAX_RECORD_BYTES} "
                                      "(1,000 KiB).")
        result = self.streams.put_records(stream.source_stream, records, ["0"] * len(records))
        metrics = self._metrics[name]
        metrics.incoming_records += len(records)
        metrics.incoming_bytes += size
        return [number or "" for number in result.sequence_numbers]

    def flush(self, name: str, timeout: float = 60.0) -> bool:
        """Force the buffers out now (tests, demos); True once everything received is in the lake."""
        self.describe_delivery_stream(name)
        worker = self._workers.get(name)
        return worker is not None and worker.flush(timeout)

    # -- metrics -----------------------------------------------------------------------------

    def metrics(self, name: str) -> DeliveryMetrics:
        """A snapshot of the counters, with the backlog and data freshness measured now."""
        self.describe_delivery_stream(name)
        metrics = self._metrics[name]
        worker = self._workers.get(name)
        if worker is not None and worker.consumer is not None:
            backlog, oldest = worker.consumer.lag()
            metrics.backlog_records = backlog
            metrics.oldest_undelivered_age_seconds = 0.0 if oldest is None else max(0.0, self.clock.now() - oldest)
        return dataclasses.replace(metrics, failed_records=dict(metrics.failed_records),
                                   write_failures=dict(metrics.write_failures))

    def count_incoming(self, stream: DeliveryStream, data: list[bytes]) -> None:
        if stream.source_type is SourceType.KINESIS_STREAM:  # DirectPut counted at the put
            metrics = self._metrics[stream.delivery_stream_name]
            metrics.incoming_records += len(data)
            metrics.incoming_bytes += sum(map(len, data))

    def count_delivered(self, stream: DeliveryStream, objects: list[LakeObject]) -> None:
        metrics = self._metrics[stream.delivery_stream_name]
        metrics.last_error = None  # the destination takes writes again: no longer failing
        for item in objects:
            if item.error_type is None:
                metrics.delivered_records += item.records
                metrics.delivered_bytes += len(item.body)
                metrics.delivered_objects += 1
            else:
                metrics.failed_records[item.error_type] = metrics.failed_records.get(item.error_type, 0) + item.records

    def count_write_failure(self, stream: DeliveryStream, error: BaseException) -> None:
        metrics = self._metrics[stream.delivery_stream_name]
        kind = type(error).__name__
        metrics.write_failures[kind] = metrics.write_failures.get(kind, 0) + 1
        metrics.last_error = f"{kind}: {error}"

    # -- persistence -------------------------------------------------------------------------

    def _save(self, stream: DeliveryStream) -> None:
        self._db.execute("INSERT OR REPLACE INTO delivery_streams VALUES (?, ?)",
                         (stream.delivery_stream_name, orjson.dumps(dataclasses.asdict(stream))))

    def save_intent(self, name: str, ranges: dict[str, tuple[int, int]]) -> None:
        self._db.execute("INSERT OR REPLACE INTO intents VALUES (?, ?)", (name, orjson.dumps(ranges)))

    def load_intent(self, name: str) -> dict[str, tuple[int, int]]:
        row = self._db.execute("SELECT doc FROM intents WHERE name = ?", (name,)).fetchone()
        return {} if row is None else {k: (v[0], v[1]) for k, v in orjson.loads(row[0]).items()}

    def clear_intent(self, name: str) -> None:
        self._db.execute("DELETE FROM intents WHERE name = ?", (name,))


def _validate(destination: S3Destination) -> None:
    hints = destination.buffering_hints
    if not 1 <= hints.size_in_mbs <= 128:
        raise InvalidArgument(f"BufferingHints.SizeInMBs must be between 1 and 128, not {hints.size_in_mbs}.")
    if not 0 <= hints.interval_in_seconds <= 900:
        raise InvalidArgument(f"BufferingHints.IntervalInSeconds must be between 0 and 900, "
                              f"not {hints.interval_in_seconds}.")
    prefix.validate_prefixes(destination.prefix, destination.error_output_prefix, destination.dynamic_partitioning)
    if destination.dynamic_partitioning and hints.interval_in_seconds == 0:
        raise InvalidArgument("Zero buffering (IntervalInSeconds 0) is not available with dynamic partitioning.")
    if destination.dynamic_partitioning and hints.size_in_mbs < 64:
        raise InvalidArgument("When dynamic partitioning is enabled, BufferingHints.SizeInMBs must be at least 64.")
    if destination.format_conversion is not None and destination.compression_format != "UNCOMPRESSED":
        raise InvalidArgument("CompressionFormat must be UNCOMPRESSED when record format conversion is enabled; "
                              "set the compression in the ParquetSerDe instead.")


def _from_doc(doc: bytes) -> DeliveryStream:
    fields: dict[str, Any] = orjson.loads(doc)
    dest: dict[str, Any] = fields["destination"]
    dest["buffering_hints"] = BufferingHints(**dest["buffering_hints"])
    dest["processors"] = [Processor(**p) for p in dest["processors"]]
    if dest["format_conversion"] is not None:
        conversion = dest["format_conversion"]
        conversion["schema"] = TableSchema(tuple(Column(**c) for c in conversion["schema"]["columns"]))
        dest["format_conversion"] = FormatConversion(**conversion)
    fields["destination"] = S3Destination(**dest)
    fields["source_type"] = SourceType(fields["source_type"])
    return DeliveryStream(**fields)
