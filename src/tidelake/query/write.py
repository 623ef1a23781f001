"""Statements that write to the lake: CREATE TABLE AS SELECT, INSERT INTO, UNLOAD.

DuckDB writes the files into the engine's scratch folder (``COPY ... PARTITION_BY``), then each file
goes into the lake through the object store under an Athena-like name, so a local lake and an
S3-compatible one get the same objects. Rules from the Athena docs: a CTAS / UNLOAD target must be
empty (HIVE_PATH_ALREADY_EXISTS), partition columns come last and in ``partitioned_by`` order
(HIVE_COLUMN_ORDER_MISMATCH), at most 100 partitions per statement (HIVE_TOO_MANY_OPEN_PARTITIONS),
and Parquet, JSON and TEXTFILE default to GZIP compression.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import duckdb
from sqlglot import exp

from tidelake.errors import NotFound
from tidelake.lake.catalog.errors import TableNotFound
from tidelake.lake.catalog.models import (HIVE_JSON_SERDE, LAZY_SIMPLE_SERDE, PARQUET_INPUT_FORMAT,
                                          PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, TEXT_INPUT_FORMAT,
                                          TEXT_OUTPUT_FORMAT, Column, SerDeInfo, StorageDescriptor, Table)
from tidelake.lake.catalog.store import Catalog
from tidelake.query.ddl import add_partitions, require_database, require_table, table_name
from tidelake.query.errors import QueryFailed
from tidelake.query.models import DDL, DML, QueryResult
from tidelake.query.sources import split_location, table_format
from tidelake.query.types import hive_type_of

MAX_PARTITIONS = 100
_COMPRESSIONS = {"GZIP": ("gzip", ".gz"), "SNAPPY": ("snappy", ""), "ZSTD": ("zstd", ".zst"),
                 "NONE": ("uncompressed", ""), "UNCOMPRESSED": ("uncompressed", "")}


@dataclass(slots=True)
class Prepared:
    sql: str  # DuckDB SQL of the SELECT, tables bound to lake sources
    columns: list[tuple[str, str]]  # (name, Athena type)
    scanned: int


@dataclass(slots=True)
class Target:
    fmt: str  # PARQUET | JSON | TEXTFILE
    location: str
    compression: str
    delimiter: str = "\x01"
    partitioned_by: tuple[str, ...] = ()
    bucketed_by: tuple[str, ...] = ()
    bucket_count: int = 0


def _value(node: exp.Expression) -> Any:
    if isinstance(node, exp.Array):
        return [_value(e) for e in node.expressions]
    if isinstance(node, (exp.Literal, exp.Var, exp.Identifier, exp.Column)):
        return node.name
    return node.sql()


def properties(node: exp.Expression | None) -> dict[str, Any]:
    """CTAS / UNLOAD ``WITH (...)`` properties, names lower-cased."""
    found: dict[str, Any] = {}
    for prop in node.expressions if node is not None else []:
        if isinstance(prop, exp.WithDataProperty):
            found["__no_data"] = bool(prop.args.get("no"))
        elif isinstance(prop, exp.FileFormatProperty):
            found["format"] = _value(prop.this)
        elif isinstance(prop, exp.PartitionedByProperty):
            found["partitioned_by"] = _value(prop.this)
        elif isinstance(prop, exp.LocationProperty):
            found["location"] = _value(prop.this)
        elif isinstance(prop, exp.Property) and prop.args.get("value") is not None:
            found[prop.name.lower()] = _value(prop.args["value"])
    return found


def _target(props: dict[str, Any], location: str, default_format: str) -> Target:
    fmt = str(props.get("format") or default_format).upper()
    if fmt not in ("PARQUET", "JSON", "TEXTFILE"):
        raise QueryFailed(f"Writing format {fmt} is not supported by tidelake (use PARQUET, JSON or TEXTFILE)",
                          error_name="NOT_SUPPORTED")
    compression = str(props.get("write_compression") or props.get("parquet_compression")
                      or props.get("compression") or "GZIP").upper()
    if compression not in _COMPRESSIONS or (compression == "SNAPPY" and fmt != "PARQUET"):
        raise QueryFailed(f"Unsupported compression {compression} for format {fmt}", error_name="INVALID_TABLE_PROPERTY")
    delimiter = str(props.get("field_delimiter") or "\x01")
    partitioned = tuple(c.lower() for c in props.get("partitioned_by") or ())
    bucketed = tuple(c.lower() for c in props.get("bucketed_by") or ())
    count = int(props.get("bucket_count") or 0)
    if bucketed and count <= 0:
        raise QueryFailed("bucket_count must be set with bucketed_by", error_name="INVALID_TABLE_PROPERTY")
    return Target(fmt, location, compression, delimiter, partitioned, bucketed, count)


def _ensure_empty(objects: Any, location: str, what: str) -> None:
    bucket, prefix = split_location(location)
    try:
        page = objects.list_objects(bucket, prefix=prefix, max_keys=1)
    except NotFound:
        raise QueryFailed(f"The specified bucket does not exist: {bucket}", error_name="HIVE_FILESYSTEM_ERROR") from None
    if page.objects:
        raise QueryFailed(f"Target directory for {what} already exists: {location}",
                          error_name="HIVE_PATH_ALREADY_EXISTS")


def _copy_options(target: Target) -> str:
    codec = _COMPRESSIONS[target.compression][0]
    if target.fmt == "PARQUET":
        return f"FORMAT parquet, COMPRESSION {codec}"
    if target.fmt == "JSON":
        return f"FORMAT json, COMPRESSION {codec}"
    delim = target.delimiter.replace("'", "''")
    return f"FORMAT csv, DELIMITER '{delim}', HEADER false, QUOTE '', ESCAPE '', NULLSTR '\\N', COMPRESSION {codec}"


def write_files(cursor: duckdb.DuckDBPyConnection, objects: Any, scratch: Path, prepared: Prepared,
                target: Target, query_id: str) -> tuple[int, list[list[str]]]:
    """Run the query into files at ``target.location``; returns (rows, partition values written)."""
    parts = list(target.partitioned_by)
    select = f"SELECT * FROM ({prepared.sql})"
    if parts:
        count = cursor.execute(f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(_q(p) for p in parts)} "
                               f"FROM ({prepared.sql}))").fetchone()[0]
        if count > MAX_PARTITIONS:
            raise QueryFailed(f"Exceeded limit of {MAX_PARTITIONS} open writers for partitions/buckets",
                              error_name="HIVE_TOO_MANY_OPEN_PARTITIONS")
    work = scratch / f"{query_id}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        rows = 0
        buckets = range(target.bucket_count) if target.bucketed_by else [None]
        for bucket in buckets:
            query = select
            if bucket is not None:
                key = ", ".join(_q(c) for c in target.bucketed_by)
                query += f" WHERE hash({key}) % {target.bucket_count} = {bucket}"
            out = work / (f"b{bucket:05d}" if bucket is not None else "all")
            if parts:
                rows += cursor.execute(f"COPY ({query}) TO '{out}' ({_copy_options(target)}, PARTITION_BY "
                                       f"({', '.join(_q(p) for p in parts)}))").fetchone()[0]
            else:
                out.mkdir()
                rows += cursor.execute(f"COPY ({query}) TO '{out / 'data'}' ({_copy_options(target)})").fetchone()[0]
        written = _upload(objects, work, target, query_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, written


def _upload(objects: Any, work: Path, target: Target, query_id: str) -> list[list[str]]:
    bucket, prefix = split_location(target.location)
    ext = _COMPRESSIONS[target.compression][1] if target.fmt != "PARQUET" else ""
    partitions: dict[tuple[str, ...], None] = {}
    n = 0
    for current, _, files in sorted(os.walk(work)):
        for name in sorted(files):
            path = Path(current) / name
            if path.stat().st_size == 0 and target.fmt != "PARQUET":
                continue
            rel_dirs = path.relative_to(work).parts[1:-1]  # drop the all / bNNNNN folder and the file
            values = tuple(_unescape(part.split("=", 1)[1]) for part in rel_dirs)
            if values:
                partitions[values] = None
            folder = "".join(f"{k}={_escape(v)}/" for k, v in zip(target.partitioned_by, values))
            with open(path, "rb") as data:
                objects.put_object(bucket, f"{prefix}{folder}{query_id}_{n:05d}{ext}", data)
            n += 1
    return [list(v) for v in partitions]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _unescape(value: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def _escape(value: str) -> str:
    return re.sub(r"[\x00-\x1f\"#%'*/:=?\\\x7f{}\[\]^]", lambda m: f"%{ord(m.group(0)):02X}", value)


def _storage(target: Target, columns: list[Column]) -> tuple[StorageDescriptor, dict[str, str]]:
    params = {"EXTERNAL": "TRUE", "has_encrypted_data": "false"}
    if target.fmt == "PARQUET":
        serde = SerDeInfo(PARQUET_SERDE, None, {"serialization.format": "1"})
        sd = StorageDescriptor(columns, target.location, PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, serde_info=serde)
        params.update({"classification": "parquet", "parquet.compression": target.compression})
    elif target.fmt == "JSON":
        sd = StorageDescriptor(columns, target.location, TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT,
                               serde_info=SerDeInfo(HIVE_JSON_SERDE, None, {}))
        params.update({"classification": "json", "write.compression": target.compression})
    else:
        serde = SerDeInfo(LAZY_SIMPLE_SERDE, None, {"field.delim": target.delimiter,
                                                    "serialization.format": target.delimiter})
        sd = StorageDescriptor(columns, target.location, TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT, serde_info=serde)
        params.update({"classification": "csv", "write.compression": target.compression})
    sd.compressed = target.compression not in ("NONE", "UNCOMPRESSED")
    if target.bucketed_by:
        sd.bucket_columns, sd.number_of_buckets = list(target.bucketed_by), target.bucket_count
    return sd, params


def ctas(catalog: Catalog, objects: Any, scratch: Path, cursor: duckdb.DuckDBPyConnection, node: exp.Create,
         default_db: str | None, prepare: Callable[[exp.Expression], Prepared], query_id: str,
         default_root: str | None) -> QueryResult:
    db, name = table_name(node.this, default_db)
    database = require_database(catalog, db)
    try:
        catalog.get_table(db, name)
        if node.args.get("exists"):
            return QueryResult(DDL)
        raise QueryFailed(f"Table 'awsdatacatalog.{db}.{name}' already exists", error_name="TABLE_ALREADY_EXISTS")
    except TableNotFound:
        pass
    props = properties(node.args.get("properties"))
    location = props.get("external_location") or props.get("location")
    if not location:
        root = database.location_uri or default_root
        if not root:
            raise QueryFailed("external_location is required: the database has no LOCATION and no default "
                              "table location is configured", error_name="INVALID_TABLE_PROPERTY")
        location = root.rstrip("/") + ("/" if database.location_uri else "/tables/" + query_id + "/") + \
            (name + "/" if database.location_uri else "")
    target = _target(props, location, "PARQUET")
    prepared = prepare(node.expression)
    names = [n for n, _ in prepared.columns]
    parts = list(target.partitioned_by)
    if parts and names[len(names) - len(parts):] != parts:
        raise QueryFailed(f"Partition keys must be the last columns in the table and in the same order as the table "
                          f"properties: {parts}", error_name="HIVE_COLUMN_ORDER_MISMATCH")
    if len(set(names)) != len(names):
        raise QueryFailed("Column name specified more than once", error_name="DUPLICATE_COLUMN_NAME")
    _ensure_empty(objects, location, f"table '{db}.{name}'")
    columns = [Column(n, hive_type_of(t)) for n, t in prepared.columns]
    data_columns, keys = columns[:len(columns) - len(parts)], columns[len(columns) - len(parts):]
    rows, written = 0, []
    if not props.get("__no_data"):
        rows, written = write_files(cursor, objects, scratch, prepared, target, query_id)
    sd, params = _storage(target, data_columns)
    catalog.create_table(Table(db, name, sd, keys, parameters=params))
    if written:
        table = catalog.get_table(db, name)
        add_partitions(catalog, table, [(values, None) for values in written], True)
    return QueryResult(DDL, data_scanned_bytes=prepared.scanned, update_count=rows)


def insert(catalog: Catalog, objects: Any, scratch: Path, cursor: duckdb.DuckDBPyConnection, node: exp.Insert,
           default_db: str | None, prepare: Callable[[exp.Expression], Prepared], query_id: str) -> QueryResult:
    target_node = node.this.this if isinstance(node.this, exp.Schema) else node.this
    db, name = table_name(target_node, default_db)
    table = require_table(catalog, db, name)
    if table.is_view:
        raise QueryFailed("Inserting into views is not supported", error_name="NOT_SUPPORTED")
    fmt = {"json": "JSON", "parquet": "PARQUET"}.get(table_format(table), "TEXTFILE")
    if table_format(table) == "opencsv":
        raise QueryFailed("INSERT INTO OpenCSVSerde tables is not supported by tidelake", error_name="NOT_SUPPORTED")
    all_columns = [*table.storage_descriptor.columns, *table.partition_keys]
    prepared = prepare(node.expression)
    if isinstance(node.this, exp.Schema):  # INSERT INTO t (a, b) SELECT ...: the others get NULL
        listed = [c.name.lower() for c in node.this.expressions]
    else:
        listed = [c.name for c in all_columns]
    if len(listed) != len(prepared.columns):
        raise QueryFailed("Insert query has mismatched column sizes", error_name="TYPE_MISMATCH")
    by_name = dict(zip(listed, (n for n, _ in prepared.columns)))
    from tidelake.query.types import duckdb_type
    exprs = [(f"CAST({_q(by_name[c.name])} AS {duckdb_type(c.type)})" if c.name in by_name
              else f"CAST(NULL AS {duckdb_type(c.type)})") + f" AS {_q(c.name)}" for c in all_columns]
    shaped = Prepared(f"SELECT {', '.join(exprs)} FROM ({prepared.sql})", [(c.name, "varchar") for c in all_columns],
                      prepared.scanned)
    serde = table.storage_descriptor.serde_info.parameters
    target = Target(fmt, table.storage_descriptor.location or "", str(table.parameters.get(
        "parquet.compression", table.parameters.get("write.compression", "GZIP"))).upper(),
        serde.get("field.delim", "\x01"), tuple(k.name for k in table.partition_keys))
    if target.compression not in _COMPRESSIONS:
        target.compression = "GZIP"
    rows, written = write_files(cursor, objects, scratch, shaped, target, query_id)
    if written:
        add_partitions(catalog, table, [(values, None) for values in written], True)
    return QueryResult(DML, data_scanned_bytes=prepared.scanned, update_count=rows)


_UNLOAD = re.compile(r"^\s*\((?P<query>.*)\)\s*TO\s*'(?P<location>(?:[^']|'')*)'\s*WITH\s*\((?P<props>.*)\)\s*$",
                     re.I | re.S)


def unload(objects: Any, scratch: Path, cursor: duckdb.DuckDBPyConnection, text: str,
           parse: Callable[[str], exp.Expression], prepare: Callable[[exp.Expression], Prepared],
           query_id: str) -> QueryResult:
    match = _UNLOAD.match(text)
    if not match:
        raise QueryFailed("mismatched input. Expecting: UNLOAD (<query>) TO '<s3 location>' WITH (<properties>)",
                          error_name="SYNTAX_ERROR", line=1, column=1)
    holder = parse(f"CREATE TABLE __unload WITH ({match.group('props')}) AS SELECT 1")
    props = properties(holder.args.get("properties"))
    if not props.get("format"):
        raise QueryFailed("UNLOAD requires the format property", error_name="INVALID_TABLE_PROPERTY")
    location = match.group("location").replace("''", "'")
    target = _target(props, location, "PARQUET")
    if not target.partitioned_by:
        _ensure_empty(objects, location, "UNLOAD")
    prepared = prepare(parse(match.group("query")))
    rows, _ = write_files(cursor, objects, scratch, prepared, target, query_id)
    return QueryResult(DML, data_scanned_bytes=prepared.scanned, update_count=rows)
