"""Type names in three vocabularies: Hive (the catalog), DuckDB (execution) and Athena/Trino
(result metadata). sqlglot does the Hive <-> DuckDB spelling; DuckDB result types are walked
from the DuckDBPyType tree, which is exact where parsing a type string would not be."""
from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

# DuckDB type id -> Athena type name for the scalar types.
_ATHENA = {
    "boolean": "boolean", "tinyint": "tinyint", "smallint": "smallint", "integer": "integer",
    "bigint": "bigint", "hugeint": "bigint", "utinyint": "smallint", "usmallint": "integer",
    "uinteger": "bigint", "ubigint": "bigint", "uhugeint": "bigint", "float": "real", "double": "double",
    "varchar": "varchar", "blob": "varbinary", "date": "date", "time": "time", "timestamp": "timestamp",
    "timestamp_ms": "timestamp", "timestamp_s": "timestamp", "timestamp_ns": "timestamp",
    "timestamp with time zone": "timestamp with time zone", "interval": "interval day to second",
    "uuid": "uuid", "json": "json", "null": "unknown", "bit": "varbinary", "time with time zone": "time with time zone",
}
# Athena -> Hive for the catalog (CTAS, views): the names Athena's DDL writes into Glue.
_HIVE = {"varchar": "string", "integer": "int", "real": "float", "varbinary": "binary",
         "timestamp with time zone": "timestamp", "interval day to second": "string", "uuid": "string",
         "json": "string", "unknown": "string", "time": "string", "time with time zone": "string"}


def athena_type(duck_type: Any) -> str:
    """Athena name of a DuckDB result type (a DuckDBPyType)."""
    kind = duck_type.id
    if kind == "decimal":
        params = dict(duck_type.children)
        return f"decimal({params['precision']},{params['scale']})"
    if kind == "list" or kind == "array":
        return f"array({athena_type(dict(duck_type.children)['child'])})"
    if kind == "map":
        params = dict(duck_type.children)
        return f"map({athena_type(params['key'])}, {athena_type(params['value'])})"
    if kind == "struct":
        return "row(" + ", ".join(f"{name} {athena_type(child)}" for name, child in duck_type.children) + ")"
    if kind == "enum":
        return "varchar"
    return _ATHENA.get(kind, "varchar")


def hive_type_of(athena: str) -> str:
    """Hive spelling of an Athena type name: varchar -> string, array(integer) -> array<int>."""
    if athena in _HIVE:
        return _HIVE[athena]
    for outer in ("array", "map", "row"):
        if athena.startswith(outer + "("):
            inner = _split_top(athena[len(outer) + 1:-1])
            if outer == "array":
                return f"array<{hive_type_of(inner[0])}>"
            if outer == "map":
                return f"map<{hive_type_of(inner[0])},{hive_type_of(inner[1])}>"
            fields = [part.split(" ", 1) for part in inner]
            return "struct<" + ",".join(f"{name}:{hive_type_of(kind)}" for name, kind in fields) + ">"
    return athena


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def hive_type(data_type: exp.DataType) -> str:
    """Hive spelling of a parsed column type, lower case as Glue stores it (``array<string>``)."""
    return re.sub(r"\s+", "", data_type.sql(dialect="hive")).lower()


def duckdb_type(hive: str) -> str:
    """DuckDB spelling of a Hive column type (``float`` -> REAL, ``array<string>`` -> TEXT[])."""
    built = exp.DataType.build(hive, dialect="hive")
    for node in built.walk():  # DuckDB ignores lengths; TEXT(10) is not valid DuckDB
        if isinstance(node, exp.DataType) and node.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR):
            node.set("expressions", [])
            node.set("this", exp.DataType.Type.VARCHAR)
    return built.sql(dialect="duckdb")


def athena_type_of_hive(hive: str) -> str:
    """Athena (result metadata) name of a Hive column type: string -> varchar, int -> integer."""
    built = exp.DataType.build(hive, dialect="hive")
    text = built.sql(dialect="trino").lower()
    return re.sub(r"varchar\(\d+\)", "varchar", text).replace("char(", "char(")


def is_timestamp(hive: str) -> bool:
    return hive.strip().lower() == "timestamp"
