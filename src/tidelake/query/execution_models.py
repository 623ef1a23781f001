"""Athena query executions, workgroups and named queries: the data model and its errors.

Attribute names follow the Athena members in snake_case where they map 1:1; the wire layer builds
the nested shapes (Status, Statistics, ResultConfiguration) from them.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from tidelake.errors import AlreadyExists, InvalidArgument, NotFound

PRIMARY = "primary"
DEFAULT_CATALOG = "AwsDataCatalog"


class ExecutionState(str, enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (ExecutionState.SUCCEEDED, ExecutionState.FAILED, ExecutionState.CANCELLED)


# AthenaError categories and types (docs.aws.amazon.com/athena/latest/ug/error-reference.html).
SYSTEM, USER = 1, 2
TYPE_INTERNAL, TYPE_TIMEOUT, TYPE_WRITE_RESULTS, TYPE_USER = 100, 206, 401, 1000


@dataclass(slots=True)
class ColumnInfo:
    name: str
    type: str  # Athena type name: varchar, integer, bigint, double, boolean, timestamp, date, decimal, array...
    precision: int = 0
    scale: int = 0
    nullable: str = "UNKNOWN"
    case_sensitive: bool = False
    catalog_name: str = "hive"
    schema_name: str = ""
    table_name: str = ""

    @property
    def label(self) -> str:
        return self.name


@dataclass(slots=True)
class QueryExecution:
    query_execution_id: str
    query: str
    work_group: str
    database: str | None
    catalog: str
    output_location: str  # the result file: s3://bucket/prefix/<id>.csv (or .txt)
    state: ExecutionState = ExecutionState.QUEUED
    state_change_reason: str | None = None
    error_category: int | None = None
    error_type: int | None = None
    statement_type: str | None = None
    submitted: float = 0.0
    started: float | None = None
    completed: float | None = None
    engine_ms: int = 0
    data_scanned_bytes: int = 0
    service_ms: int = 0
    execution_parameters: list[str] | None = None
    client_request_token: str | None = None
    update_count: int | None = None
    columns: list[ColumnInfo] = field(default_factory=list)
    row_count: int = 0

    @property
    def queue_ms(self) -> int:
        return int(((self.started or self.completed or self.submitted) - self.submitted) * 1000)

    @property
    def total_ms(self) -> int:
        return int(((self.completed or self.submitted) - self.submitted) * 1000) if self.completed else 0


@dataclass(slots=True)
class ResultPage:
    columns: list[ColumnInfo]
    rows: list[list[str | None]]  # Athena text values; None is NULL; a DML result's first page starts with the header
    next_token: str | None
    update_count: int | None


@dataclass(slots=True)
class WorkGroup:
    name: str
    description: str | None = None
    state: str = "ENABLED"
    output_location: str | None = None
    enforce_work_group_configuration: bool = False
    bytes_scanned_cutoff_per_query: int | None = None
    creation_time: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class NamedQuery:
    named_query_id: str
    name: str
    database: str
    query_string: str
    work_group: str = PRIMARY
    description: str | None = None
    client_request_token: str | None = None


class ExecutionNotFound(NotFound):
    def __init__(self, query_execution_id: str) -> None:
        self.query_execution_id = query_execution_id
        super().__init__(f"QueryExecution {query_execution_id} was not found")


class WorkGroupNotFound(NotFound):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"WorkGroup {name} is not found.")


class WorkGroupExists(AlreadyExists):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"WorkGroup {name} is already created")


class NamedQueryNotFound(NotFound):
    def __init__(self, named_query_id: str) -> None:
        self.named_query_id = named_query_id
        super().__init__(f"NamedQuery {named_query_id} was not found")


class DataCatalogNotFound(NotFound):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Catalog {name} was not found. tidelake serves one catalog: {DEFAULT_CATALOG}.")


class InvalidQueryRequest(InvalidArgument):
    """A request Athena refuses (InvalidRequestException); ``athena_error_code`` as Athena sends it."""

    def __init__(self, message: str, athena_error_code: str = "INVALID_INPUT") -> None:
        self.athena_error_code = athena_error_code
        super().__init__(message)


class QueryNotFinished(InvalidQueryRequest):
    def __init__(self, query_execution_id: str, state: ExecutionState, reason: str | None = None) -> None:
        self.query_execution_id = query_execution_id
        self.state = state
        if state is ExecutionState.FAILED and reason:
            message = reason
        else:
            message = f"Query has not yet finished. Current state: {state.value}"
        super().__init__(message)
