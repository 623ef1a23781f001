"""Which partitions a query reads: catalog partitions or projected ones, pruned by the WHERE clause.

Pruning takes the top-level AND terms of the WHERE clause of the SELECT that reads the table,
keeps those that mention only the table's partition columns (no subqueries, nothing random), and
evaluates them with DuckDB over a small table of the candidate partitions' typed values. A term
that cannot be used is simply not used: pruning may read too much, never too little.
"""
from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone
from typing import Callable

import duckdb
import pyarrow as pa
from sqlglot import exp

from tidelake.lake.catalog.models import Column, Partition, Table
from tidelake.query.errors import QueryFailed
from tidelake.query.translate import joda_to_strftime, to_duckdb
from tidelake.query.types import duckdb_type

MAX_PROJECTED = 1_000_000
_HIDDEN = re.compile(r"^[._]")


def predicate_terms(table_node: exp.Table, keys: list[Column]) -> list[exp.Expression]:
    """The WHERE terms of the enclosing SELECT that constrain only ``table_node``'s partition keys."""
    select = table_node.parent
    while select is not None and not isinstance(select, exp.Select):
        if isinstance(select, (exp.Subquery, exp.Union, exp.CTE)):
            return []
        select = select.parent
    if select is None or not select.args.get("where"):
        return []
    joins = select.args.get("joins") or []
    if any((j.side or "").upper() in ("LEFT", "RIGHT", "FULL") for j in joins):
        return []  # the nullable side of an outer join must not be pruned by WHERE
    alias = table_node.alias_or_name.lower()
    single = not joins
    names = {k.name.lower() for k in keys}
    terms = []
    for term in select.args["where"].this.flatten() if isinstance(select.args["where"].this, exp.And) \
            else [select.args["where"].this]:
        if term.find(exp.Select, exp.Subquery, exp.Rand, exp.AggFunc, exp.Window, exp.Placeholder):
            continue
        columns = list(term.find_all(exp.Column))
        if columns and all(c.name.lower() in names and (c.table.lower() == alias or (not c.table and single))
                           for c in columns):
            terms.append(term)
    return terms


def prune(cursor: duckdb.DuckDBPyConnection, keys: list[Column], candidates: list[list[str]],
          terms: list[exp.Expression], name: str) -> list[int]:
    """Indexes of ``candidates`` (partition values as strings) that satisfy every term."""
    if not terms or not candidates:
        return list(range(len(candidates)))
    data = {"__tl_idx": pa.array(range(len(candidates)), pa.int64())}
    for i, key in enumerate(keys):
        data[f"__v{i}"] = pa.array([values[i] for values in candidates], pa.string())
    cursor.register(name, pa.table(data))
    typed = ", ".join(f"TRY_CAST(__v{i} AS {duckdb_type(k.type)}) AS \"{k.name.lower()}\"" for i, k in enumerate(keys))
    where = " AND ".join(to_duckdb(_unqualified(term)) for term in terms)
    try:
        rows = cursor.execute(f"SELECT __tl_idx FROM (SELECT __tl_idx, {typed} FROM {name}) WHERE {where}").fetchall()
    except duckdb.Error:
        return list(range(len(candidates)))  # the engine reports the real error when the query runs
    finally:
        cursor.unregister(name)
    return sorted(r[0] for r in rows)


def _unqualified(term: exp.Expression) -> exp.Expression:
    term = term.copy()
    for column in term.find_all(exp.Column):
        column.set("table", None)
        column.set("this", exp.to_identifier(column.name.lower()))
    return term


# -- partition projection (docs.aws.amazon.com/athena/latest/ug/partition-projection.html) -------------

def projection_enabled(table: Table) -> bool:
    return str(table.parameters.get("projection.enabled", "")).lower() == "true"


def projected_partitions(table: Table, terms: list[exp.Expression]) -> list[Partition]:
    """Every partition the projection config describes (injected keys from WHERE equalities)."""
    params = {k.lower(): v for k, v in table.parameters.items()}
    axes: list[list[str]] = []
    for key in table.partition_keys:
        axes.append(_axis(key.name.lower(), params, terms))
    total = 1
    for axis in axes:
        total *= max(1, len(axis))
    if total > MAX_PROJECTED:
        raise QueryFailed(f"Partition projection of {table.name} would produce {total} partitions "
                          f"(more than {MAX_PROJECTED}); add ranges or predicates", error_name="HIVE_EXCEEDED_PARTITION_LIMIT")
    template = table.parameters.get("storage.location.template")
    base = (table.storage_descriptor.location or "").rstrip("/")
    out: list[Partition] = []

    def walk(i: int, chosen: list[str]) -> None:
        if i == len(axes):
            if template:
                location = template
                for key, value in zip(table.partition_keys, chosen):
                    location = re.sub(r"\$\{" + re.escape(key.name) + r"\}", value, location, flags=re.I)
            else:
                location = base + "/" + "/".join(f"{k.name}={v}" for k, v in zip(table.partition_keys, chosen))
            partition = Partition(table.database_name, table.name, list(chosen))
            partition.storage_descriptor.location = location
            out.append(partition)
            return
        for value in axes[i]:
            walk(i + 1, [*chosen, value])

    walk(0, [])
    return out


def _axis(name: str, params: dict[str, str], terms: list[exp.Expression]) -> list[str]:
    kind = params.get(f"projection.{name}.type", "").lower()
    if kind == "enum":
        return [v.strip() for v in params.get(f"projection.{name}.values", "").split(",") if v.strip()]
    if kind == "integer":
        low, high = (int(v.strip()) for v in params[f"projection.{name}.range"].split(","))
        step = int(params.get(f"projection.{name}.interval", "1"))
        digits = int(params.get(f"projection.{name}.digits", "0"))
        return [str(v).zfill(digits) for v in range(low, high + 1, step)]
    if kind == "date":
        return _date_axis(name, params)
    if kind == "injected":
        values = _equalities(name, terms)
        if not values:
            raise QueryFailed(f"For the injected projected partition column {name}, the WHERE clause must contain "
                              f"only equality conditions, and at least one condition must be present.",
                              error_name="CONSTRAINT_VIOLATION")
        return values
    raise QueryFailed(f"Partition projection type for column {name} is missing or not supported: {kind!r}",
                      error_name="HIVE_METASTORE_ERROR")


def _equalities(name: str, terms: list[exp.Expression]) -> list[str]:
    values: list[str] = []
    for term in terms:
        if isinstance(term, exp.EQ) and isinstance(term.this, exp.Column) and term.this.name.lower() == name \
                and isinstance(term.expression, exp.Literal):
            values.append(term.expression.this)
        elif isinstance(term, exp.In) and isinstance(term.this, exp.Column) and term.this.name.lower() == name:
            values.extend(e.this for e in term.expressions if isinstance(e, exp.Literal))
    return values


_UNITS: dict[str, Callable[[datetime, int], datetime]] = {
    "seconds": lambda d, n: d + timedelta(seconds=n), "minutes": lambda d, n: d + timedelta(minutes=n),
    "hours": lambda d, n: d + timedelta(hours=n), "days": lambda d, n: d + timedelta(days=n),
    "weeks": lambda d, n: d + timedelta(weeks=n), "months": lambda d, n: _add_months(d, n),
    "years": lambda d, n: _add_months(d, 12 * n),
}


def _add_months(d: datetime, n: int) -> datetime:
    month = d.month - 1 + n
    year, month = d.year + month // 12, month % 12 + 1
    return d.replace(year=year, month=month, day=min(d.day, calendar.monthrange(year, month)[1]))


def _date_axis(name: str, params: dict[str, str]) -> list[str]:
    fmt = joda_to_strftime(params[f"projection.{name}.format"])
    low_text, high_text = (v.strip() for v in params[f"projection.{name}.range"].split(","))
    step = int(params.get(f"projection.{name}.interval", "1"))
    unit = params.get(f"projection.{name}.interval.unit", "DAYS" if "%d" in fmt else "MONTHS").lower()
    if unit not in _UNITS:
        raise QueryFailed(f"Unsupported projection interval unit {unit}", error_name="HIVE_METASTORE_ERROR")
    low, high = _date_bound(low_text, fmt), _date_bound(high_text, fmt)
    values, current = [], low
    while current <= high and len(values) <= MAX_PROJECTED:
        values.append(current.strftime(fmt))
        current = _UNITS[unit](current, step)
    return values


def _date_bound(text: str, fmt: str) -> datetime:
    match = re.fullmatch(r"NOW(?:\s*([+-])\s*(\d+)\s*(YEAR|MONTH|WEEK|DAY|HOUR|MINUTE|SECOND)S?)?", text.strip(), re.I)
    if match:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        if match.group(1):
            n = int(match.group(2)) * (1 if match.group(1) == "+" else -1)
            now = _UNITS[match.group(3).lower() + "s"](now, n)
        return now
    return datetime.strptime(text, fmt)


# -- MSCK REPAIR TABLE -----------------------------------------------------------------------------------

def discover_partitions(list_prefixes: Callable[[str], list[str]], prefix: str, keys: list[Column]) -> list[tuple[list[str], str]]:
    """Hive-style ``k=v/`` folders under ``prefix`` for the keys, in order: (values, key prefix)."""
    found: list[tuple[list[str], str]] = []

    def walk(depth: int, current: str, values: list[str]) -> None:
        if depth == len(keys):
            found.append((values, current))
            return
        for child in list_prefixes(current):
            segment = child[len(current):].rstrip("/")
            name, eq, value = segment.partition("=")
            if eq and name.lower() == keys[depth].name.lower() and not _HIDDEN.match(segment):
                walk(depth + 1, child, [*values, _unescape(value)])

    walk(0, prefix, [])
    return found


def _unescape(value: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)
