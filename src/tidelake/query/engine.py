"""QueryEngine: one Athena statement in, a QueryResult out, over the lake with DuckDB.

    engine = QueryEngine(catalog, lake_root, objects)
    engine.execute("SELECT country, count(*) FROM retail GROUP BY 1", database="mydatabase")
    engine.execute(sql, token=execution_id)  # then engine.cancel(execution_id) from another thread

A statement runs on its own DuckDB cursor of one sandboxed in-memory database (see safety.py).
1. parse with sqlglot's athena dialect, fill ``?`` from the execution parameters;
2. DDL / SHOW / MSCK go to the catalog (ddl.py, show.py);
3. a query is checked (safety.check_query), each table reference is bound to a temporary view over
   its lake files (views expand to their SQL; partitions pruned by the WHERE clause), and the
   translated SQL runs; CTAS / INSERT / UNLOAD write its result through the object store (write.py).
``cancel`` and the time limit interrupt the cursor (``DuckDBPyConnection.interrupt``).
"""
from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Hashable, Iterator

import duckdb
from sqlglot import exp

from tidelake.lake.catalog.errors import DatabaseNotFound, TableNotFound
from tidelake.lake.catalog.store import Catalog
from tidelake.query import ddl, show, write
from tidelake.query.errors import QueryCancelled, QueryFailed
from tidelake.query.models import DDL, DML, QueryResult, ResultColumn
from tidelake.query.partitions import predicate_terms, projected_partitions, projection_enabled, prune
from tidelake.query.safety import check_query, position, sandboxed_connection
from tidelake.query.sources import KeyCache, build_source, list_files, location_to_path
from tidelake.query.translate import parse_one, to_duckdb
from tidelake.query.types import athena_type

MAX_VIEW_DEPTH = 16


class QueryEngine:
    def __init__(self, catalog: Catalog, lake_root: Path, objects: Any, *, timeout_seconds: float = 1800,
                 threads: int = 2, scratch_dir: Path | None = None, default_table_root: str | None = None) -> None:
        self.catalog = catalog
        self.objects = objects
        self.lake_root = Path(lake_root).resolve()
        self.lake_root.mkdir(parents=True, exist_ok=True)
        self.scratch = Path(scratch_dir or self.lake_root.parent / "query-scratch").resolve()
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.timeout_seconds = timeout_seconds
        self.default_table_root = default_table_root  # CTAS without external_location nor database LOCATION
        self._con = sandboxed_connection([self.lake_root, self.scratch], threads)
        self._keys = KeyCache()
        self._lock = threading.Lock()
        self._running: dict[Hashable, tuple[duckdb.DuckDBPyConnection, list[str]]] = {}
        self._names = itertools.count(1)

    def close(self) -> None:
        with self._lock:
            tokens = list(self._running)
        for token in tokens:
            self._stop(token, "cancelled")
        deadline = time.monotonic() + 5
        while self._running and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            self._con.close()
        except duckdb.Error:  # a statement still winding down; the process is ending anyway
            pass

    def location_to_path(self, uri: str) -> Path:
        return location_to_path(self.lake_root, uri)

    # -- running -------------------------------------------------------------------------------------

    def cancel(self, token: Hashable) -> bool:
        """Interrupt the statement started with ``token``; False if none is running."""
        return self._stop(token, "cancelled")

    def _stop(self, token: Hashable, reason: str) -> bool:
        # DuckDB's interrupt only stops a call in progress, and a statement makes several calls
        # (binding, describing, running): keep interrupting until the statement has ended.
        with self._lock:
            running = self._running.get(token)
            if running is None:
                return False
            running[1].append(reason)

        def keep_interrupting() -> None:
            while True:
                with self._lock:
                    current = self._running.get(token)
                    if current is None or current is not running:
                        return
                    current[0].interrupt()
                time.sleep(0.02)

        threading.Thread(target=keep_interrupting, name="tidelake-query-interrupt", daemon=True).start()
        return True

    def execute(self, sql: str, database: str | None = None, parameters: list[str] | None = None, *,
                token: Hashable | None = None) -> QueryResult:
        began = time.monotonic()
        token = token if token is not None else object()
        cursor = self._con.cursor()
        reasons: list[str] = []
        with self._lock:
            self._running[token] = (cursor, reasons)
        timer = threading.Timer(self.timeout_seconds, self._time_out, (token,))
        timer.daemon = True
        timer.start()
        try:
            result = _Statement(self, cursor, database.lower() if database else None, parameters or [],
                                str(token) if isinstance(token, str) else uuid.uuid4().hex).run(sql)
            if reasons:  # stopped after DuckDB's last call: the answer is dropped all the same
                raise duckdb.InterruptException("interrupted")
        except duckdb.InterruptException:
            if "timeout" in reasons:
                raise QueryCancelled(f"Query exhausted resources at this scale factor: timeout of "
                                     f"{self.timeout_seconds:g} seconds exceeded", timed_out=True) from None
            raise QueryCancelled() from None
        finally:
            timer.cancel()
            with self._lock:
                self._running.pop(token, None)
            cursor.close()
        result.engine_ms = int((time.monotonic() - began) * 1000)
        return result

    def _time_out(self, token: Hashable) -> None:
        self._stop(token, "timeout")

    def next_name(self) -> str:
        return f"__tl_src_{next(self._names)}"

    @contextmanager
    def scan(self, table: Any, files_by_partition: list[tuple[list[str], list[tuple[str, int]]]]
             ) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
        """A cursor and the SELECT reading these files of ``table`` exactly as a query reads them
        (SerDe, case-insensitive JSON keys, catalog types, partition columns last), for jobs that
        write the rows with DuckDB's COPY (compaction). The cursor closes on exit."""
        cursor = self._con.cursor()
        try:
            source = build_source(table, files_by_partition, None, cursor, self._keys, self.next_name())
            for name, arrow in source.registrations.items():
                cursor.register(name, arrow)
            yield cursor, source.sql
        finally:
            cursor.close()


class _Statement:
    """One statement's run: its cursor, default database and parameters."""

    def __init__(self, engine: QueryEngine, cursor: duckdb.DuckDBPyConnection, database: str | None,
                 parameters: list[str], query_id: str) -> None:
        self.engine, self.cursor, self.database = engine, cursor, database
        self.parameters, self.query_id = parameters, query_id
        self.catalog = engine.catalog
        self._placeholders_used = 0

    def run(self, sql: str) -> QueryResult:
        sql = sql.strip().rstrip(";")
        tree = parse_one(sql)
        if isinstance(tree, exp.Command):
            return self._command(tree)
        if isinstance(tree, (exp.Query, exp.Insert, exp.Create)):
            self._fill(tree)
            self._check_parameters()
        if isinstance(tree, exp.Create):
            return self._create(tree)
        if isinstance(tree, exp.Drop):
            kind = (tree.args.get("kind") or "").upper()
            if kind in ("DATABASE", "SCHEMA"):
                ddl.drop_database(self.catalog, tree)
            elif kind in ("TABLE", "VIEW"):
                ddl.drop_table(self.catalog, tree, self.database, view=kind == "VIEW")
            else:
                raise QueryFailed(f"DROP {kind} is not supported", error_name="NOT_SUPPORTED")
            return QueryResult(DDL)
        if isinstance(tree, exp.Alter) and all(isinstance(a, exp.DropPartition) for a in tree.args.get("actions") or []):
            ddl.drop_partition_node(self.catalog, tree, self.database)
            return QueryResult(DDL)
        if isinstance(tree, exp.Alter):  # ADD PARTITION forms sqlglot parses only sometimes: one path for all
            ddl.alter_partitions(self.catalog, re.sub(r"^\s*ALTER\s+", "", sql, flags=re.I), self.database)
            return QueryResult(DDL)
        if isinstance(tree, exp.Describe):
            return show.describe(self.catalog, tree, self.database)
        if isinstance(tree, exp.Insert):
            return write.insert(self.catalog, self.engine.objects, self.engine.scratch, self.cursor, tree,
                                self.database, self.prepare, self.query_id)
        if isinstance(tree, exp.Query):
            return self._select(tree)
        raise QueryFailed(f"Statement {tree.key.upper()} is not supported by tidelake", error_name="NOT_SUPPORTED")

    # -- statements ----------------------------------------------------------------------------------

    def _command(self, tree: exp.Command) -> QueryResult:
        name = tree.this.upper()
        text = tree.expression.name if isinstance(tree.expression, exp.Literal) else str(tree.expression or "")
        if name == "SHOW":
            return show.show(self.catalog, text, self.database)
        if name == "MSCK REPAIR" or name == "MSCK":
            text = re.sub(r"^\s*REPAIR\s+", "", text, flags=re.I) if name == "MSCK" else text
            rows = ddl.msck_repair(self.catalog, self.engine.objects, text, self.database)
            return QueryResult(DDL, [ResultColumn("result", "varchar")] if rows else [], rows)
        if name == "ALTER":
            ddl.alter_partitions(self.catalog, text, self.database)
            return QueryResult(DDL)
        if name == "UNLOAD":
            return write.unload(self.engine.objects, self.engine.scratch, self.cursor, text, self._parse_filled,
                                self.prepare, self.query_id)
        raise QueryFailed(f"{name} statements are not supported by tidelake", error_name="NOT_SUPPORTED")

    def _parse_filled(self, sql: str) -> exp.Expression:
        tree = parse_one(sql)
        self._fill(tree)
        if not sql.startswith("CREATE TABLE __unload"):
            self._check_parameters()
        return tree

    def _create(self, tree: exp.Create) -> QueryResult:
        kind = (tree.args.get("kind") or "").upper()
        if kind in ("DATABASE", "SCHEMA"):
            ddl.create_database(self.catalog, tree)
        elif kind == "VIEW":
            ddl.create_view(self.catalog, tree, "", self.database, self._describe)
        elif kind == "TABLE" and tree.expression is not None:
            return write.ctas(self.catalog, self.engine.objects, self.engine.scratch, self.cursor, tree,
                              self.database, self.prepare, self.query_id, self.engine.default_table_root)
        elif kind == "TABLE":
            ddl.create_external_table(self.catalog, tree, self.database)
        else:
            raise QueryFailed(f"CREATE {kind} is not supported", error_name="NOT_SUPPORTED")
        return QueryResult(DDL)

    def _select(self, tree: exp.Query) -> QueryResult:
        prepared = self.prepare(tree)
        try:
            self.cursor.execute(prepared.sql)
            rows = self.cursor.fetchall()
        except duckdb.InterruptException:
            raise
        except duckdb.Error as error:
            raise _translate_error(error, tree) from None
        columns = [ResultColumn(name, kind) for name, kind in prepared.columns]
        return QueryResult(DML, columns, [tuple(r) for r in rows], data_scanned_bytes=prepared.scanned)

    def _describe(self, sql: str, schema: str) -> list[tuple[str, str]]:
        saved, self.database = self.database, schema
        try:
            return self.prepare(parse_one(sql)).columns
        finally:
            self.database = saved

    # -- queries -------------------------------------------------------------------------------------

    def prepare(self, tree: exp.Expression) -> write.Prepared:
        """Check, bind and translate a query; learn its output columns without running it."""
        check_query(tree)
        scanned = self._bind(tree, self.database, 0)
        _name_outputs(tree)
        sql = to_duckdb(tree)
        try:
            described = self.cursor.execute(f"SELECT * FROM ({sql}) AS __tl_q LIMIT 0").description
        except duckdb.InterruptException:
            raise
        except duckdb.Error as error:
            raise _translate_error(error, tree) from None
        return write.Prepared(sql, [(d[0].lower(), athena_type(d[1])) for d in described], scanned)

    def _bind(self, tree: exp.Expression, default_db: str | None, depth: int) -> int:
        if depth > MAX_VIEW_DEPTH:
            raise QueryFailed("View definitions nest too deeply (a view refers to itself?)", error_name="VIEW_IS_RECURSIVE")
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        scanned = 0
        for node in list(tree.find_all(exp.Table)):
            if not node.db and node.name.lower() in ctes:
                continue
            scanned += self._bind_table(node, default_db, depth)
        return scanned

    def _bind_table(self, node: exp.Table, default_db: str | None, depth: int) -> int:
        db, name = (node.db or default_db or "default").lower(), node.name.lower()
        line, col = position(node)
        try:
            self.catalog.get_database(db)
        except DatabaseNotFound:
            raise QueryFailed(f"Schema '{db}' does not exist", error_name="SCHEMA_NOT_FOUND", line=line, column=col) from None
        try:
            table = self.catalog.get_table(db, name)
        except TableNotFound:
            raise QueryFailed(f"Table 'awsdatacatalog.{db}.{name}' does not exist", error_name="TABLE_NOT_FOUND",
                              line=line, column=col) from None
        alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
        if table.is_view:
            sql, schema = ddl.view_sql(table)
            inner = parse_one(sql)
            check_query(inner)
            scanned = self._bind(inner, schema, depth + 1)
            node.replace(exp.Subquery(this=inner, alias=alias))
            return scanned
        view = self.engine.next_name()
        source = self._source(node, table, view)
        for registered, arrow in source.registrations.items():
            self.cursor.register(registered, arrow)
        try:
            self.cursor.execute(f"CREATE TEMP VIEW {view} AS {source.sql}")
        except duckdb.InterruptException:
            raise
        except duckdb.Error as error:
            raise QueryFailed(f"Error opening table {db}.{name}: {str(error).splitlines()[0]}",
                              error_name="HIVE_CURSOR_ERROR") from None
        node.replace(exp.Table(this=exp.to_identifier(view), alias=alias))
        return source.bytes

    def _source(self, node: exp.Table, table: Any, view: str) -> Any:
        keys = table.partition_keys
        root = self.engine.lake_root
        if not keys:
            files = list_files(location_to_path(root, table.storage_descriptor.location or ""))
            return build_source(table, None, files, self.cursor, self.engine._keys, view)
        terms = predicate_terms(node, keys)
        if projection_enabled(table):
            candidates = projected_partitions(table, terms)
        else:
            candidates = self.catalog.get_partitions(table.database_name, table.name)
        chosen = prune(self.cursor, keys, [p.values for p in candidates], terms, f"{view}_pv")
        by_partition = []
        for i in chosen:
            location = candidates[i].storage_descriptor.location or ""
            by_partition.append((candidates[i].values, list_files(location_to_path(root, location)) if location else []))
        return build_source(table, by_partition, None, self.cursor, self.engine._keys, view)

    # -- parameters ----------------------------------------------------------------------------------

    def _fill(self, tree: exp.Expression) -> None:
        for node in list(tree.find_all(exp.Placeholder)):
            if self._placeholders_used >= len(self.parameters):
                self._placeholders_used += 1
                continue
            text = self.parameters[self._placeholders_used]
            self._placeholders_used += 1
            value = parse_one("SELECT " + text).expressions[0]
            if value.find(exp.Select, exp.Table, exp.Column):
                raise QueryFailed(f"Execution parameter {text!r} must be a literal value", error_name="INVALID_PARAMETER_USAGE")
            node.replace(value)

    def _check_parameters(self) -> None:
        if self._placeholders_used != len(self.parameters):
            raise QueryFailed(f"Incorrect number of parameters: expected {self._placeholders_used} but found "
                              f"{len(self.parameters)}", error_name="INVALID_PARAMETER_USAGE")


def _name_outputs(tree: exp.Expression) -> None:
    """Trino names an unaliased output expression ``_col<position>``; DuckDB would use its text."""
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.this
    if isinstance(select, exp.Subquery):
        select = select.unnest()
    if not isinstance(select, exp.Select):
        return
    for i, projection in enumerate(select.expressions):
        if isinstance(projection, (exp.Alias, exp.Column, exp.Star)) or projection.find(exp.Star):
            continue
        if isinstance(projection, exp.Dot):
            continue
        projection.replace(exp.alias_(projection.copy(), f"_col{i}"))


_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found|column named "([^"]+)"|'
                             r'Values list "[^"]*" does not have a column named "([^"]+)"')
_MISSING_FUNCTION = re.compile(r'(?:Scalar|Aggregate|Table) Function with name "?([\w]+)"? does not exist')


def _translate_error(error: duckdb.Error, tree: exp.Expression) -> QueryFailed:
    text = str(error)
    first = text.splitlines()[0]
    match = _MISSING_COLUMN.search(text)
    if match:
        name = next(g for g in match.groups() if g)
        line, col = _find_identifier(tree, name)
        return QueryFailed(f"Column '{name}' cannot be resolved", error_name="COLUMN_NOT_FOUND", line=line or 1,
                           column=col or 1)
    match = _MISSING_FUNCTION.search(text)
    if match:
        return QueryFailed(f"Function '{match.group(1).lower()}' not registered", error_name="FUNCTION_NOT_FOUND",
                           line=1, column=1)
    if isinstance(error, duckdb.ConversionException):
        return QueryFailed(first.split(": ", 1)[-1], error_name="INVALID_CAST_ARGUMENT")
    if isinstance(error, duckdb.BinderException):
        return QueryFailed(first.split(": ", 1)[-1], error_name="TYPE_MISMATCH")
    if isinstance(error, duckdb.InvalidInputException):
        return QueryFailed(first.split(": ", 1)[-1], error_name="HIVE_BAD_DATA")
    if isinstance(error, duckdb.PermissionException):
        return QueryFailed(first.split(": ", 1)[-1], error_name="PERMISSION_DENIED")
    if isinstance(error, (duckdb.OutOfRangeException, duckdb.ConstraintException)):
        return QueryFailed(first.split(": ", 1)[-1], error_name="NUMERIC_VALUE_OUT_OF_RANGE")
    return QueryFailed(first, error_name="GENERIC_INTERNAL_ERROR")


def _find_identifier(tree: exp.Expression, name: str) -> tuple[int | None, int | None]:
    for column in tree.find_all(exp.Column):
        if column.name.lower() == name.lower():
            return position(column)
    return None, None
