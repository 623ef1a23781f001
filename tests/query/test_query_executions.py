"""QueryExecutions in-process, with a fake engine (the lifecycle does not depend on the SQL engine).

Athena behaviour pinned here: GetQueryResults' header row and page size (API_GetQueryResults), the
states (API_QueryExecutionStatus), "Query has not yet finished. Current state: RUNNING" and "No
output location provided..." (the messages Athena sends, as seen in client issue reports).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import orjson
import pytest

from tidelake.clock import SystemClock
from tidelake.config import Settings
from tidelake.errors import InvalidArgument
from tidelake.lake.objects import LocalObjectStore
from tidelake.query.execution_models import (
    ExecutionNotFound,
    ExecutionState,
    InvalidQueryRequest,
    QueryNotFinished,
    WorkGroupExists,
    WorkGroupNotFound,
)
from tidelake.query.executions import NO_OUTPUT_LOCATION, RESTARTED, QueryExecutions

Col = SimpleNamespace


class FakeEngine:
    """``SELECT n`` -> n rows; ``SLOW`` waits for ``release``; ``BAD`` fails; ``BOOM`` crashes; else DDL."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[tuple[str, str | None, list[str] | None]] = []
        self.cancelled: list[str] = []

    def cancel(self, token: str) -> bool:
        self.cancelled.append(token)
        return True

    def execute(self, sql: str, database: str | None = None, parameters: list[str] | None = None, *,
                token: str | None = None) -> Any:
        self.calls.append((sql, database, parameters))
        if sql.startswith("SLOW"):
            self.release.wait(10)
            if token in self.cancelled:
                raise InvalidArgument("interrupted")
            return _result("DML", [Col(name="x", type="integer")], [(1,)])
        if sql == "BAD":
            raise InvalidArgument("SYNTAX_ERROR: line 1:1: mismatched input 'BAD'")
        if sql == "BOOM":
            raise RuntimeError("engine bug")
        if sql.startswith("SELECT"):
            n = int(sql.split()[1])
            columns = [Col(name="i", type="integer"), Col(name="s", type="varchar"), Col(name="d", type="decimal(10,2)"),
                       Col(name="t", type="timestamp"), Col(name="b", type="boolean")]
            rows = [(i, f"v,\"{i}\"" if i % 2 else None, Decimal("1.50"), datetime(2026, 1, 2, 3, 4, 5, 678000),
                     i % 2 == 0) for i in range(n)]
            return _result("DML", columns, rows)
        return _result("UTILITY", [Col(name="tab_name", type="varchar")], [("a",), ("b",)])


def _result(kind: str, columns: list, rows: list) -> Any:
    return SimpleNamespace(statement_type=kind, columns=columns, rows=rows, data_scanned_bytes=123, engine_ms=7,
                           update_count=None)


@pytest.fixture
def make(tmp_path: Path) -> Any:
    opened: list[QueryExecutions] = []
    objects = LocalObjectStore(tmp_path / "lake")
    objects.create_bucket("results")

    def build(engine: FakeEngine | None = None, **settings: Any) -> QueryExecutions:
        values = {"data_dir": tmp_path / "data", "query_workers": 4, **settings}
        executions = QueryExecutions(Settings(**values), SystemClock(), engine or FakeEngine(), objects)
        opened.append(executions)
        return executions
    build.objects = objects  # type: ignore[attr-defined]
    yield build
    for executions in opened:
        try:
            executions.close()
        except Exception:
            pass


def wait(executions: QueryExecutions, query_id: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (execution := executions.get(query_id)).state.finished:
        assert time.monotonic() < deadline, f"{query_id} stuck in {execution.state}"
        time.sleep(0.01)
    return execution


def test_select_lifecycle_files_and_header_row(make: Callable[..., QueryExecutions]) -> None:
    queries = make()
    query_id = queries.start("SELECT 3", database="db", output_location="s3://results/out")
    execution = wait(queries, query_id)
    assert execution.state is ExecutionState.SUCCEEDED
    assert execution.output_location == f"s3://results/out/{query_id}.csv"
    assert execution.statement_type == "DML" and execution.engine_ms == 7 and execution.data_scanned_bytes == 123
    page = queries.results(query_id)
    assert page.rows[0] == ["i", "s", "d", "t", "b"]
    assert page.rows[1] == ["0", None, "1.50", "2026-01-02 03:04:05.678", "true"]
    assert page.rows[2][1] == 'v,"1"'
    assert [(c.name, c.type, c.precision, c.scale) for c in page.columns][:3] == [
        ("i", "integer", 10, 0), ("s", "varchar", 2147483647, 0), ("d", "decimal", 10, 2)]
    _, data = make.objects.get_object("results", f"out/{query_id}.csv")  # type: ignore[attr-defined]
    assert data.splitlines()[:2] == [b'"i","s","d","t","b"', b'"0",,"1.50","2026-01-02 03:04:05.678","true"']
    _, meta = make.objects.get_object("results", f"out/{query_id}.csv.metadata")  # type: ignore[attr-defined]
    assert orjson.loads(meta)["ColumnInfo"][0]["Type"] == "integer"


def test_utility_statement_writes_txt_without_header(make: Callable[..., QueryExecutions]) -> None:
    queries = make()
    query_id = queries.start("SHOW TABLES", output_location="s3://results/")
    execution = wait(queries, query_id)
    assert execution.output_location.endswith(f"/{query_id}.txt")
    assert queries.results(query_id).rows == [["a"], ["b"]]


def test_pages_of_at_most_1000_rows_header_counted(make: Callable[..., QueryExecutions]) -> None:
    queries = make()
    query_id = queries.start("SELECT 2500", output_location="s3://results/")
    wait(queries, query_id)
    seen, token, sizes = [], None, []
    while True:
        page = queries.results(query_id, token, 1000)
        sizes.append(len(page.rows))
        seen.extend(page.rows)
        token = page.next_token
        if token is None:
            break
    assert sizes == [1000, 1000, 501]
    assert [row[0] for row in seen[1:]] == [str(i) for i in range(2500)]
    with pytest.raises(InvalidArgument):
        queries.results(query_id, None, 1001)
    with pytest.raises(InvalidQueryRequest, match="NextToken"):
        queries.results(query_id, "bogus")


def test_results_survive_a_restart(make: Callable[..., QueryExecutions]) -> None:
    queries = make()
    query_id = queries.start("SELECT 5", output_location="s3://results/")
    wait(queries, query_id)
    before = queries.results(query_id).rows
    queries.close()
    again = make()
    assert again.get(query_id).state is ExecutionState.SUCCEEDED
    assert again.results(query_id).rows == before  # re-read from the CSV: NULL stays apart from ''


def test_bad_sql_fails_with_reason_and_results_refuse(make: Callable[..., QueryExecutions]) -> None:
    queries = make()
    bad = wait(queries, queries.start("BAD", output_location="s3://results/"))
    assert bad.state is ExecutionState.FAILED and bad.state_change_reason.startswith("SYNTAX_ERROR")
    assert bad.error_category == 2
    with pytest.raises(QueryNotFinished, match="SYNTAX_ERROR"):
        queries.results(bad.query_execution_id)
    crash = wait(queries, queries.start("BOOM", output_location="s3://results/"))
    assert crash.state is ExecutionState.FAILED and "engine bug" in crash.state_change_reason


def test_missing_bucket_fails_the_query(make: Callable[..., QueryExecutions]) -> None:
    queries = make()
    execution = wait(queries, queries.start("SELECT 1", output_location="s3://nowhere/"))
    assert execution.state is ExecutionState.FAILED
    assert execution.state_change_reason == "Unable to verify/create output bucket nowhere"


def test_output_location_from_request_or_workgroup(make: Callable[..., QueryExecutions]) -> None:
    queries = make()
    with pytest.raises(InvalidQueryRequest) as error:
        queries.start("SELECT 1")
    assert error.value.message == NO_OUTPUT_LOCATION
    with pytest.raises(InvalidQueryRequest, match="not a valid S3 path"):
        queries.start("SELECT 1", output_location="results/")
    queries.create_work_group("team", output_location="s3://results/team/")
    execution = wait(queries, queries.start("SELECT 1", work_group="team"))
    assert execution.output_location.startswith("s3://results/team/")
    queries.update_work_group("team", enforce=True)
    execution = wait(queries, queries.start("SELECT 1", work_group="team", output_location="s3://results/mine/"))
    assert execution.output_location.startswith("s3://results/team/")  # the workgroup's setting wins
    queries.update_work_group("team", state="DISABLED")
    with pytest.raises(InvalidQueryRequest, match="disabled"):
        queries.start("SELECT 1", work_group="team")
    with pytest.raises(WorkGroupNotFound):
        queries.start("SELECT 1", work_group="nope")


def test_running_query_reports_not_finished_then_can_be_stopped(make: Callable[..., QueryExecutions]) -> None:
    engine = FakeEngine()
    queries = make(engine)
    query_id = queries.start("SLOW", output_location="s3://results/")
    deadline = time.monotonic() + 5
    while queries.get(query_id).state is not ExecutionState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(QueryNotFinished) as error:
        queries.results(query_id)
    assert error.value.message == "Query has not yet finished. Current state: RUNNING"
    queries.stop(query_id)
    assert queries.get(query_id).state is ExecutionState.CANCELLED
    assert engine.cancelled == [query_id]  # the engine is asked to interrupt the statement
    engine.release.set()  # the engine's late answer is dropped
    time.sleep(0.1)
    assert queries.get(query_id).state is ExecutionState.CANCELLED
    queries.stop(query_id)  # stopping a finished query is a no-op
    with pytest.raises(ExecutionNotFound):
        queries.stop("no-such-id")


def test_time_limit_fails_the_query(make: Callable[..., QueryExecutions]) -> None:
    engine = FakeEngine()
    queries = make(engine, query_timeout_seconds=0.3)
    execution = wait(queries, queries.start("SLOW", output_location="s3://results/"))
    engine.release.set()
    assert execution.state is ExecutionState.FAILED
    assert execution.state_change_reason.startswith("Query timeout") and execution.error_type == 206


def test_many_queries_queue_and_all_finish(make: Callable[..., QueryExecutions]) -> None:
    engine = FakeEngine()
    queries = make(engine, query_workers=2)
    began = time.monotonic()
    ids = [queries.start("SLOW", output_location="s3://results/") for _ in range(8)]
    assert time.monotonic() - began < 1  # start never waits for a worker
    assert sum(queries.get(i).state is ExecutionState.QUEUED for i in ids) >= 6
    engine.release.set()
    assert all(wait(queries, i).state is ExecutionState.SUCCEEDED for i in ids)
    listed, token = queries.list(max_results=5)
    assert listed == ids[::-1][:5] and token
    rest, token = queries.list(next_token=token)
    assert rest == ids[::-1][5:] and token is None


def test_unfinished_at_close_is_failed_on_restart(make: Callable[..., QueryExecutions]) -> None:
    engine = FakeEngine()
    queries = make(engine, query_workers=1)
    ids = [queries.start("SLOW", output_location="s3://results/") for _ in range(2)]
    queries._closed.set()  # simulate a crash: nothing settles the live executions
    queries._watchdog.join()
    queries._pool.shutdown(wait=False, cancel_futures=True)
    queries.store.close()
    engine.release.set()
    again = make(FakeEngine())
    for query_id in ids:
        execution = again.get(query_id)
        assert execution.state is ExecutionState.FAILED and execution.state_change_reason == RESTARTED


def test_client_request_token_is_idempotent(make: Callable[..., QueryExecutions]) -> None:
    queries = make()
    token = "t" * 32
    first = queries.start("SELECT 1", output_location="s3://results/", client_request_token=token)
    assert queries.start("SELECT 1", output_location="s3://results/", client_request_token=token) == first
    with pytest.raises(InvalidQueryRequest):
        queries.start("SELECT 2", output_location="s3://results/", client_request_token=token)


def test_parameters_reach_the_engine(make: Callable[..., QueryExecutions]) -> None:
    engine = FakeEngine()
    queries = make(engine)
    wait(queries, queries.start("SELECT 1", "db", output_location="s3://results/", parameters=["1", "'a'"]))
    assert engine.calls[-1] == ("SELECT 1", "db", ["1", "'a'"])


def test_workgroups_and_named_queries(make: Callable[..., QueryExecutions]) -> None:
    queries = make()
    assert [g.name for g in queries.list_work_groups()] == ["primary"]
    queries.create_work_group("wg", description="team")
    with pytest.raises(WorkGroupExists):
        queries.create_work_group("wg")
    named = queries.create_named_query("q", "db", "SELECT 1", work_group="wg")
    assert queries.get_named_query(named).query_string == "SELECT 1"
    assert queries.list_named_queries("wg") == [named]
    with pytest.raises(InvalidQueryRequest, match="not empty"):
        queries.delete_work_group("wg")
    queries.delete_work_group("wg", recursive=True)
    with pytest.raises(WorkGroupNotFound):
        queries.get_work_group("wg")
    with pytest.raises(InvalidQueryRequest):
        queries.delete_work_group("primary")
