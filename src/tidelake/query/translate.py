"""Athena (Trino) SQL -> DuckDB SQL through sqlglot, with the fixes that make DuckDB answer as Trino.

sqlglot's athena -> duckdb transpilation covers most functions. What it leaves with other semantics
is rewritten here on the AST, before generation:

* ``date_diff(unit, a, b)`` counts whole units in Trino; DuckDB's ``date_diff`` counts boundaries
  crossed, its ``date_sub`` whole units.
* ``regexp_replace`` replacements refer to groups as ``$1`` in Trino (Java), ``\\1`` in DuckDB (RE2).
* ``format_datetime`` / ``parse_datetime`` take Joda-Time patterns; DuckDB takes strftime ones.
* Trino functions DuckDB lacks become calls of macros that ``MACROS`` defines on the connection.
* Integer ``/`` is set on the connection (``integer_division``), not here.
"""
from __future__ import annotations

import logging
import re

import sqlglot
from sqlglot import exp

from tidelake.query.errors import QueryFailed

READ, WRITE = "athena", "duckdb"

# Trino functions DuckDB lacks, as DuckDB macros created once per connection.
MACROS = {
    "to_iso8601": "(x) AS CASE WHEN typeof(x) = 'DATE' THEN strftime(x, '%Y-%m-%d') "
                  "WHEN typeof(x) LIKE 'TIMESTAMP WITH TIME ZONE' THEN strftime(x, '%Y-%m-%dT%H:%M:%S.%g%z') "
                  "ELSE strftime(x, '%Y-%m-%dT%H:%M:%S.%g') END",
    "url_extract_host": "(u) AS nullif(regexp_extract(u, '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+)', 1), '')",
    "url_extract_path": "(u) AS regexp_extract(u, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)', 1)",
    "url_extract_protocol": "(u) AS nullif(regexp_extract(u, '^([A-Za-z][A-Za-z0-9+.-]*):', 1), '')",
    "url_extract_query": "(u) AS nullif(regexp_extract(u, '\\?([^#]*)', 1), '')",
    "from_iso8601_timestamp_nanos": "(s) AS CAST(s AS TIMESTAMPTZ)",
    "human_readable_seconds": "(s) AS CAST(to_seconds(CAST(s AS BIGINT)) AS VARCHAR)",
}

# Joda-Time pattern letters (format_datetime, parse_datetime) -> strftime, longest run first.
_JODA = [
    ("yyyy", "%Y"), ("YYYY", "%Y"), ("yy", "%y"), ("xxxx", "%G"), ("MMMM", "%B"), ("MMM", "%b"), ("MM", "%m"),
    ("M", "%-m"), ("dd", "%d"), ("d", "%-d"), ("DDD", "%j"), ("EEEE", "%A"), ("EEE", "%a"), ("E", "%a"),
    ("HH", "%H"), ("H", "%-H"), ("hh", "%I"), ("h", "%-I"), ("mm", "%M"), ("m", "%-M"), ("ss", "%S"),
    ("s", "%-S"), ("SSSSSS", "%f"), ("SSS", "%g"), ("a", "%p"), ("ZZ", "%z"), ("Z", "%z"), ("z", "%Z"),
    ("yyy", "%Y"), ("y", "%Y"), ("ww", "%V"), ("e", "%u"),
]


def joda_to_strftime(pattern: str) -> str:
    """Convert a Joda-Time pattern to strftime; text in single quotes is literal ('' is a quote)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            if end == i + 1:
                out.append("'")
                i += 2
                continue
            literal = pattern[i + 1:] if end < 0 else pattern[i + 1:end]
            out.append(literal.replace("%", "%%"))
            i = len(pattern) if end < 0 else end + 1
            continue
        for joda, strf in _JODA:
            if pattern.startswith(joda, i) and (len(joda) > 1 or pattern[i + 1:i + 2] != ch):
                out.append(strf)
                i += len(joda)
                break
        else:
            if ch.isalpha():
                raise QueryFailed(f"Illegal pattern component: {ch}", error_name="INVALID_FUNCTION_ARGUMENT")
            out.append("%%" if ch == "%" else ch)
            i += 1
    return "".join(out)


def _java_replacement(text: str) -> str:
    """Java replacement string ($1, ${name}, \\$) -> RE2 (\\1)."""
    text = re.sub(r"(?<!\\)\$(\d)", r"\\\1", text)
    return text.replace("\\$", "$")


def _function_name(node: exp.Expression) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else ""


def _rewrite(node: exp.Expression) -> exp.Expression:
    name = _function_name(node)
    if isinstance(node, exp.DateDiff):
        unit = node.args.get("unit")
        unit_text = unit.name if unit is not None else "day"
        return exp.Anonymous(this="DATE_SUB", expressions=[exp.Literal.string(unit_text.lower()),
                                                           node.expression, node.this])
    if isinstance(node, exp.Reduce) and node.args.get("finish") is not None:
        # DuckDB's list_reduce has no output function; sqlglot would drop it and answer wrongly.
        raise QueryFailed("reduce() with an output function is not supported by tidelake", error_name="NOT_SUPPORTED")
    if isinstance(node, exp.RegexpReplace):
        replacement = node.args.get("replacement")
        if isinstance(replacement, exp.Literal) and replacement.is_string:
            node.set("replacement", exp.Literal.string(_java_replacement(replacement.this)))
        return node
    if name == "format_datetime" and len(node.expressions) == 2:
        value, pattern = node.expressions
        return exp.Anonymous(this="STRFTIME", expressions=[value, _joda_literal(pattern)])
    if isinstance(node, exp.ParseDatetime) or name == "parse_datetime":
        value, pattern = (node.this, node.args["format"]) if isinstance(node, exp.ParseDatetime) else node.expressions
        return exp.Anonymous(this="STRPTIME", expressions=[value, _joda_literal(pattern)])
    if name == "map_agg" and len(node.expressions) == 2:
        key, value = node.expressions
        return exp.Anonymous(this="MAP", expressions=[exp.Anonymous(this="LIST", expressions=[key]),
                                                      exp.Anonymous(this="LIST", expressions=[value])])
    return node


def _joda_literal(pattern: exp.Expression) -> exp.Expression:
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        return exp.Literal.string(joda_to_strftime(pattern.this))
    raise QueryFailed("format_datetime / parse_datetime need a constant pattern here",
                      error_name="NOT_SUPPORTED")


def to_duckdb(tree: exp.Expression) -> str:
    """DuckDB SQL for an Athena AST (the tree is changed in place)."""
    return tree.transform(_rewrite, copy=False).sql(dialect=WRITE)


def transpile(sql: str) -> str:
    """Athena SQL text -> DuckDB SQL text (for tests and the function table)."""
    return to_duckdb(parse_one(sql))


# sqlglot warns when it keeps a statement (SHOW, MSCK, ALTER ... PARTITION, UNLOAD) as an opaque
# command; those are handled on purpose, so the warning is noise in the server's log.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def parse_one(sql: str) -> exp.Expression:
    """Parse one Athena statement; syntax errors read as Athena's (``line 1:8: ...``)."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=READ) if s is not None]
    except sqlglot.errors.ParseError as error:
        first = error.errors[0] if error.errors else {}
        description = str(first.get("description") or error).split("\n")[0]
        near = first.get("highlight") or ""
        text = f"mismatched input '{near}'. {description}" if near else description
        raise QueryFailed(text, error_name="SYNTAX_ERROR", line=first.get("line") or 1,
                          column=max(1, (first.get("col") or 1) - len(near) + 1)) from None
    except sqlglot.errors.TokenError as error:
        raise QueryFailed(str(error), error_name="SYNTAX_ERROR", line=1, column=1) from None
    if not statements:
        raise QueryFailed("mismatched input '<EOF>'. Expecting: statement", error_name="SYNTAX_ERROR",
                          line=1, column=1)
    if len(statements) > 1:
        raise QueryFailed("Only one sql statement is allowed. Got: " + str(len(statements)),
                          error_name="INVALID_INPUT")
    return statements[0]
