"""Hive DDL against the catalog: databases, external tables, views, partitions, MSCK REPAIR TABLE.

Statements arrive as sqlglot ASTs, except the few sqlglot keeps as opaque commands (``ALTER TABLE
... ADD PARTITION``, ``MSCK REPAIR TABLE``): their table name is taken with a small pattern and
every value list is parsed by sqlglot. Messages follow Athena's Hive DDL errors
(``FAILED: SemanticException ...``) where the docs show them.
"""
from __future__ import annotations

import base64
import re
from typing import Callable

import orjson
from sqlglot import exp

from tidelake.lake.catalog.errors import (DatabaseAlreadyExists, DatabaseNotFound, TableAlreadyExists,
                                          TableNotFound)
from tidelake.lake.catalog.models import (HIVE_JSON_SERDE, LAZY_SIMPLE_SERDE, OPENX_JSON_SERDE, PARQUET_INPUT_FORMAT,
                                          PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, TEXT_INPUT_FORMAT,
                                          TEXT_OUTPUT_FORMAT, Column, Database, Partition, SerDeInfo,
                                          StorageDescriptor, Table)
from tidelake.lake.catalog.store import Catalog
from tidelake.query.errors import QueryFailed
from tidelake.query.partitions import discover_partitions
from tidelake.query.sources import split_location
from tidelake.query.translate import READ, parse_one
from tidelake.query.types import hive_type

# STORED AS <name> -> (input format, output format, serde)
STORED_AS = {
    "PARQUET": (PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE),
    "TEXTFILE": (TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT, LAZY_SIMPLE_SERDE),
    "JSON": (TEXT_INPUT_FORMAT, TEXT_OUTPUT_FORMAT, HIVE_JSON_SERDE),
    "ORC": ("org.apache.hadoop.hive.ql.io.orc.OrcInputFormat", "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
            "org.apache.hadoop.hive.ql.io.orc.OrcSerde"),
    "AVRO": ("org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat",
             "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat",
             "org.apache.hadoop.hive.serde2.avro.AvroSerDe"),
}
PRESTO_VIEW = re.compile(r"/\* Presto View: (.*) \*/", re.S)


def semantic(message: str, code: int) -> QueryFailed:
    return QueryFailed(f"FAILED: SemanticException [Error {code}]: {message}")


def table_name(node: exp.Table, default_db: str | None) -> tuple[str, str]:
    db = (node.db or default_db or "default").lower()
    return db, node.name.lower()


def require_database(catalog: Catalog, name: str) -> Database:
    try:
        return catalog.get_database(name)
    except DatabaseNotFound:
        raise semantic(f"Database does not exist: {name}", 10072) from None


def require_table(catalog: Catalog, db: str, name: str) -> Table:
    require_database(catalog, db)
    try:
        return catalog.get_table(db, name)
    except TableNotFound:
        raise semantic(f"Table not found {db}.{name}", 10001) from None


# -- databases -------------------------------------------------------------------------------------------

def create_database(catalog: Catalog, node: exp.Create) -> None:
    name = node.this.name.lower()
    props = node.args.get("properties")
    location, comment, params = None, None, {}
    for prop in props.expressions if props else []:
        if isinstance(prop, exp.LocationProperty):
            location = prop.this.name
        elif isinstance(prop, exp.SchemaCommentProperty):
            comment = prop.this.name
        elif isinstance(prop, exp.Property):
            params[prop.name] = prop.args["value"].name
    try:
        catalog.create_database(Database(name, description=comment, location_uri=location, parameters=params))
    except DatabaseAlreadyExists:
        if not node.args.get("exists"):
            raise QueryFailed(f"FAILED: Execution Error, return code 1 from org.apache.hadoop.hive.ql.exec.DDLTask. "
                              f"Database {name} already exists") from None


def drop_database(catalog: Catalog, node: exp.Drop) -> None:
    name = node.this.name.lower() if node.this is not None else node.args["tables"][0].name.lower()
    try:
        catalog.get_database(name)
    except DatabaseNotFound:
        if node.args.get("exists"):
            return
        raise semantic(f"Database does not exist: {name}", 10072) from None
    tables = catalog.list_tables(name)
    if tables and not node.args.get("cascade"):
        raise QueryFailed(f"FAILED: Execution Error, return code 1 from org.apache.hadoop.hive.ql.exec.DDLTask. "
                          f"InvalidOperationException(message:Database {name} is not empty. One or more tables exist.)")
    for table in tables:
        catalog.delete_table(name, table.name)
    catalog.delete_database(name)


# -- tables ----------------------------------------------------------------------------------------------

def _columns(defs: list[exp.Expression]) -> list[Column]:
    out = []
    for d in defs:
        if not isinstance(d, exp.ColumnDef):
            continue
        comment = None
        for constraint in d.args.get("constraints") or []:
            if isinstance(constraint.kind, exp.CommentColumnConstraint):
                comment = constraint.kind.name
        out.append(Column(d.name.lower(), hive_type(d.args["kind"]), comment))
    return out


def _text(value: exp.Expression | None) -> str:
    if value is None:
        return ""
    text = value.name if isinstance(value, (exp.Literal, exp.Var, exp.Identifier)) else value.sql()
    return {"\\t": "\t", "\\n": "\n", "\\001": "\x01", "\\u0001": "\x01"}.get(text, text)


def create_external_table(catalog: Catalog, node: exp.Create, default_db: str | None) -> None:
    schema = node.this
    db, name = table_name(schema.this if isinstance(schema, exp.Schema) else schema, default_db)
    database = require_database(catalog, db)
    sd = StorageDescriptor(columns=_columns(schema.expressions if isinstance(schema, exp.Schema) else []))
    table = Table(db, name, sd, parameters={"EXTERNAL": "TRUE"})
    for prop in node.args["properties"].expressions if node.args.get("properties") else []:
        _apply_property(table, prop)
    if not sd.serde_info.serialization_library:
        sd.serde_info.serialization_library = LAZY_SIMPLE_SERDE
        sd.serde_info.parameters.setdefault("serialization.format", "1")
    sd.input_format = sd.input_format or TEXT_INPUT_FORMAT
    sd.output_format = sd.output_format or TEXT_OUTPUT_FORMAT
    if not sd.location:
        if not database.location_uri:
            raise QueryFailed("FAILED: SemanticException LOCATION is required for external tables")
        sd.location = database.location_uri.rstrip("/") + "/" + name
    serde = sd.serde_info.serialization_library
    if "classification" not in table.parameters:
        if serde in (OPENX_JSON_SERDE, HIVE_JSON_SERDE):
            table.parameters["classification"] = "json"
        elif serde == PARQUET_SERDE:
            table.parameters["classification"] = "parquet"
    try:
        catalog.create_table(table)
    except TableAlreadyExists:
        if not node.args.get("exists"):
            raise QueryFailed(f"FAILED: Execution Error, return code 1 from org.apache.hadoop.hive.ql.exec.DDLTask. "
                              f"AlreadyExistsException(message:Table {name} already exists)") from None


def _apply_property(table: Table, prop: exp.Expression) -> None:
    sd = table.storage_descriptor
    if isinstance(prop, exp.PartitionedByProperty):
        table.partition_keys = _columns(prop.this.expressions)
    elif isinstance(prop, exp.SchemaCommentProperty):
        table.description = prop.this.name
    elif isinstance(prop, exp.RowFormatSerdeProperty):
        sd.serde_info.serialization_library = prop.this.name
        serde_props = prop.args.get("serde_properties")
        for p in serde_props.expressions if serde_props else []:
            sd.serde_info.parameters[p.name] = _text(p.args["value"])
    elif isinstance(prop, exp.SerdeProperties):
        for p in prop.expressions:
            sd.serde_info.parameters[p.name] = _text(p.args["value"])
    elif isinstance(prop, exp.RowFormatDelimitedProperty):
        sd.serde_info.serialization_library = LAZY_SIMPLE_SERDE
        names = {"fields": "field.delim", "escaped": "escape.delim", "collection_items": "collection.delim",
                 "map_keys": "mapkey.delim", "lines": "line.delim", "null": "serialization.null.format"}
        for arg, key in names.items():
            if prop.args.get(arg) is not None:
                sd.serde_info.parameters[key] = _text(prop.args[arg])
        if "field.delim" in sd.serde_info.parameters:
            sd.serde_info.parameters["serialization.format"] = sd.serde_info.parameters["field.delim"]
    elif isinstance(prop, exp.FileFormatProperty):
        _stored_as(table, prop.this)
    elif isinstance(prop, exp.LocationProperty):
        sd.location = prop.this.name
    elif isinstance(prop, exp.ClusteredByProperty):
        sd.bucket_columns = [c.name.lower() for c in prop.expressions]
        sd.number_of_buckets = int(prop.args["buckets"].name)
    elif isinstance(prop, exp.Property) and prop.args.get("value") is not None:  # TBLPROPERTIES
        table.parameters[prop.name] = _text(prop.args["value"])


def _stored_as(table: Table, value: exp.Expression) -> None:
    sd = table.storage_descriptor
    if isinstance(value, exp.InputOutputFormat):
        sd.input_format = value.args["input_format"].name
        sd.output_format = value.args["output_format"].name
        return
    fmt = value.name.upper()
    if fmt not in STORED_AS:
        raise QueryFailed(f"FAILED: SemanticException Unrecognized file format in STORED AS clause: '{fmt}'")
    sd.input_format, sd.output_format, serde = STORED_AS[fmt]
    if not sd.serde_info.serialization_library or fmt in ("PARQUET", "ORC", "AVRO"):
        sd.serde_info.serialization_library = serde


def drop_table(catalog: Catalog, node: exp.Drop, default_db: str | None, view: bool) -> None:
    db, name = table_name(node.this if node.this is not None else node.args["tables"][0], default_db)
    try:
        table = catalog.get_table(db, name)
    except (TableNotFound, DatabaseNotFound):
        if node.args.get("exists"):
            return
        if view:
            raise QueryFailed(f"View '{db}.{name}' does not exist", error_name="TABLE_NOT_FOUND") from None
        raise semantic(f"Table not found {db}.{name}", 10001) from None
    if view and not table.is_view:
        raise QueryFailed(f"Table '{db}.{name}' is not a view; use DROP TABLE", error_name="NOT_SUPPORTED")
    if not view and table.is_view:
        raise semantic("Cannot drop a view with DROP TABLE", 10135)
    catalog.delete_table(db, name)  # external tables: the data stays, as in Athena


# -- views (stored the way Athena stores Presto views, so Glue clients see the same shape) ---------------

def create_view(catalog: Catalog, node: exp.Create, sql: str, default_db: str | None,
                describe: Callable[[str, str], list[tuple[str, str]]]) -> None:
    db, name = table_name(node.this, default_db)
    require_database(catalog, db)
    query = node.expression
    original = query.sql(dialect=READ)
    columns = describe(original, db)  # [(name, athena type)], also validates the query
    payload = {"originalSql": original, "catalog": "awsdatacatalog", "schema": db,
               "columns": [{"name": n, "type": t} for n, t in columns]}
    text = "/* Presto View: " + base64.b64encode(orjson.dumps(payload)).decode() + " */"
    from tidelake.query.types import hive_type_of
    table = Table(db, name, StorageDescriptor(columns=[Column(n, hive_type_of(t)) for n, t in columns]),
                  table_type="VIRTUAL_VIEW", parameters={"presto_view": "true", "comment": "Presto View"},
                  view_original_text=text, view_expanded_text="/* Presto View */")
    try:
        existing = catalog.get_table(db, name)
    except TableNotFound:
        catalog.create_table(table)
        return
    if not node.args.get("replace"):
        raise QueryFailed(f"View already exists: 'awsdatacatalog.{db}.{name}'", error_name="ALREADY_EXISTS")
    if not existing.is_view:
        raise QueryFailed(f"Table already exists: 'awsdatacatalog.{db}.{name}'", error_name="ALREADY_EXISTS")
    catalog.update_table(table)


def view_sql(table: Table) -> tuple[str, str]:
    """(SELECT text, default schema) of a view stored by Athena / tidelake or given as plain SQL."""
    text = table.view_original_text or ""
    match = PRESTO_VIEW.search(text)
    if match:
        payload = orjson.loads(base64.b64decode(match.group(1)))
        return payload["originalSql"], payload.get("schema") or table.database_name
    return text, table.database_name


# -- partitions ------------------------------------------------------------------------------------------

_ALTER = re.compile(r"^\s*TABLE\s+(?P<table>[\w.`\"]+)\s+(?P<action>ADD|DROP)\s+(?P<exists>IF\s+(NOT\s+)?EXISTS\s+)?"
                    r"(?P<rest>PARTITION\b.*)$", re.I | re.S)
_SPEC = re.compile(r"PARTITION\s*\(", re.I)


def _split_specs(rest: str) -> list[tuple[str, str | None]]:
    """``PARTITION (k=v, ...) [LOCATION '...'] ...`` -> [(spec text, location)] using sqlglot's tokens."""
    import sqlglot
    tokens = sqlglot.Dialect.get_or_raise(READ).tokenize(rest)
    specs: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        if tokens[i].text.upper() != "PARTITION":
            raise QueryFailed(f"mismatched input '{tokens[i].text}'. Expecting: 'PARTITION'", error_name="SYNTAX_ERROR")
        depth, start = 0, tokens[i + 1].start
        j = i + 1
        while j < len(tokens):
            depth += tokens[j].text == "("
            depth -= tokens[j].text == ")"
            if depth == 0:
                break
            j += 1
        spec, location = rest[start:tokens[j].end + 1], None
        j += 1
        if j < len(tokens) and tokens[j].text.upper() == "LOCATION":
            location = tokens[j + 1].text
            j += 2
        j += j < len(tokens) and tokens[j].text == ","
        specs.append((spec, location))
        i = j
    return specs


def _spec_values(spec: str, table: Table) -> list[str]:
    tree = parse_one("SELECT " + spec.strip()[1:-1])
    given = {}
    for item in tree.expressions:
        if not isinstance(item, exp.EQ):
            raise QueryFailed(f"Invalid partition spec: {spec}", error_name="SYNTAX_ERROR")
        value = item.expression
        given[item.this.name.lower()] = value.name if isinstance(value, exp.Literal) else value.sql(READ)
    names = [k.name for k in table.partition_keys]
    if set(given) != set(names):
        raise semantic(f"Partition spec {spec.strip()} contains non-partition columns or misses some", 10098)
    return [given[n] for n in names]


def alter_partitions(catalog: Catalog, command_text: str, default_db: str | None) -> None:
    match = _ALTER.match(command_text)
    if not match:
        raise QueryFailed("Only ALTER TABLE ... ADD / DROP PARTITION are supported by tidelake",
                          error_name="NOT_SUPPORTED")
    ref = parse_one("SELECT * FROM " + match.group("table")).find(exp.Table)
    db, name = table_name(ref, default_db)
    table = require_table(catalog, db, name)
    specs = _split_specs(match.group("rest"))
    if match.group("action").upper() == "ADD":
        add_partitions(catalog, table, [(_spec_values(s, table), loc) for s, loc in specs],
                       bool(match.group("exists")))
    else:
        drop_partitions(catalog, table, [_spec_values(s, table) for s, _ in specs], bool(match.group("exists")))


def drop_partition_node(catalog: Catalog, node: exp.Alter, default_db: str | None) -> None:
    db, name = table_name(node.this, default_db)
    table = require_table(catalog, db, name)
    for action in node.args.get("actions") or []:
        values_list = [_spec_values("(" + ", ".join(e.sql(READ) for e in p.expressions) + ")", table)
                       for p in action.expressions]
        drop_partitions(catalog, table, values_list, bool(action.args.get("exists")))


def partition_location(table: Table, values: list[str]) -> str:
    return (table.storage_descriptor.location or "").rstrip("/") + "/" + "/".join(
        f"{k.name}={v}" for k, v in zip(table.partition_keys, values)) + "/"


def _partition(table: Table, values: list[str], location: str | None) -> Partition:
    sd = StorageDescriptor(columns=list(table.storage_descriptor.columns),
                           location=location or partition_location(table, values),
                           input_format=table.storage_descriptor.input_format,
                           output_format=table.storage_descriptor.output_format,
                           serde_info=SerDeInfo(table.storage_descriptor.serde_info.serialization_library, None,
                                                dict(table.storage_descriptor.serde_info.parameters)))
    return Partition(table.database_name, table.name, values, sd)


def add_partitions(catalog: Catalog, table: Table, specs: list[tuple[list[str], str | None]],
                   if_not_exists: bool) -> None:
    errors = catalog.create_partitions(table.database_name, table.name,
                                       [_partition(table, v, loc) for v, loc in specs], if_not_exists=if_not_exists)
    if errors:
        values, _ = errors[0]
        spec = ", ".join(f"{k.name}={v}" for k, v in zip(table.partition_keys, values))
        raise QueryFailed(f"FAILED: Execution Error, return code 1 from org.apache.hadoop.hive.ql.exec.DDLTask. "
                          f"AlreadyExistsException(message:Partition already exists: {spec})")


def drop_partitions(catalog: Catalog, table: Table, values_list: list[list[str]], if_exists: bool) -> None:
    errors = catalog.delete_partitions(table.database_name, table.name, values_list)
    if errors and not if_exists:
        raise semantic("partition to drop does not exist", 10006)


def msck_repair(catalog: Catalog, objects, command_text: str, default_db: str | None) -> list[tuple]:
    """Add the ``k=v/`` folders under the table location that the catalog lacks; returns the
    report lines Athena prints (``Partitions not in metastore: ...``, ``Repair: Added partition ...``)."""
    match = re.match(r"^\s*TABLE\s+([\w.`\"]+)\s*$", command_text, re.I)
    if not match:
        raise QueryFailed("mismatched input. Expecting: MSCK REPAIR TABLE <table>", error_name="SYNTAX_ERROR")
    db, name = table_name(parse_one("SELECT * FROM " + match.group(1)).find(exp.Table), default_db)
    table = require_table(catalog, db, name)
    if not table.partition_keys:
        return []
    bucket, prefix = split_location(table.storage_descriptor.location or "")

    def list_prefixes(current: str) -> list[str]:
        found, token = [], None
        while True:
            page = objects.list_objects(bucket, prefix=current, delimiter="/", continuation_token=token)
            found.extend(page.common_prefixes)
            if not page.is_truncated:
                return found
            token = page.next_continuation_token

    discovered = discover_partitions(list_prefixes, prefix, table.partition_keys)
    known = {tuple(p.values) for p in catalog.get_partitions(db, name)}
    missing = [(values, f"s3://{bucket}/{key}") for values, key in discovered if tuple(values) not in known]
    if missing:
        catalog.create_partitions(db, name, [_partition(table, v, loc) for v, loc in missing], if_not_exists=True)
    described = ["/".join(f"{k.name}={v}" for k, v in zip(table.partition_keys, values)) for values, _ in missing]
    lines = ([("Partitions not in metastore:\t" + "\t".join(f"{name}:{d}" for d in described),)] if described else [])
    lines += [(f"Repair: Added partition to metastore {name}:{d}",) for d in described]
    return lines
