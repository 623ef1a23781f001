"""Query results as Athena shows them: text values, ColumnInfo, and the files in the output location.

Athena writes a SELECT's result to ``<QueryExecutionId>.csv`` (every value quoted, NULL as an empty
unquoted field, a header row first) and a DDL or utility statement's to ``<QueryExecutionId>.txt``
(one row per line, values separated by tabs), each with a ``.metadata`` file beside it. Athena's
metadata file is a binary encoding; tidelake writes the ColumnInfo list as JSON instead.
"""
from __future__ import annotations

import base64
import math
import re
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Iterable

import orjson

from tidelake.query.execution_models import ColumnInfo

# Precision Athena reports per type (for decimal it is the declared one).
_PRECISION = {"boolean": 0, "tinyint": 3, "smallint": 5, "integer": 10, "bigint": 19, "real": 17, "float": 17,
              "double": 17, "varchar": 2147483647, "char": 2147483647, "string": 2147483647, "date": 0,
              "timestamp": 3, "time": 3, "varbinary": 1073741824, "json": 2147483647}
_DECIMAL = re.compile(r"decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)", re.I)


def base_type(type_name: str) -> str:
    """``decimal(10,2)`` -> ``decimal``, ``array(integer)`` -> ``array``, ``varchar(20)`` -> ``varchar``."""
    return type_name.split("(", 1)[0].split("<", 1)[0].strip().lower()


def column_info(name: str, type_name: str) -> ColumnInfo:
    kind = base_type(type_name)
    precision, scale = _PRECISION.get(kind, 0), 0
    match = _DECIMAL.match(type_name)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
    return ColumnInfo(name, kind, precision, scale, case_sensitive=kind in ("varchar", "char", "string", "json"))


def to_text(value: Any) -> str | None:
    """One value as Athena's VarCharValue (None for NULL)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        if value.tzinfo is not None:
            text += " " + (value.tzname() or "UTC")
        return text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return " ".join(f"{b:02x}" for b in bytes(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_nested(k)}={_nested(v)}" for k, v in value.items()) + "}"
    return str(value)


def _nested(value: Any) -> str:
    text = to_text(value)
    return "null" if text is None else text


def format_rows(rows: Iterable[tuple]) -> list[list[str | None]]:
    return [[to_text(v) for v in row] for row in rows]


def csv_bytes(header: list[str], rows: list[list[str | None]]) -> bytes:
    def line(values: Iterable[str | None]) -> str:
        return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values)
    return ("\n".join([line(header), *(line(r) for r in rows)]) + "\n").encode()


def txt_bytes(rows: list[list[str | None]]) -> bytes:
    return "".join("\t".join("" if v is None else v for v in r) + "\n" for r in rows).encode()


def metadata_bytes(columns: list[ColumnInfo]) -> bytes:
    return orjson.dumps({"ColumnInfo": [{"Name": c.name, "Label": c.label, "Type": c.type, "Precision": c.precision,
                                         "Scale": c.scale, "Nullable": c.nullable,
                                         "CaseSensitive": c.case_sensitive} for c in columns]})


def parse_csv(data: bytes) -> list[list[str | None]]:
    """Read back a result written by ``csv_bytes`` (header row dropped), keeping NULL apart from ''."""
    text = data.decode()
    rows: list[list[str | None]] = []
    row: list[str | None] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            j, parts = i + 1, []
            while True:
                k = text.index('"', j)
                parts.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':
                    parts.append('"')
                    j = k + 2
                else:
                    i = k + 1
                    break
            row.append("".join(parts))
        else:
            row.append(None)
        if i >= n or text[i] == "\n":
            rows.append(row)
            row = []
        i += 1
    return rows[1:]


def parse_txt(data: bytes, width: int) -> list[list[str | None]]:
    lines = data.decode().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.split("\t", max(width - 1, 0)) for line in lines]  # type: ignore[misc]


def encode_token(execution_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{execution_id}:{offset}".encode()).decode()


def decode_token(token: str) -> tuple[str, int] | None:
    try:
        execution_id, offset = base64.urlsafe_b64decode(token.encode()).decode().rsplit(":", 1)
        return execution_id, int(offset)
    except (ValueError, UnicodeDecodeError):
        return None
