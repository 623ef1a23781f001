"""Table -> DuckDB source: the lake files of a table (or of its chosen partitions) read with the
reader its SerDe calls for, columns cast to the catalog's types, partition columns added.

    SELECT "Invoice" AS "invoice", ..., CAST(p."year" AS INTEGER) AS "year"
    FROM read_json([...files...], format='newline_delimited', columns={...}, filename='__tl_file') r
    JOIN __tl_parts_1 p ON r.__tl_file = p.__tl_file

JSON keys match columns case-insensitively, as the OpenX and Hive JSON SerDes do: the exact
spellings are learned once per file (cached by path, size and mtime) and passed to read_json,
which stays vectorised. Files and folders whose names start with ``.`` or ``_`` are hidden, as
in Hive. Locations map to files by ``location_to_path``.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tidelake.lake.catalog.models import (HIVE_JSON_SERDE, LAZY_SIMPLE_SERDE, OPEN_CSV_SERDE, OPENX_JSON_SERDE,
                                          PARQUET_SERDE, Table)
from tidelake.query.errors import QueryFailed
from tidelake.query.types import duckdb_type, is_timestamp

FILE_COLUMN = "__tl_file"
_SCHEMES = ("s3://", "s3a://", "s3n://")


def location_to_path(lake_root: Path, uri: str) -> Path:
    """``s3://bucket/key/prefix`` -> ``<lake_root>/bucket/key/prefix`` (refusing ``..`` escapes)."""
    for scheme in _SCHEMES:
        if uri.lower().startswith(scheme):
            rest = uri[len(scheme):]
            break
    else:
        raise QueryFailed(f"Invalid location: {uri}. Locations must be s3:// URIs", error_name="INVALID_TABLE_PROPERTY")
    parts = [p for p in rest.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise QueryFailed(f"Invalid location: {uri}", error_name="INVALID_TABLE_PROPERTY")
    return lake_root.joinpath(*parts)


def split_location(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (bucket, ``a/b/``): a key prefix ending in ``/`` (empty for the bucket)."""
    rest = uri.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")


def list_files(root: Path) -> list[tuple[str, int]]:
    """Every visible data file under ``root``, recursively, sorted: (path, size)."""
    found: list[tuple[str, int]] = []
    if root.is_file():
        return [(str(root), root.stat().st_size)]
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in files:
            if not name.startswith((".", "_")) and not name.endswith("_$folder$"):
                path = os.path.join(current, name)
                try:
                    found.append((path, os.path.getsize(path)))
                except OSError:
                    continue
    return sorted(found)


@dataclass(slots=True)
class Source:
    sql: str  # a SELECT producing the table's columns then its partition columns
    files: list[tuple[str, int]]
    registrations: dict[str, pa.Table] = field(default_factory=dict)  # arrow tables the SQL joins

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.files)


def table_format(table: Table) -> str:
    """json | parquet | csv | opencsv, from the SerDe, the input format, or ``classification``."""
    sd = table.storage_descriptor
    serde = (sd.serde_info.serialization_library or "").lower()
    inputs = (sd.input_format or "").lower()
    classification = (table.parameters.get("classification") or "").lower()
    if serde in (OPENX_JSON_SERDE.lower(), HIVE_JSON_SERDE.lower()) or "json" in serde or classification == "json":
        return "json"
    if serde == PARQUET_SERDE.lower() or "parquet" in inputs or "parquet" in serde or classification == "parquet":
        return "parquet"
    if serde == OPEN_CSV_SERDE.lower():
        return "opencsv"
    if "orc" in inputs or "orc" in serde or "avro" in serde or "avro" in inputs:
        raise QueryFailed(f"Reading {serde or inputs} tables is not supported by tidelake",
                          error_name="NOT_SUPPORTED")
    if not serde or serde == LAZY_SIMPLE_SERDE.lower() or "text" in inputs or classification in ("csv", "tsv"):
        return "csv"
    raise QueryFailed(f"SerDe {serde} is not supported by tidelake", error_name="NOT_SUPPORTED")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _file_list(files: list[tuple[str, int]]) -> str:
    return "[" + ", ".join(_literal(path) for path, _ in files) + "]"


class KeyCache:
    """Top-level JSON keys per file, keyed by (path, size, mtime): lake files are written once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[int, int, frozenset[str]]] = {}

    def keys(self, cursor: duckdb.DuckDBPyConnection, files: list[tuple[str, int]]) -> set[str]:
        stamps = {}
        for path, _ in files:
            st = os.stat(path)
            stamps[path] = (st.st_size, st.st_mtime_ns)
        with self._lock:
            missing = [p for p in stamps if self._keys.get(p, (None, None, None))[:2] != stamps[p]]
        if missing:
            rows = cursor.execute(
                f"SELECT {FILE_COLUMN}, list_distinct(flatten(list(json_keys(json)))) FROM read_json_objects("
                f"{_file_list([(p, 0) for p in missing])}, format='newline_delimited', filename='{FILE_COLUMN}') "
                f"WHERE json_type(json) = 'OBJECT' GROUP BY 1").fetchall()
            learned = {path: frozenset(keys or ()) for path, keys in rows}
            with self._lock:
                for path in missing:
                    self._keys[path] = (*stamps[path], learned.get(path, frozenset()))
        with self._lock:
            return set().union(*(self._keys[p][2] for p in stamps))


def _timestamp_expr(text_sql: str) -> str:
    # Text as Hive writes it ('yyyy-MM-dd HH:mm:ss[.fff]'), ISO 8601 with T / Z / offsets (to UTC),
    # or epoch milliseconds as the OpenX SerDe accepts.
    return (f"COALESCE(TRY_CAST(TRY_CAST({text_sql} AS TIMESTAMPTZ) AS TIMESTAMP), "
            f"TRY_CAST(make_timestamp(TRY_CAST({text_sql} AS BIGINT) * 1000) AS TIMESTAMP))")


def _json_select(table: Table, files: list[tuple[str, int]], cursor: duckdb.DuckDBPyConnection,
                 keys: KeyCache) -> tuple[list[str], str]:
    serde = table.storage_descriptor.serde_info.parameters
    present = keys.keys(cursor, files)
    by_lower: dict[str, list[str]] = {}
    for key in present:
        by_lower.setdefault(key.lower(), []).append(key)
    columns = table.storage_descriptor.columns
    wanted = {c.name: serde.get(f"mapping.{c.name}", c.name).lower() for c in columns}
    ambiguous = any(len(by_lower.get(w, [])) > 1 for w in wanted.values())
    ignore = str(serde.get("ignore.malformed.json", "false")).lower() == "true"
    options = f"format='newline_delimited', filename='{FILE_COLUMN}', maximum_object_size=134217728"
    if ignore:
        options += ", ignore_errors=true"
    exprs = []
    if ambiguous:  # the same key spelled two ways: extract each spelling from the raw object
        for c in columns:
            spellings = by_lower.get(wanted[c.name], [wanted[c.name]])
            text = "COALESCE(" + ", ".join(f"json ->> {_literal('$.' + _json_path_key(k))}" for k in spellings) + ")"
            raw = "COALESCE(" + ", ".join(f"json -> {_literal('$.' + _json_path_key(k))}" for k in spellings) + ")"
            exprs.append(_typed_from_json(c.type, text, raw) + f" AS {_quote(c.name)}")
        reader = f"read_json_objects({_file_list(files)}, {options})"
        return exprs, reader
    spec = []
    for c in columns:
        key = by_lower.get(wanted[c.name], [wanted[c.name]])[0]
        # Declared types go to read_json; timestamps are read as text and parsed leniently.
        kind = "VARCHAR" if is_timestamp(c.type) else duckdb_type(c.type)
        spec.append(f"{_literal(key)}: {_literal(kind)}")
        source = f"r.{_quote(key)}"
        exprs.append((_timestamp_expr(source) if is_timestamp(c.type) else source) + f" AS {_quote(c.name)}")
    reader = f"read_json({_file_list(files)}, {options}, columns={{{', '.join(spec)}}})"
    return exprs, reader


def _json_path_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def _typed_from_json(hive: str, text_sql: str, raw_sql: str) -> str:
    if is_timestamp(hive):
        return _timestamp_expr(text_sql)
    kind = duckdb_type(hive)
    if kind in ("VARCHAR", "TEXT"):
        return text_sql
    return f"TRY_CAST({raw_sql} AS {kind})"


def _parquet_select(table: Table, files: list[tuple[str, int]],
                    cursor: duckdb.DuckDBPyConnection) -> tuple[list[str], str]:
    reader = f"read_parquet({_file_list(files)}, union_by_name=true, filename='{FILE_COLUMN}')"
    present = {name.lower(): name for name, *_ in cursor.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
    exprs = []
    for c in table.storage_descriptor.columns:
        kind = duckdb_type(c.type)
        name = present.get(c.name.lower())
        value = f"CAST(r.{_quote(name)} AS {kind})" if name else f"CAST(NULL AS {kind})"
        exprs.append(f"{value} AS {_quote(c.name)}")
    return exprs, reader


def _csv_select(table: Table, files: list[tuple[str, int]], kind: str) -> tuple[list[str], str]:
    sd = table.storage_descriptor
    params = {**sd.serde_info.parameters}
    columns = sd.columns
    if kind == "opencsv":
        delim = params.get("separatorChar", ",")
        quote = params.get("quoteChar", '"')
        escape = params.get("escapeChar", "\\")
        null = None
    else:
        delim = params.get("field.delim") or params.get("serialization.format") or "\x01"
        if delim.isdigit() and len(delim) > 1 or delim == "1":
            delim = chr(int(delim))  # serialization.format '1' means ^A
        quote, escape, null = "", params.get("escape.delim", ""), params.get("serialization.null.format", "\\N")
    skip = int(table.parameters.get("skip.header.line.count", "0") or 0)
    spec = ", ".join(f"{_literal(f'c{i}')}: 'VARCHAR'" for i in range(len(columns)))
    options = [f"delim={_literal(delim)}", f"quote={_literal(quote)}", f"escape={_literal(escape)}",
               "header=false", f"skip={skip}", "auto_detect=false", "null_padding=true", "strict_mode=false",
               f"filename='{FILE_COLUMN}'", f"columns={{{spec}}}"]
    if null is not None:
        options.append(f"nullstr={_literal(null)}")
    reader = f"read_csv({_file_list(files)}, {', '.join(options)})"
    exprs = []
    for i, c in enumerate(columns):
        text = f"r.c{i}"
        if is_timestamp(c.type):
            value = _timestamp_expr(text)
        elif duckdb_type(c.type) in ("VARCHAR", "TEXT"):
            value = text
        else:  # Hive reads a value that does not parse as NULL
            value = f"TRY_CAST({text} AS {duckdb_type(c.type)})"
        exprs.append(f"{value} AS {_quote(c.name)}")
    return exprs, reader


def build_source(table: Table, files_by_partition: list[tuple[list[str], list[tuple[str, int]]]] | None,
                 location_files: list[tuple[str, int]] | None, cursor: duckdb.DuckDBPyConnection,
                 keys: KeyCache, name: str) -> Source:
    """The SELECT for ``table``: unpartitioned (``location_files``) or over the chosen partitions
    (``files_by_partition``: partition values and their files)."""
    columns, keys_ = table.storage_descriptor.columns, table.partition_keys
    if files_by_partition is not None:
        files = [f for _, fs in files_by_partition for f in fs]
    else:
        files = location_files or []
    if not files:
        empty = [f"CAST(NULL AS {duckdb_type(c.type)}) AS {_quote(c.name)}" for c in [*columns, *keys_]]
        return Source(f"SELECT {', '.join(empty) or 'NULL AS __empty'} WHERE false", [])
    kind = table_format(table)
    if kind == "json":
        exprs, reader = _json_select(table, files, cursor, keys)
    elif kind == "parquet":
        exprs, reader = _parquet_select(table, files, cursor)
    else:
        exprs, reader = _csv_select(table, files, kind)
    if files_by_partition is None or not keys_:
        return Source(f"SELECT {', '.join(exprs)} FROM {reader} AS r", files)
    parts_name = f"{name}_parts"
    mapping: dict[str, list[Any]] = {FILE_COLUMN: [], **{k.name: [] for k in keys_}}
    for values, part_files in files_by_partition:
        for path, _ in part_files:
            mapping[FILE_COLUMN].append(path)
            for key, value in zip(keys_, values):
                mapping[key.name].append(value)
    arrow = pa.table({k: pa.array(v, pa.string()) for k, v in mapping.items()})
    part_exprs = [_partition_value(k.type, f"p.{_quote(k.name)}") + f" AS {_quote(k.name)}" for k in keys_]
    sql = (f"SELECT {', '.join(exprs + part_exprs)} FROM {reader} AS r "
           f"JOIN {parts_name} AS p ON r.{FILE_COLUMN} = p.{FILE_COLUMN}")
    return Source(sql, files, {parts_name: arrow})


def _partition_value(hive: str, sql: str) -> str:
    if is_timestamp(hive):
        return _timestamp_expr(sql)
    kind = duckdb_type(hive)
    return sql if kind in ("VARCHAR", "TEXT") else f"TRY_CAST({sql} AS {kind})"
