"""SHOW ... and DESCRIBE: catalog facts as result rows, in the columns Athena returns."""
from __future__ import annotations

import fnmatch
import re

from sqlglot import exp

from tidelake.lake.catalog.models import Table
from tidelake.lake.catalog.store import Catalog
from tidelake.query.ddl import require_database, require_table, table_name, view_sql
from tidelake.query.errors import QueryFailed
from tidelake.query.models import DDL, QueryResult, ResultColumn
from tidelake.query.translate import parse_one


def _result(column: str, rows: list[tuple]) -> QueryResult:
    return QueryResult(DDL, [ResultColumn(column, "varchar")], rows)


def _like(pattern: str | None) -> "re.Pattern[str] | None":
    # Hive SHOW ... LIKE: '*' any run, '|' alternatives, case-insensitive.
    if not pattern:
        return None
    alternatives = [fnmatch.translate(p.strip()) for p in pattern.split("|")]
    return re.compile("|".join(alternatives), re.I)


def _table(text: str, default_db: str | None) -> tuple[str, str]:
    return table_name(parse_one("SELECT * FROM " + text).find(exp.Table), default_db)


_SHOW = re.compile(r"^\s*(?P<what>DATABASES|SCHEMAS|TABLES|VIEWS|PARTITIONS|COLUMNS|CREATE\s+TABLE|CREATE\s+VIEW|"
                   r"TBLPROPERTIES)\b\s*(?P<rest>.*?)\s*$", re.I | re.S)


def show(catalog: Catalog, text: str, default_db: str | None) -> QueryResult:
    match = _SHOW.match(text)
    if not match:
        raise QueryFailed(f"SHOW {text.split()[0] if text.split() else ''} is not supported", error_name="NOT_SUPPORTED")
    what, rest = re.sub(r"\s+", " ", match.group("what").upper()), match.group("rest")
    like = re.search(r"(?:LIKE\s+)?'([^']*)'\s*$", rest, re.I)
    pattern = _like(like.group(1)) if like else None
    rest_no_like = rest[:like.start()].strip() if like else rest.strip()
    if what in ("DATABASES", "SCHEMAS"):
        names = [d.name for d in catalog.list_databases()]
        return _result("database_name", [(n,) for n in names if not pattern or pattern.fullmatch(n)])
    if what in ("TABLES", "VIEWS"):
        scope = re.match(r"^(?:IN|FROM)\s+([\w`\"]+)$", rest_no_like, re.I)
        db = (scope.group(1).strip('`"') if scope else default_db or "default").lower()
        require_database(catalog, db)
        tables = [t for t in catalog.list_tables(db) if what == "TABLES" or t.is_view]
        rows = [(t.name,) for t in tables if not pattern or pattern.fullmatch(t.name)]
        return _result("tab_name" if what == "TABLES" else "views", rows)
    if what == "PARTITIONS":
        db, name = _table(rest, default_db)
        table = require_table(catalog, db, name)
        if not table.partition_keys:
            raise QueryFailed(f"FAILED: SemanticException [Error 10241]: Table {name} is not a partitioned table")
        parts = catalog.get_partitions(db, name)
        return _result("partition", [("/".join(f"{k.name}={v}" for k, v in zip(table.partition_keys, p.values)),)
                                     for p in parts])
    if what == "COLUMNS":
        scope = re.match(r"^(?:IN|FROM)\s+([\w.`\"]+)(?:\s+(?:IN|FROM)\s+([\w`\"]+))?$", rest_no_like, re.I)
        if not scope:
            raise QueryFailed("mismatched input. Expecting: SHOW COLUMNS IN <table>", error_name="SYNTAX_ERROR")
        target = scope.group(1) if not scope.group(2) else f"{scope.group(2)}.{scope.group(1)}"
        table = require_table(catalog, *_table(target, default_db))
        return _result("field", [(c.name,) for c in [*table.storage_descriptor.columns, *table.partition_keys]])
    if what == "TBLPROPERTIES":
        table = require_table(catalog, *_table(rest_no_like.split("(")[0], default_db))
        return QueryResult(DDL, [ResultColumn("prpt_name", "varchar"), ResultColumn("prpt_value", "varchar")],
                           sorted(table.parameters.items()))
    table = require_table(catalog, *_table(rest, default_db))
    return _result("createtab_stmt", [(line,) for line in show_create(table).split("\n")])


def show_create(table: Table) -> str:
    if table.is_view:
        sql, _ = view_sql(table)
        return f'CREATE VIEW "{table.database_name}"."{table.name}" AS\n{sql}'
    sd = table.storage_descriptor
    lines = [f"CREATE EXTERNAL TABLE `{table.database_name}`.`{table.name}`("]
    lines.append(",\n".join(f"  `{c.name}` {c.type}" + (f" COMMENT '{c.comment}'" if c.comment else "")
                            for c in sd.columns) + ")")
    if table.description:
        lines.append(f"COMMENT '{table.description}'")
    if table.partition_keys:
        lines.append("PARTITIONED BY ( \n" + ", \n".join(f"  `{k.name}` {k.type}" for k in table.partition_keys) + ")")
    lines.append("ROW FORMAT SERDE \n  '" + (sd.serde_info.serialization_library or "") + "' ")
    if sd.serde_info.parameters:
        lines.append("WITH SERDEPROPERTIES ( \n" + ", \n".join(
            f"  '{k}'='{_escape(v)}'" for k, v in sorted(sd.serde_info.parameters.items())) + ") ")
    lines.append(f"STORED AS INPUTFORMAT \n  '{sd.input_format}' \nOUTPUTFORMAT \n  '{sd.output_format}'")
    lines.append(f"LOCATION\n  '{sd.location}'")
    props = {k: v for k, v in table.parameters.items() if k != "EXTERNAL"}
    if props:
        lines.append("TBLPROPERTIES (\n" + ", \n".join(f"  '{k}'='{_escape(v)}'" for k, v in sorted(props.items()))
                     + ")")
    return "\n".join(lines)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'").replace("\t", "\\t").replace("\x01", "\\u0001")


def describe(catalog: Catalog, node: exp.Describe, default_db: str | None) -> QueryResult:
    db, name = table_name(node.this, default_db)
    table = require_table(catalog, db, name)
    width = 20

    def line(a: str, b: str, c: str = "") -> tuple:
        return (f"{a:<{width}}\t{b:<{width}}\t{c:<{width}}".rstrip() if c else f"{a:<{width}}\t{b:<{width}}\t",)

    rows = [line(c.name, c.type, c.comment or "") for c in [*table.storage_descriptor.columns, *table.partition_keys]]
    if table.partition_keys:
        rows += [("",), ("# Partition Information",), line("# col_name", "data_type", "comment"), ("",)]
        rows += [line(k.name, k.type, k.comment or "") for k in table.partition_keys]
    return _result("col_name", rows)
