"""SQLite persistence for query executions, workgroups and named queries (``DATA_DIR/query/``).

One connection guarded by a lock: every write is a single small statement (a state change), so
contention stays low even with many workers. WAL mode keeps readers off the writer's path.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

import orjson

from tidelake import sqlite
from tidelake.query.execution_models import (
    PRIMARY,
    ColumnInfo,
    ExecutionNotFound,
    ExecutionState,
    NamedQuery,
    NamedQueryNotFound,
    QueryExecution,
    WorkGroup,
    WorkGroupExists,
    WorkGroupNotFound,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, work_group TEXT NOT NULL, body BLOB NOT NULL,
    token TEXT, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS executions_by_group ON executions (work_group, seq);
CREATE UNIQUE INDEX IF NOT EXISTS executions_by_token ON executions (token) WHERE token IS NOT NULL;
CREATE TABLE IF NOT EXISTS work_groups (name TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS named_queries (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, work_group TEXT NOT NULL, body BLOB NOT NULL, token TEXT);
"""



def _dump(obj: Any) -> bytes:
    return orjson.dumps(obj)  # dataclasses, enums and nested ColumnInfo serialize natively


class ExecutionStore:
    def __init__(self, directory: Path, clock_now: float) -> None:
        self._db = sqlite.connect(directory / "queries.sqlite", synchronous="NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        if self._fetch_work_group(PRIMARY) is None:
            self.put_work_group(WorkGroup(PRIMARY, description="", creation_time=clock_now))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- executions ----------------------------------------------------------------------------

    def put_execution(self, execution: QueryExecution) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO executions (id, seq, work_group, body, token, state) VALUES (?, "
                "(SELECT COALESCE(MAX(seq), 0) + 1 FROM executions), ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET body = excluded.body, state = excluded.state",
                (execution.query_execution_id, execution.work_group, _dump(execution),
                 execution.client_request_token, execution.state.value))

    def get_execution(self, query_execution_id: str) -> QueryExecution:
        row = self._db.execute("SELECT id, body FROM executions WHERE id = ?", (query_execution_id,)).fetchone()
        if row is None:
            raise ExecutionNotFound(query_execution_id)
        return _execution(row)

    def execution_by_token(self, token: str) -> QueryExecution | None:
        row = self._db.execute("SELECT id, body FROM executions WHERE token = ?", (token,)).fetchone()
        return _execution(row) if row else None

    def list_execution_ids(self, work_group: str, before_seq: int | None, limit: int) -> list[tuple[str, int]]:
        """Newest first, as ListQueryExecutions answers."""
        rows = self._db.execute(
            "SELECT id, seq FROM executions WHERE work_group = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (work_group, before_seq if before_seq is not None else 2 ** 62, limit)).fetchall()
        return [(r[0], r[1]) for r in rows]

    def unfinished(self) -> Iterator[QueryExecution]:
        rows = self._db.execute("SELECT id, body FROM executions WHERE state IN ('QUEUED', 'RUNNING')").fetchall()
        return (_execution(r) for r in rows)

    # -- workgroups ----------------------------------------------------------------------------

    def put_work_group(self, group: WorkGroup, *, create: bool = False) -> None:
        body = _dump(group)
        with self._lock:
            if create:
                try:
                    self._db.execute("INSERT INTO work_groups (name, body) VALUES (?, ?)", (group.name, body))
                except sqlite3.IntegrityError:
                    raise WorkGroupExists(group.name) from None
            else:
                self._db.execute("INSERT OR REPLACE INTO work_groups (name, body) VALUES (?, ?)", (group.name, body))

    def _fetch_work_group(self, name: str) -> WorkGroup | None:
        row = self._db.execute("SELECT body FROM work_groups WHERE name = ?", (name,)).fetchone()
        return WorkGroup(**orjson.loads(row[0])) if row else None

    def get_work_group(self, name: str) -> WorkGroup:
        group = self._fetch_work_group(name)
        if group is None:
            raise WorkGroupNotFound(name)
        return group

    def list_work_groups(self) -> list[WorkGroup]:
        rows = self._db.execute("SELECT body FROM work_groups ORDER BY name").fetchall()
        return [WorkGroup(**orjson.loads(r[0])) for r in rows]

    def delete_work_group(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM work_groups WHERE name = ?", (name,))
            self._db.execute("DELETE FROM named_queries WHERE work_group = ?", (name,))

    # -- named queries -------------------------------------------------------------------------

    def put_named_query(self, query: NamedQuery) -> None:
        body = _dump(query)
        with self._lock:
            self._db.execute(
                "INSERT INTO named_queries (id, seq, work_group, body, token) VALUES (?, "
                "(SELECT COALESCE(MAX(seq), 0) + 1 FROM named_queries), ?, ?, ?)",
                (query.named_query_id, query.work_group, body, query.client_request_token))

    def get_named_query(self, named_query_id: str) -> NamedQuery:
        row = self._db.execute("SELECT body FROM named_queries WHERE id = ?", (named_query_id,)).fetchone()
        if row is None:
            raise NamedQueryNotFound(named_query_id)
        return NamedQuery(**orjson.loads(row[0]))

    def named_query_by_token(self, token: str) -> NamedQuery | None:
        row = self._db.execute("SELECT body FROM named_queries WHERE token = ?", (token,)).fetchone()
        return NamedQuery(**orjson.loads(row[0])) if row else None

    def list_named_query_ids(self, work_group: str) -> list[str]:
        rows = self._db.execute("SELECT id FROM named_queries WHERE work_group = ? ORDER BY seq",
                                (work_group,)).fetchall()
        return [r[0] for r in rows]

    def delete_named_query(self, named_query_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM named_queries WHERE id = ?", (named_query_id,))


def _execution(row: tuple[str, bytes]) -> QueryExecution:
    values = orjson.loads(row[1])
    values["query_execution_id"] = row[0]
    values["state"] = ExecutionState(values["state"])
    values["columns"] = [ColumnInfo(**c) for c in values["columns"]]
    return QueryExecution(**values)
