"""What user SQL may do: read the lake through the catalog, nothing else.

Two fences. (1) Before translation, the Athena AST of a query is checked against allow-lists:
statement-like nodes (COPY, ATTACH, INSTALL, PRAGMA, SET, nested DDL/DML) are refused, table
references must be plain names (no table functions such as ``read_csv('/etc/passwd')``; they are
then resolved through the catalog), and a function sqlglot does not model must be a known Trino
function. (2) DuckDB itself runs with ``enable_external_access=false``, ``allowed_directories`` =
the lake and the engine's scratch folder, no extension loading, and a locked configuration, so
even a gap in (1) cannot reach other files, the network, or settings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import duckdb
from sqlglot import exp

from tidelake.query.errors import QueryFailed
from tidelake.query.translate import MACROS

# Trino functions that sqlglot parses as anonymous calls and DuckDB implements with the same
# name and meaning (or the engine defines as a macro, see translate.MACROS).
TRINO_FUNCTIONS = frozenset({
    "typeof", "chr", "codepoint", "levenshtein_distance", "hamming_distance", "split_part", "translate",
    "starts_with", "ends_with", "soundex", "md5", "sha256", "sha1", "to_hex", "from_hex", "to_utf8",
    "from_utf8", "array_distinct", "array_max", "array_min", "array_position", "array_remove",
    "array_sort", "arrays_overlap", "array_intersect", "array_except", "array_union", "slice", "zip",
    "map_keys", "map_values", "map_entries", "map_from_entries", "e", "pi", "infinity", "nan", "is_nan",
    "is_finite", "is_infinite", "random", "rand", "cbrt", "log2", "log10", "ln", "sign", "degrees",
    "radians", "cos", "sin", "tan", "acos", "asin", "atan", "atan2", "cosh", "tanh", "gcd", "lcm",
    "millisecond", "last_day_of_month", "day_of_month", "dow", "doy", "yow", "year_of_week", "week_of_year",
    "bit_count", "bitwise_not", "bitwise_xor", "bitwise_or", "width_bucket", "json_array_length",
    "json_array_get", "json_size", "json_array_contains", "format", "concat_ws", "ltrim", "rtrim",
    "rpad", "repeat", "position", "element_at", "array_concat", "flatten", "ngrams", "date",
    "from_iso8601_date", "current_timezone", "localtimestamp", "localtime", "with_timezone",
    "at_timezone", "timezone_hour", "timezone_minute", "normalize", "greatest", "least", "checksum",
    "geometric_mean", "kurtosis", "skewness", "bool_or", "every", "histogram", "array_has",
    "regexp_extract_all", "regexp_split", "regexp_count", "regexp_position", "trim_array",
    "combinations", "shuffle", "array_has_all", "array_has_any", "listagg", "string_agg",
    "sum_if", "avg_if", "count_if", "min_by", "max_by", "mode", "median",
    "map_from_arrays", "format_datetime", "parse_datetime", "map_agg",  # rewritten by translate.py
}) | frozenset(MACROS)

# sqlglot function nodes that read, write or reveal anything outside the query's data.
_DENIED_FUNCTIONS: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in ("ReadCSV", "ReadParquet", "ToFile", "GenerateTable", "JSONTable",
                                    "XMLTable", "CurrentUser", "SessionUser", "CurrentSchemas",
                                    "UserDefinedFunction")
    if hasattr(exp, name))

# Statement-like nodes that must never appear inside a query.
_DENIED_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in ("Command", "Copy", "Pragma", "Set", "Use", "Attach", "Detach", "Install",
                                    "LoadData", "Export", "Create", "Drop", "Alter", "Insert", "Delete",
                                    "Update", "Merge", "Describe", "Transaction", "Commit", "Rollback",
                                    "Cache", "Uncache", "Summarize", "Kill", "Grant", "Revoke")
    if hasattr(exp, name))

DEFAULT_CATALOGS = ("", "awsdatacatalog")


def position(node: exp.Expression) -> tuple[int | None, int | None]:
    """(line, start column) of the first token of ``node``, from sqlglot's token metadata."""
    metas = [c._meta for c in node.walk() if getattr(c, "_meta", None) and "line" in c._meta]
    if not metas:
        return None, None
    meta = min(metas, key=lambda m: m.get("start", 0))
    width = meta.get("end", 0) - meta.get("start", 0)
    return meta["line"], max(1, meta["col"] - width)


def check_query(tree: exp.Expression) -> None:
    """Raise QueryFailed unless ``tree`` (a query in Athena's AST) only reads tables and computes."""
    for node in tree.walk():
        if isinstance(node, _DENIED_NODES):
            line, col = position(node)
            raise QueryFailed(f"mismatched input '{node.key.upper()}'. Only a query is allowed here",
                              error_name="SYNTAX_ERROR", line=line or 1, column=col or 1)
        if isinstance(node, _DENIED_FUNCTIONS):
            _no_function(node, node.sql_name().lower())
        if isinstance(node, exp.Anonymous) and node.name.lower() not in TRINO_FUNCTIONS:
            _no_function(node, node.name)
        if isinstance(node, exp.Table):
            _check_table(node)
        if isinstance(node, exp.Parameter) or isinstance(node, exp.SessionParameter):
            line, col = position(node)
            raise QueryFailed("Session and query parameters other than '?' are not supported",
                              error_name="NOT_SUPPORTED", line=line, column=col)


def _no_function(node: exp.Expression, name: str) -> None:
    line, col = position(node)
    raise QueryFailed(f"Function '{name.lower()}' not registered", error_name="FUNCTION_NOT_FOUND",
                      line=line or 1, column=col or 1)


def _check_table(node: exp.Table) -> None:
    if not isinstance(node.this, exp.Identifier):
        line, col = position(node)
        raise QueryFailed("Table functions are not supported; name a table of the catalog",
                          error_name="NOT_SUPPORTED", line=line or 1, column=col or 1)
    if node.catalog.lower() not in DEFAULT_CATALOGS:
        line, col = position(node)
        raise QueryFailed(f"Catalog '{node.catalog}' does not exist", error_name="CATALOG_NOT_FOUND",
                          line=line or 1, column=col or 1)


def sandboxed_connection(allowed: Iterable[Path], threads: int) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can only touch files under ``allowed`` and cannot be reconfigured.
    The Trino macros are defined before the lock; integer division and UTC are Trino's rules."""
    con = duckdb.connect(":memory:", config={"threads": max(1, threads), "autoload_known_extensions": False,
                                             "autoinstall_known_extensions": False})
    # GLOBAL: every statement runs on its own cursor (a new session) and must inherit these.
    con.execute("SET GLOBAL integer_division = true")
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    for name, body in MACROS.items():
        con.execute(f"CREATE MACRO {name}{body}")
    dirs = ", ".join("'" + str(path).replace("'", "''").rstrip("/") + "/'" for path in allowed)
    con.execute(f"SET allowed_directories = [{dirs}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET allow_community_extensions = false")
    con.execute("SET lock_configuration = true")
    return con
