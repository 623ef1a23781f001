"""Athena query executions: QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED, on a worker pool.

    executions = QueryExecutions(settings, clock, engine, objects)
    query_id = executions.start("SELECT 1", database="default", output_location="s3://athena-results/")
    executions.get(query_id).state            # poll until finished
    executions.results(query_id).rows         # [["_col0"], ["1"]]: a SELECT's header row first

``start`` only records the execution and hands it to the pool, so many concurrent queries never
hold up the caller. A watchdog fails any query that outlives ``query_timeout_seconds``; ``stop``
cancels at once. Both settle the state first, then interrupt the statement through the engine's
``cancel(token)``; a late answer is discarded, never written over the final state.
Results go to ``<output location><QueryExecutionId>.csv`` (DDL / utility: ``.txt``) plus
``.metadata`` through the object store, and executions, workgroups and named queries persist in
SQLite under ``DATA_DIR/query/`` (an execution unfinished at a restart becomes FAILED).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Protocol

from tidelake.clock import Clock
from tidelake.config import Settings
from tidelake.errors import InvalidArgument, NotFound, TidelakeError
from tidelake.lake.errors import BucketNotFound
from tidelake.query import result_files as files
from tidelake.query.execution_models import (
    DEFAULT_CATALOG,
    PRIMARY,
    SYSTEM,
    TYPE_INTERNAL,
    TYPE_TIMEOUT,
    TYPE_USER,
    TYPE_WRITE_RESULTS,
    USER,
    ExecutionState,
    InvalidQueryRequest,
    NamedQuery,
    QueryExecution,
    QueryNotFinished,
    ResultPage,
    WorkGroup,
)
from tidelake.query.execution_store import ExecutionStore

log = logging.getLogger("tidelake.query")

NO_OUTPUT_LOCATION = ("No output location provided. An output location is required either through the Workgroup "
                      "result configuration setting or as an API input.")
RESTARTED = "tidelake stopped while the query was running; run it again."
CANCELLED_BY_USER = "Query cancelled by user"
MAX_RESULTS = 1000
_CACHED_ROWS = 2_000_000  # formatted rows kept in memory across executions (older ones re-read their file)
_CSV_STATEMENTS = ("SELECT", "WITH", "VALUES", "TABLE", "INSERT", "EXECUTE", "UNLOAD", "(")


class Engine(Protocol):
    """``tidelake.query.engine.QueryEngine``; ``cancel(token)``, if the engine has it, interrupts a statement."""

    def execute(self, sql: str, database: str | None = None, parameters: list[str] | None = None, *,
                token: str | None = None) -> Any: ...


class Objects(Protocol):
    def put_object(self, bucket: str, key: str, data: bytes) -> Any: ...

    def get_object(self, bucket: str, key: str) -> tuple[Any, bytes]: ...


class QueryExecutions:
    def __init__(self, settings: Settings, clock: Clock, engine: Engine, objects: Objects) -> None:
        self.clock = clock
        self.engine = engine
        self.objects = objects
        self.timeout_seconds = settings.query_timeout_seconds
        self.store = ExecutionStore(settings.data_dir / "query", clock.now())
        self._pool = ThreadPoolExecutor(max(1, settings.query_workers), thread_name_prefix="tidelake-query")
        self._lock = threading.Lock()
        self._live: dict[str, QueryExecution] = {}  # QUEUED / RUNNING, the source of truth while they run
        self._deadlines: dict[str, float] = {}  # monotonic deadline per RUNNING execution
        self._rows: OrderedDict[str, list[list[str | None]]] = OrderedDict()
        self._closed = threading.Event()
        for execution in self.store.unfinished():  # Step 0: what a crash left running cannot finish now
            self._settle(execution, ExecutionState.FAILED, RESTARTED, SYSTEM, TYPE_INTERNAL)
        self._watchdog = threading.Thread(target=self._watch, name="tidelake-query-watchdog", daemon=True)
        self._watchdog.start()

    def close(self) -> None:
        self._closed.set()
        self._watchdog.join()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            live = list(self._live.values())
        for execution in live:
            self._finish(execution.query_execution_id, ExecutionState.FAILED, RESTARTED, SYSTEM, TYPE_INTERNAL)
        close_engine = getattr(self.engine, "close", None)
        if close_engine is not None:
            close_engine()
        self.store.close()

    # -- executions ----------------------------------------------------------------------------

    def start(self, query: str, database: str | None = None, catalog: str | None = None,
              output_location: str | None = None, work_group: str | None = None,
              parameters: list[str] | None = None, client_request_token: str | None = None) -> str:
        """Queue ``query`` and return its execution id (the same one again for a repeated token)."""
        group = self.store.get_work_group(work_group or PRIMARY)
        if group.state != "ENABLED":
            raise InvalidQueryRequest(f"WorkGroup {group.name} is disabled.")
        if client_request_token:
            earlier = self.store.execution_by_token(client_request_token)
            if earlier is not None:
                if (earlier.query, earlier.database, earlier.execution_parameters) != (query, database, parameters):
                    raise InvalidQueryRequest("The ClientRequestToken was already used for a different request.",
                                              "IDEMPOTENT_PARAMETER_MISMATCH")
                return earlier.query_execution_id
        execution_id = str(uuid.uuid4())
        location = _result_prefix(output_location, group)
        suffix = ".csv" if query.lstrip().upper().startswith(_CSV_STATEMENTS) else ".txt"
        execution = QueryExecution(execution_id, query, group.name, database, catalog or DEFAULT_CATALOG,
                                   location + execution_id + suffix, submitted=self.clock.now(),
                                   execution_parameters=parameters or None, client_request_token=client_request_token)
        self.store.put_execution(execution)
        with self._lock:
            self._live[execution_id] = execution
        self._pool.submit(self._run, execution_id)
        return execution_id

    def get(self, query_execution_id: str) -> QueryExecution:
        with self._lock:
            live = self._live.get(query_execution_id)
            if live is not None:
                return replace(live)
        return self.store.get_execution(query_execution_id)

    def stop(self, query_execution_id: str) -> None:
        """Cancel a queued or running query; stopping a finished one changes nothing (as in Athena)."""
        self.get(query_execution_id)  # unknown ids are an error
        self._finish(query_execution_id, ExecutionState.CANCELLED, CANCELLED_BY_USER, None, None)
        self._interrupt(query_execution_id)

    def list(self, work_group: str | None = None, next_token: str | None = None,
             max_results: int = 50) -> tuple[list[str], str | None]:
        """Execution ids of a workgroup, newest first, and the token of the next page."""
        group = self.store.get_work_group(work_group or PRIMARY)
        before = None
        if next_token:
            if not next_token.isdigit():
                raise InvalidQueryRequest("The NextToken is not valid.")
            before = int(next_token)
        page = self.store.list_execution_ids(group.name, before, max_results + 1)
        more = len(page) > max_results
        page = page[:max_results]
        return [i for i, _ in page], (str(page[-1][1]) if more else None)

    def results(self, query_execution_id: str, next_token: str | None = None,
                max_results: int = MAX_RESULTS) -> ResultPage:
        """A page of a SUCCEEDED query's rows as text, the header row first on a DML result's first page."""
        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidArgument(f"MaxResults must be between 1 and {MAX_RESULTS}.")
        execution = self.get(query_execution_id)
        if execution.state is not ExecutionState.SUCCEEDED:
            raise QueryNotFinished(query_execution_id, execution.state, execution.state_change_reason)
        offset = 0
        if next_token:
            decoded = files.decode_token(next_token)
            if decoded is None or decoded[0] != query_execution_id:
                raise InvalidQueryRequest("The NextToken is not valid for this query execution.")
            offset = decoded[1]
        rows = self._result_rows(execution)
        # Positions count the header row of a DML result as row 0, so tokens stay plain offsets.
        header = [[c.name for c in execution.columns]] if execution.statement_type == "DML" and execution.columns else []
        skip = len(header)
        page = header[offset:] + rows[max(offset - skip, 0):offset - skip + max_results]
        page = page[:max_results]
        end = offset + len(page)
        token = files.encode_token(query_execution_id, end) if end < len(rows) + skip else None
        return ResultPage(execution.columns, page, token, execution.update_count)

    # -- running -------------------------------------------------------------------------------

    def _run(self, execution_id: str) -> None:
        """1. QUEUED -> RUNNING, 2. execute, 3. write the result files, 4. settle (unless stopped meanwhile)."""
        # Step 1
        with self._lock:
            execution = self._live.get(execution_id)
            if execution is None or execution.state is not ExecutionState.QUEUED:
                return  # stopped while queued
            execution.state = ExecutionState.RUNNING
            execution.started = self.clock.now()
            self._deadlines[execution_id] = time.monotonic() + self.timeout_seconds
            running = replace(execution)
        self._save(running)
        # Step 2
        try:
            result = self.engine.execute(running.query, running.database, running.execution_parameters,
                                         token=execution_id)
        except TidelakeError as error:  # QueryFailed (the query is at fault), QueryCancelled (stop, time limit)
            system = getattr(error, "category", "USER") == "SYSTEM"
            error_type = TYPE_TIMEOUT if getattr(error, "timed_out", False) else (TYPE_INTERNAL if system else TYPE_USER)
            self._finish(execution_id, ExecutionState.FAILED, error.message or str(error), SYSTEM if system else USER,
                         error_type)  # a no-op when stop or the watchdog settled it first
            return
        except Exception as error:  # a bug in the engine must not leave the query RUNNING
            log.exception("query %s failed inside the engine", execution_id)
            self._finish(execution_id, ExecutionState.FAILED, f"INTERNAL_ERROR_QUERY_ENGINE: {error}", SYSTEM,
                         TYPE_INTERNAL)
            return
        if self._is_finished(execution_id):
            return  # cancelled or timed out while the engine ran: its answer is dropped
        # Step 3
        began = time.monotonic()
        try:
            location, rows, columns = self._write_result(running, result)
        except Exception as error:
            reason = _write_failure(running.output_location, error)
            self._finish(execution_id, ExecutionState.FAILED, reason, USER if isinstance(error, NotFound) else SYSTEM,
                         TYPE_WRITE_RESULTS)
            return
        # Step 4
        with self._lock:
            execution = self._live.get(execution_id)
            if execution is None:
                return
            execution.output_location, execution.columns, execution.row_count = location, columns, len(rows)
            execution.statement_type = result.statement_type
            execution.engine_ms, execution.data_scanned_bytes = int(result.engine_ms), int(result.data_scanned_bytes)
            execution.update_count = result.update_count
            execution.service_ms = int((time.monotonic() - began) * 1000)
            self._cache_rows(execution_id, rows)
        self._finish(execution_id, ExecutionState.SUCCEEDED, None, None, None)

    def _write_result(self, execution: QueryExecution, result: Any) -> tuple[str, list, list]:
        columns = [files.column_info(c.name, c.type) for c in result.columns]
        rows = files.format_rows(result.rows)
        base = execution.output_location.rsplit(".", 1)[0]
        if result.statement_type == "DML":
            location, data = base + ".csv", files.csv_bytes([c.name for c in columns], rows)
        else:
            location, data = base + ".txt", files.txt_bytes(rows)
        bucket, key = _split(location)
        self.objects.put_object(bucket, key, data)
        self.objects.put_object(bucket, key + ".metadata", files.metadata_bytes(columns))
        return location, rows, columns

    def _finish(self, execution_id: str, state: ExecutionState, reason: str | None, category: int | None,
                error_type: int | None) -> None:
        with self._lock:
            execution = self._live.pop(execution_id, None)
            self._deadlines.pop(execution_id, None)
        if execution is not None:  # None: already settled by someone else (stop, watchdog, the worker)
            self._settle(execution, state, reason, category, error_type)

    def _settle(self, execution: QueryExecution, state: ExecutionState, reason: str | None, category: int | None,
                error_type: int | None) -> None:
        execution.state, execution.state_change_reason = state, reason
        execution.error_category, execution.error_type = category, error_type
        execution.completed = self.clock.now()
        self._save(execution)

    def _save(self, execution: QueryExecution) -> None:
        try:
            self.store.put_execution(execution)
        except Exception:  # closed during shutdown: the restart marks it FAILED
            if not self._closed.is_set():
                raise

    def _is_finished(self, execution_id: str) -> bool:
        with self._lock:
            return execution_id not in self._live

    def _watch(self) -> None:
        """Fail every query that outlives its deadline."""
        while not self._closed.wait(0.1):
            now = time.monotonic()
            with self._lock:
                late = [i for i, deadline in self._deadlines.items() if deadline <= now]
            for execution_id in late:
                self._finish(execution_id, ExecutionState.FAILED,
                             f"Query timeout: the query ran longer than {self.timeout_seconds:g} seconds "
                             "(setting query_timeout_seconds).", USER, TYPE_TIMEOUT)
                self._interrupt(execution_id)

    def _interrupt(self, execution_id: str) -> None:
        """Free the worker: ask the engine to interrupt the statement (the state is already final)."""
        cancel = getattr(self.engine, "cancel", None)
        if cancel is not None:
            try:
                cancel(execution_id)
            except Exception:
                log.exception("interrupting query %s failed", execution_id)

    # -- result rows ---------------------------------------------------------------------------

    def _cache_rows(self, execution_id: str, rows: list[list[str | None]]) -> None:
        self._rows[execution_id] = rows
        self._rows.move_to_end(execution_id)
        while len(self._rows) > 1 and sum(len(r) for r in self._rows.values()) > _CACHED_ROWS:
            self._rows.popitem(last=False)

    def _result_rows(self, execution: QueryExecution) -> list[list[str | None]]:
        with self._lock:
            rows = self._rows.get(execution.query_execution_id)
            if rows is not None:
                self._rows.move_to_end(execution.query_execution_id)
                return rows
        bucket, key = _split(execution.output_location)
        try:
            _, data = self.objects.get_object(bucket, key)
        except NotFound:
            raise InvalidQueryRequest(f"The result file {execution.output_location} no longer exists.") from None
        if key.endswith(".csv"):
            rows = files.parse_csv(data)
        else:
            rows = files.parse_txt(data, len(execution.columns))
        with self._lock:
            self._cache_rows(execution.query_execution_id, rows)
        return rows

    # -- workgroups ----------------------------------------------------------------------------

    def create_work_group(self, name: str, description: str | None = None, output_location: str | None = None,
                          enforce: bool = False, bytes_scanned_cutoff: int | None = None,
                          tags: dict[str, str] | None = None) -> None:
        if output_location:
            _split(output_location)
        self.store.put_work_group(WorkGroup(name, description, "ENABLED", output_location, enforce,
                                            bytes_scanned_cutoff, self.clock.now(), tags or {}), create=True)

    def get_work_group(self, name: str) -> WorkGroup:
        return self.store.get_work_group(name)

    def list_work_groups(self) -> list[WorkGroup]:
        return self.store.list_work_groups()

    def update_work_group(self, name: str, *, description: str | None = None, state: str | None = None,
                          output_location: str | None = None, remove_output_location: bool = False,
                          enforce: bool | None = None, bytes_scanned_cutoff: int | None = None,
                          remove_bytes_scanned_cutoff: bool = False) -> None:
        group = self.store.get_work_group(name)
        if output_location:
            _split(output_location)
        group.description = description if description is not None else group.description
        group.state = state or group.state
        group.output_location = None if remove_output_location else (output_location or group.output_location)
        group.enforce_work_group_configuration = (group.enforce_work_group_configuration if enforce is None
                                                  else enforce)
        group.bytes_scanned_cutoff_per_query = (None if remove_bytes_scanned_cutoff
                                                else bytes_scanned_cutoff or group.bytes_scanned_cutoff_per_query)
        self.store.put_work_group(group)

    def delete_work_group(self, name: str, recursive: bool = False) -> None:
        if name == PRIMARY:
            raise InvalidQueryRequest("The primary workgroup cannot be deleted.")
        self.store.get_work_group(name)
        if self.store.list_named_query_ids(name) and not recursive:
            raise InvalidQueryRequest(f"WorkGroup {name} is not empty: it holds named queries. "
                                      "Set RecursiveDeleteOption to delete them with it.")
        self.store.delete_work_group(name)

    # -- named queries -------------------------------------------------------------------------

    def create_named_query(self, name: str, database: str, query_string: str, description: str | None = None,
                           work_group: str | None = None, client_request_token: str | None = None) -> str:
        group = self.store.get_work_group(work_group or PRIMARY)
        if client_request_token:
            earlier = self.store.named_query_by_token(client_request_token)
            if earlier is not None:
                return earlier.named_query_id
        named = NamedQuery(str(uuid.uuid4()), name, database, query_string, group.name, description,
                           client_request_token)
        self.store.put_named_query(named)
        return named.named_query_id

    def get_named_query(self, named_query_id: str) -> NamedQuery:
        return self.store.get_named_query(named_query_id)

    def list_named_queries(self, work_group: str | None = None) -> list[str]:
        return self.store.list_named_query_ids(self.store.get_work_group(work_group or PRIMARY).name)

    def delete_named_query(self, named_query_id: str) -> None:
        self.store.get_named_query(named_query_id)
        self.store.delete_named_query(named_query_id)


def _split(location: str) -> tuple[str, str]:
    """``s3://bucket/prefix/key`` -> (bucket, prefix/key)."""
    if not location.startswith("s3://") or not location[5:].split("/", 1)[0]:
        raise InvalidQueryRequest(f"outputLocation is not a valid S3 path. Provided {location}")
    bucket, _, key = location[5:].partition("/")
    return bucket, key


def _result_prefix(given: str | None, group: WorkGroup) -> str:
    """The folder results go to: the workgroup's when it is enforced, else the request's, else the workgroup's."""
    location = group.output_location if group.enforce_work_group_configuration and group.output_location else (
        given or group.output_location)
    if not location:
        raise InvalidQueryRequest(NO_OUTPUT_LOCATION)
    _split(location)
    return location if location.endswith("/") else location + "/"


def _write_failure(location: str, error: Exception) -> str:
    if isinstance(error, BucketNotFound):
        return f"Unable to verify/create output bucket {_split(location)[0]}"
    if not isinstance(error, TidelakeError):
        log.exception("writing the result of a query to %s failed", location, exc_info=error)
    return f"Unable to write the query result to {location}: {getattr(error, 'message', None) or error}"
