"""What the function registry and runtime hold. Attribute names follow Lambda's shape members in
snake_case (``code_sha256`` <-> ``CodeSha256``) so the edge can pick them by name."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

LOG_GROUP_PREFIX = "/aws/lambda/"  # where Lambda writes a function's log


class InvocationType(str, Enum):
    REQUEST_RESPONSE = "RequestResponse"
    EVENT = "Event"
    DRY_RUN = "DryRun"


@dataclass(frozen=True)
class FunctionConfig:
    function_name: str
    function_arn: str
    runtime: str
    role: str
    handler: str
    code_sha256: str  # base64 of the zip's SHA-256, as Lambda reports it
    code_size: int
    code_dir: Path  # the unzipped code: LAMBDA_TASK_ROOT
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    last_modified: float = 0.0
    revision_id: str = ""  # changes with every update: warm workers of an older revision retire
    version: str = "$LATEST"
    state: str = "Active"
    last_update_status: str = "Successful"

    @property
    def log_group_name(self) -> str:
        return LOG_GROUP_PREFIX + self.function_name


@dataclass(frozen=True)
class Invocation:
    request_id: str
    status_code: int  # 200 RequestResponse, 202 Event, 204 DryRun
    payload: bytes  # the handler's result as JSON, or the error document
    function_error: str | None = None  # "Unhandled" when the handler raised, timed out or crashed
    log_result: str = ""  # base64 of the last 4 KB of the log, when asked for
    executed_version: str | None = "$LATEST"  # None for Event and DryRun: nothing ran yet
    duration_ms: float = 0.0


LINE_BITS = 20  # an invocation's log has fewer than 2**20 lines (256 KB of output plus Lambda's lines)


@dataclass(frozen=True)
class LogEvent:
    timestamp: float  # epoch seconds: the invocation's start, its end for the END and REPORT lines
    message: str
    request_id: str
    invocation_id: int  # the stored invocation the line belongs to: increases as invocations end
    line: int = 0  # the line's index in the invocation's log
    log_stream: str = ""  # the worker that ran the invocation: ``YYYY/MM/DD/[$LATEST]<32 hex>``
    ingestion_time: float = 0.0  # when the invocation's log was stored (its end)

    @property
    def position(self) -> int:
        """Where the line sits in the order logs were stored: unique, stable, and what paging tokens hold."""
        return self.invocation_id << LINE_BITS | self.line


@dataclass(frozen=True)
class LogGroup:
    """A function's log, as CloudWatch sees it: it exists from the function's first logged invocation
    on and outlives the function."""

    function_name: str
    creation_time: float
    stored_bytes: int

    @property
    def log_group_name(self) -> str:
        return LOG_GROUP_PREFIX + self.function_name


@dataclass(frozen=True)
class LogStream:
    """The invocations one worker process ran."""

    log_stream_name: str
    first_event_timestamp: float
    last_event_timestamp: float
    last_ingestion_time: float

    @property
    def creation_time(self) -> float:
        return self.first_event_timestamp


@dataclass(frozen=True)
class LogPage:
    """One read of a function's log in one direction (see ``LogStore.read``)."""

    events: list[LogEvent]  # in reading order: oldest first forward, newest first backward
    cursor: int  # the position the read started from (exclusive)
    next: int  # where the next read in the same direction continues (exclusive)
    more: bool  # the read stopped early (limit, size or scan budget): more may follow
