"""What the SQL engine returns: result columns with Athena type names and rows as Python values."""
from __future__ import annotations

from dataclasses import dataclass, field

DDL, DML, UTILITY = "DDL", "DML", "UTILITY"  # Athena's StatementType


@dataclass(slots=True)
class ResultColumn:
    name: str
    type: str  # Athena type name: varchar, integer, bigint, double, real, boolean, timestamp, date, decimal(p,s), array(varchar), ...


@dataclass(slots=True)
class QueryResult:
    statement_type: str  # DDL | DML | UTILITY
    columns: list[ResultColumn] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    data_scanned_bytes: int = 0
    engine_ms: int = 0
    update_count: int | None = None  # rows written by CTAS / INSERT INTO / UNLOAD
