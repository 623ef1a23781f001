"""Event source mappings: a Kinesis stream read into a function, with Lambda's semantics.

``EventSourceMappings`` keeps the mappings (``DATA_DIR/functions/mappings.db``) and runs one
``MappingWorker`` per enabled mapping (``mapping_worker.py``). Methods that map 1:1 to a Lambda
operation carry its snake_case name. Checkpoints live with the stream log, under the consumer name
``esm:<UUID>``, so a restart resumes where the last successful batch ended.

States follow Lambda's: a mapping answers Creating / Updating / Enabling / Disabling / Deleting for
``transition_seconds`` after a change, then Enabled or Disabled.
"""
from __future__ import annotations

import dataclasses
import threading
import uuid as uuids
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import orjson

from tidelake import sqlite
from tidelake.clock import Clock
from tidelake.config import Settings
from tidelake.errors import AlreadyExists, InUse, InvalidArgument, NotFound
from tidelake.lake.objects import ObjectStore
from tidelake.stream.consumer import StreamConsumer
from tidelake.stream.errors import StreamNotFound
from tidelake.stream.models import IteratorType
from tidelake.stream.store import StreamStore

if TYPE_CHECKING:
    from tidelake.functions.mapping_worker import MappingWorker
    from tidelake.functions.service import FunctionService

NO_RECORDS = "No records processed"
USER_ACTION = "User action"
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
MAX_LIST_ITEMS = 10_000


class StartingPosition(str, Enum):
    TRIM_HORIZON = "TRIM_HORIZON"
    LATEST = "LATEST"
    AT_TIMESTAMP = "AT_TIMESTAMP"


class MappingState(str, Enum):
    CREATING = "Creating"
    ENABLING = "Enabling"
    ENABLED = "Enabled"
    DISABLING = "Disabling"
    DISABLED = "Disabled"
    UPDATING = "Updating"
    DELETING = "Deleting"


@dataclass(frozen=True)
class OnFailure:
    destination: str  # a Kinesis stream ARN (tidelake) or an S3 bucket ARN (arn:aws:s3:::bucket)


@dataclass(frozen=True)
class DestinationConfig:
    on_failure: OnFailure | None = None


@dataclass
class EventSourceMapping:
    uuid: str
    event_source_arn: str
    function_arn: str
    event_source_mapping_arn: str
    starting_position: StartingPosition
    starting_position_timestamp: float | None = None
    batch_size: int = 100
    maximum_batching_window_in_seconds: int = 0
    parallelization_factor: int = 1
    bisect_batch_on_function_error: bool = False
    maximum_retry_attempts: int = -1
    maximum_record_age_in_seconds: int = -1
    tumbling_window_in_seconds: int = 0  # kept and reported; windows are not applied (see docs/lambda.md)
    function_response_types: list[str] = field(default_factory=list)
    destination_config: DestinationConfig = field(default_factory=DestinationConfig)
    enabled: bool = True
    state: MappingState = MappingState.CREATING
    settled_at: float = 0.0  # when the transitional state ends
    state_transition_reason: str = USER_ACTION
    last_modified: float = 0.0
    last_processing_result: str = NO_RECORDS
    start_counter: int | None = None  # LATEST: the stream's counter at creation (nothing put after is missed)
    stream_key: int | None = None  # the stream start_counter belongs to (a re-created stream is another)

    @property
    def on_failure_destination(self) -> str | None:
        on_failure = self.destination_config.on_failure
        return on_failure.destination if on_failure is not None and on_failure.destination else None

    @property
    def reports_batch_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types

    @property
    def consumer_name(self) -> str:
        return f"esm:{self.uuid}"


class MappingNotFound(NotFound):
    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        super().__init__(f"The resource you requested does not exist. (Event source mapping {uuid})")


class MappingConflict(AlreadyExists):
    def __init__(self, event_source_arn: str, function_name: str, existing: str) -> None:
        self.existing = existing
        super().__init__(f'The event source arn (" {event_source_arn} ") and function (" {function_name} ") '
                         f"provided mapping already exists. Please update or delete the existing mapping with "
                         f"UUID {existing}")


class MappingInUse(InUse):
    def __init__(self, uuid: str, state: MappingState) -> None:
        self.uuid = uuid
        self.state = state
        super().__init__(f"Cannot update the event source mapping {uuid} because it is in use (state "
                         f"{state.value}).")


# Members of an update, with the attribute each sets.
UPDATABLE = ("function_arn", "enabled", "batch_size", "maximum_batching_window_in_seconds",
             "parallelization_factor", "bisect_batch_on_function_error", "maximum_retry_attempts",
             "maximum_record_age_in_seconds", "tumbling_window_in_seconds", "function_response_types",
             "destination_config")


class EventSourceMappings:
    def __init__(self, settings: Settings, clock: Clock, streams: StreamStore, functions: "FunctionService",
                 objects: ObjectStore) -> None:
        self.settings = settings
        self.clock = clock
        self.streams = streams
        self.functions = functions
        self.objects = objects
        self._db = sqlite.connect(Path(settings.data_dir) / "functions" / "mappings.db")
        self._db.execute("CREATE TABLE IF NOT EXISTS mappings (uuid TEXT PRIMARY KEY, doc BLOB NOT NULL)")
        self._lock = threading.RLock()
        self._mappings: dict[str, EventSourceMapping] = {
            key: _from_doc(doc) for key, doc in self._db.execute("SELECT uuid, doc FROM mappings")}
        self._workers: dict[str, "MappingWorker"] = {}
        self._started = False
        self._closing = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="esm-watcher", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._started = True
            for mapping in list(self._mappings.values()):
                self._sync_worker(mapping)
        self._watcher.start()

    def close(self) -> None:
        """Stop every worker. A batch still running after the grace period is left uncommitted: it is
        delivered again after the next start (at-least-once)."""
        self._closing.set()
        if self._watcher.is_alive():
            self._watcher.join()
        with self._lock:
            self._started = False
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.signal_stop()
        for worker in workers:
            worker.join()
        self._db.close()

    def _watch(self) -> None:
        """Poke every worker when the stream log took a commit: one cheap check for all mappings, so
        idle ones cost nothing while records still reach a worker within ``mapping_poll_seconds``."""
        seen = None
        while not self._closing.wait(self.settings.mapping_poll_seconds):
            try:
                version = self.streams.log.query("PRAGMA data_version")[0][0]
            except Exception:  # the log is closing
                continue
            if version != seen:
                seen = version
                with self._lock:
                    workers = list(self._workers.values())
                for worker in workers:
                    worker.poke()

    def _sync_worker(self, mapping: EventSourceMapping) -> None:
        """Run a worker exactly while the mapping is enabled (and the service started)."""
        from tidelake.functions.mapping_worker import MappingWorker
        worker = self._workers.get(mapping.uuid)
        wanted = self._started and mapping.enabled and mapping.state is not MappingState.DELETING
        if worker is not None and (not wanted or not worker.is_alive()):
            self._workers.pop(mapping.uuid)
            worker.signal_stop()
        elif worker is not None:
            return
        if wanted:
            self._workers[mapping.uuid] = MappingWorker(self, mapping.uuid, predecessor=worker)
            self._workers[mapping.uuid].start()

    # -- operations --------------------------------------------------------------------------

    def create_event_source_mapping(
            self, event_source_arn: str, function_name: str, *, starting_position: StartingPosition | None = None,
            starting_position_timestamp: float | None = None, enabled: bool = True, batch_size: int = 100,
            maximum_batching_window_in_seconds: int = 0, parallelization_factor: int = 1,
            bisect_batch_on_function_error: bool = False, maximum_retry_attempts: int = -1,
            maximum_record_age_in_seconds: int = -1, tumbling_window_in_seconds: int = 0,
            function_response_types: Sequence[str] = (),
            destination_config: DestinationConfig | None = None) -> EventSourceMapping:
        stream_name = self._stream_name(event_source_arn)
        function_arn = self.functions.get_function(function_name).function_arn
        if starting_position is None:
            raise InvalidArgument("StartingPosition is required for Kinesis event sources: TRIM_HORIZON, LATEST "
                                  "or AT_TIMESTAMP.")
        if (starting_position is StartingPosition.AT_TIMESTAMP) != (starting_position_timestamp is not None):
            raise InvalidArgument("StartingPositionTimestamp must be given with StartingPosition AT_TIMESTAMP, and "
                                  "only with it.")
        now = self.clock.now()
        if starting_position_timestamp is not None and starting_position_timestamp > now:
            raise InvalidArgument("StartingPositionTimestamp cannot be in the future.")
        key = str(uuids.uuid4())
        mapping = EventSourceMapping(
            key, event_source_arn, function_arn,
            f"arn:aws:lambda:{self.settings.region}:{self.settings.account_id}:event-source-mapping:{key}",
            starting_position, starting_position_timestamp, batch_size, maximum_batching_window_in_seconds,
            parallelization_factor, bisect_batch_on_function_error, maximum_retry_attempts,
            maximum_record_age_in_seconds, tumbling_window_in_seconds, list(function_response_types),
            destination_config or DestinationConfig(), enabled, MappingState.CREATING,
            now + self.settings.transition_seconds, USER_ACTION, now)
        self._validate(mapping)
        with self._lock:
            self._check_conflict(mapping)
            if starting_position is StartingPosition.LATEST:
                stream = self.streams.describe_stream(stream_name)
                mapping.start_counter, mapping.stream_key = stream.next_counter, stream.key
            self._save(mapping)
            self._mappings[key] = mapping
            self._sync_worker(mapping)
            return dataclasses.replace(mapping)

    def get_event_source_mapping(self, uuid: str) -> EventSourceMapping:
        with self._lock:
            return dataclasses.replace(self._find(uuid))

    def list_event_source_mappings(self, event_source_arn: str | None = None, function_name: str | None = None,
                                   marker: str | None = None,
                                   max_items: int | None = None) -> tuple[list[EventSourceMapping], str | None]:
        """Mappings in UUID order, filtered; returns a page and the marker of the next one (None: the last)."""
        wanted = self.functions.function_name(function_name) if function_name else None
        with self._lock:
            found = []
            for key in sorted(self._mappings):
                try:
                    mapping = self._find(key)
                except MappingNotFound:
                    continue
                if event_source_arn is not None and mapping.event_source_arn != event_source_arn:
                    continue
                if wanted is not None and self.functions.function_name(mapping.function_arn) != wanted:
                    continue
                if marker is not None and key <= marker:
                    continue
                found.append(dataclasses.replace(mapping))
        limit = min(max_items or 100, MAX_LIST_ITEMS)
        page = found[:limit]
        return page, (page[-1].uuid if len(found) > limit else None)

    def update_event_source_mapping(self, uuid: str, **changes: Any) -> EventSourceMapping:
        """Change the members given (see ``UPDATABLE``; ``function_name`` names the new function)."""
        if "function_name" in changes:
            changes["function_arn"] = self.functions.get_function(changes.pop("function_name")).function_arn
        unknown = set(changes) - set(UPDATABLE)
        if unknown:
            raise InvalidArgument(f"Cannot update {', '.join(sorted(unknown))} of an event source mapping.")
        with self._lock:
            mapping = self._find(uuid)
            if mapping.state in (MappingState.CREATING, MappingState.UPDATING, MappingState.ENABLING,
                                 MappingState.DISABLING, MappingState.DELETING):
                raise MappingInUse(uuid, mapping.state)
            updated = dataclasses.replace(mapping, **{k: v for k, v in changes.items() if v is not None})
            if isinstance(updated.function_response_types, tuple):
                updated.function_response_types = list(updated.function_response_types)
            self._validate(updated)
            if updated.function_arn != mapping.function_arn:
                self._check_conflict(updated)
            now = self.clock.now()
            if updated.enabled != mapping.enabled:
                updated.state = MappingState.ENABLING if updated.enabled else MappingState.DISABLING
            else:
                updated.state = MappingState.UPDATING
            updated.settled_at = now + self.settings.transition_seconds
            updated.last_modified = now
            updated.state_transition_reason = USER_ACTION
            self._save(updated)
            self._mappings[uuid] = updated  # the worker reads the new settings before its next batch
            self._sync_worker(updated)
            return dataclasses.replace(updated)

    def delete_event_source_mapping(self, uuid: str) -> EventSourceMapping:
        """Stop reading now; the mapping answers Deleting until ``transition_seconds`` have passed."""
        with self._lock:
            mapping = self._find(uuid)
            if mapping.state is MappingState.DELETING:
                raise MappingInUse(uuid, mapping.state)
            mapping.state = MappingState.DELETING
            mapping.settled_at = self.clock.now() + self.settings.transition_seconds
            mapping.state_transition_reason = USER_ACTION
            self._db.execute("DELETE FROM mappings WHERE uuid = ?", (uuid,))
            self._sync_worker(mapping)
            return dataclasses.replace(mapping)

    # -- for the workers ---------------------------------------------------------------------

    def live(self, uuid: str) -> EventSourceMapping | None:
        """The mapping's current settings, or None once it is disabled or deleted."""
        mapping = self._mappings.get(uuid)
        if mapping is None or not mapping.enabled or mapping.state is MappingState.DELETING:
            return None
        return mapping

    def report(self, uuid: str, result: str) -> None:
        mapping = self._mappings.get(uuid)
        if mapping is not None:
            mapping.last_processing_result = result

    def consumer(self, mapping: EventSourceMapping) -> StreamConsumer:
        """The mapping's durable reader, at its checkpoints; shards without one start at StartingPosition."""
        name = self.streams.stream_name_from_arn(mapping.event_source_arn)
        same_stream = self.streams.describe_stream(name).key == mapping.stream_key
        return StreamConsumer(self.streams, name, mapping.consumer_name, IteratorType(mapping.starting_position.value),
                              mapping.starting_position_timestamp, mapping.start_counter if same_stream else None)

    # -- helpers -----------------------------------------------------------------------------

    def _find(self, uuid: str) -> EventSourceMapping:
        mapping = self._mappings.get(uuid)
        if mapping is None:
            raise MappingNotFound(uuid)
        if mapping.state is not MappingState.DELETING and mapping.state not in (MappingState.ENABLED,
                                                                                 MappingState.DISABLED):
            if self.clock.now() >= mapping.settled_at:
                mapping.state = MappingState.ENABLED if mapping.enabled else MappingState.DISABLED
                self._save(mapping)
        elif mapping.state is MappingState.DELETING and self.clock.now() >= mapping.settled_at:
            del self._mappings[uuid]
            raise MappingNotFound(uuid)
        return mapping

    def _stream_name(self, arn: str) -> str:
        if not arn.startswith("arn:aws:kinesis:") or ":stream/" not in arn:
            raise InvalidArgument(f"Unsupported event source {arn}: tidelake maps Kinesis streams "
                                  "(arn:aws:kinesis:REGION:ACCOUNT:stream/NAME, or a stream consumer's ARN).")
        name = self.streams.stream_name_from_arn(arn)
        try:
            self.streams.describe_stream(name)
        except StreamNotFound:
            raise InvalidArgument(f"Stream not found: {arn}") from None
        return name

    def _validate(self, m: EventSourceMapping) -> None:
        _between("BatchSize", m.batch_size, 1, 10_000)
        _between("MaximumBatchingWindowInSeconds", m.maximum_batching_window_in_seconds, 0, 300)
        _between("ParallelizationFactor", m.parallelization_factor, 1, 10)
        _between("MaximumRetryAttempts", m.maximum_retry_attempts, -1, 10_000)
        _between("TumblingWindowInSeconds", m.tumbling_window_in_seconds, 0, 900)
        age = m.maximum_record_age_in_seconds
        if age != -1 and not 60 <= age <= 604_800:
            raise InvalidArgument(f"MaximumRecordAgeInSeconds must be -1 (infinite) or between 60 and 604800, "
                                  f"not {age}.")
        for kind in m.function_response_types:
            if kind != REPORT_BATCH_ITEM_FAILURES:
                raise InvalidArgument(f"Unsupported FunctionResponseTypes value {kind!r}: only "
                                      f"{REPORT_BATCH_ITEM_FAILURES} exists.")
        destination = m.on_failure_destination
        if destination is not None:
            self._check_destination(destination)

    def _check_destination(self, arn: str) -> None:
        if arn.startswith("arn:aws:s3:::"):
            bucket = arn[len("arn:aws:s3:::"):]
            try:
                self.objects.head_bucket(bucket)
            except NotFound:
                raise InvalidArgument(f"The OnFailure destination bucket {bucket} does not exist.") from None
        elif arn.startswith("arn:aws:kinesis:") and ":stream/" in arn:
            try:
                self.streams.describe_stream(self.streams.stream_name_from_arn(arn))
            except StreamNotFound:
                raise InvalidArgument(f"The OnFailure destination stream {arn} does not exist.") from None
        else:
            raise InvalidArgument(f"Unsupported OnFailure destination {arn}: tidelake sends failed batches to an "
                                  "S3 bucket (arn:aws:s3:::BUCKET) or a Kinesis stream.")

    def _check_conflict(self, mapping: EventSourceMapping) -> None:
        for other in self._mappings.values():
            if (other.uuid != mapping.uuid and other.state is not MappingState.DELETING
                    and other.event_source_arn == mapping.event_source_arn
                    and other.function_arn == mapping.function_arn):
                raise MappingConflict(mapping.event_source_arn, self.functions.function_name(mapping.function_arn),
                                      other.uuid)

    def _save(self, mapping: EventSourceMapping) -> None:
        self._db.execute("INSERT OR REPLACE INTO mappings VALUES (?, ?)",
                         (mapping.uuid, orjson.dumps(dataclasses.asdict(mapping))))


def _between(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be between {low} and {high}, not {value}.")


def _from_doc(doc: bytes) -> EventSourceMapping:
    fields: dict[str, Any] = orjson.loads(doc)
    fields["starting_position"] = StartingPosition(fields["starting_position"])
    fields["state"] = MappingState(fields["state"])
    on_failure = fields["destination_config"]["on_failure"]
    fields["destination_config"] = DestinationConfig(OnFailure(**on_failure) if on_failure else None)
    return EventSourceMapping(**fields)
