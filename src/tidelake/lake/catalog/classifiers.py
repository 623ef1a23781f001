"""The crawler's built-in classifiers: sample one lake object, recognise its format, infer its schema.

As Glue's built-in classifiers do (docs.aws.amazon.com/glue/latest/dg/add-classifier.html):

- Parquet: the schema in the footer, read with byte ranges only (the data pages are never fetched).
- JSON: the beginning of the file (1 MB, at most 1,000 records); numbers are ``int`` (``bigint``
  beyond 32 bits) or ``double``, objects ``struct<...>``, arrays ``array<...>``; strings stay strings.
- CSV: delimiters comma, pipe, tab, semicolon and Ctrl-A; at least two columns. The first row is a
  header only when every cell of it parses as a string and some later cell does not (otherwise the
  columns are ``col0``, ``col1``...). Cells type as ``boolean``, ``bigint``, ``double``,
  ``timestamp`` (Hive's ``yyyy-MM-dd HH:mm:ss[.f]``) or ``string``.

Gzip files are sampled through a streaming decompressor. Types merge across records and files with
``merge_types``: int+bigint -> bigint, a number + double -> double, structs field by field, anything
else that differs -> string.
"""
from __future__ import annotations

import csv
import io
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Union

import orjson

from tidelake.lake.objects import ObjectStore

SAMPLE_BYTES = 1 << 20
SAMPLE_RECORDS = 1000
CSV_DELIMITERS = (",", "|", "\t", ";", "\x01")

# A type: a Hive primitive name, ("array", element) or ("struct", ((name, type), ...)). NULL is unknown.
HiveType = Union[str, tuple]
NULL = "null"
_INT32 = 2 ** 31
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?")
_COLUMN_NAME = re.compile(r"[^\x00-\x1f]{1,150}")


@dataclass(slots=True)
class FileSchema:
    classification: str  # json | csv | parquet
    columns: list[tuple[str, HiveType]]  # in file order, names as found
    compression: str = "none"
    delimiter: str = ","
    header: bool = False
    quoted: bool = False
    records: int = 0  # records sampled
    size: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def format_key(self) -> tuple[str, ...]:
        """Files can share a table only when this matches (Glue: same format, compression, SerDe)."""
        if self.classification == "csv":
            return ("csv", self.compression, self.delimiter, str(self.header), str(self.quoted))
        return (self.classification, self.compression)


def classify(store: ObjectStore, bucket: str, key: str, size: int) -> FileSchema | None:
    """The schema of one object, or None when no built-in classifier recognises it."""
    if size == 0:
        return None
    if key.lower().endswith((".parquet", ".parq")):  # the footer alone: no sniff of the first bytes
        return _parquet(store, bucket, key, size)
    _, head = store.get_object(bucket, key, (0, SAMPLE_BYTES - 1))
    if head[:4] == b"PAR1":
        return _parquet(store, bucket, key, size)
    compression = "none"
    truncated = size > len(head)
    if head[:2] == b"\x1f\x8b":
        compression = "gzip"
        try:
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            head = decompressor.decompress(head, SAMPLE_BYTES)
            truncated = truncated or not decompressor.eof or bool(decompressor.unconsumed_tail)
        except zlib.error:
            return None
    text = head.decode("utf-8", errors="replace")
    if truncated:  # drop the partial last line
        text = text[: text.rfind("\n") + 1] if "\n" in text else ""
    schema = _json(text) if text.lstrip()[:1] in ("{", "[") else _csv(text)
    if schema is not None:
        schema.compression, schema.size = compression, size
    return schema


# -- JSON ---------------------------------------------------------------------------------------

def _json(text: str) -> FileSchema | None:
    records: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            try:  # one document spread over many lines
                records = [orjson.loads(text)]
            except orjson.JSONDecodeError:
                return None
            break
        if len(records) >= SAMPLE_RECORDS:
            break
    if len(records) == 1 and isinstance(records[0], list):
        records = records[0][:SAMPLE_RECORDS]
    objects = [r for r in records if isinstance(r, dict)]
    if not objects:
        return None
    merged: HiveType = ("struct", ())
    for record in objects:
        merged = merge_types(merged, json_type(record))
    return FileSchema("json", list(merged[1]), records=len(objects))


def json_type(value: Any) -> HiveType:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int" if -_INT32 <= value < _INT32 else "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        element: HiveType = NULL
        for item in value:
            element = merge_types(element, json_type(item))
        return ("array", element)
    if isinstance(value, dict):
        return ("struct", tuple((str(k), json_type(v)) for k, v in value.items()))
    return "string"


# -- CSV ----------------------------------------------------------------------------------------

def _csv(text: str) -> FileSchema | None:
    best: tuple[str, list[list[str]]] | None = None
    for delimiter in CSV_DELIMITERS:
        if delimiter not in text:
            continue
        rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
        if len(rows) < 2 or len(rows[0]) < 2 or any(len(row) != len(rows[0]) for row in rows):
            continue
        if best is None or len(rows[0]) > len(best[1][0]):
            best = (delimiter, rows)
    if best is None:
        return None
    delimiter, rows = best
    first, rest = rows[0], rows[1:SAMPLE_RECORDS + 1]
    types = [NULL] * len(first)
    for row in rest:
        types = [merge_types(t, csv_type(cell)) for t, cell in zip(types, row)]
    header = (all(csv_type(cell) == "string" and _COLUMN_NAME.fullmatch(cell.strip()) for cell in first)
              and len({c.strip().lower() for c in first}) == len(first)
              and any(t not in ("string", NULL) for t in types))
    if header:
        names = [cell.strip() for cell in first]
    else:
        names = [f"col{i}" for i in range(len(first))]
        types = [merge_types(t, csv_type(cell)) for t, cell in zip(types, first)]
    quoted = '"' in text
    return FileSchema("csv", [(n, t if t != NULL else "string") for n, t in zip(names, types)],
                      delimiter=delimiter, header=header, quoted=quoted, records=len(rest))


def csv_type(cell: str) -> HiveType:
    cell = cell.strip()
    if not cell:
        return NULL
    if cell.lower() in ("true", "false"):
        return "boolean"
    if re.fullmatch(r"[-+]?\d{1,18}", cell):
        return "bigint"
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", cell):
        return "double"
    if _TIMESTAMP.fullmatch(cell):
        return "timestamp"
    return "string"


# -- Parquet ------------------------------------------------------------------------------------

class _RangeFile(io.RawIOBase):
    """A seekable file over an object that reads only the byte ranges pyarrow asks for."""

    def __init__(self, store: ObjectStore, bucket: str, key: str, size: int) -> None:
        self.store, self.bucket, self.key, self.size, self.pos = store, bucket, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.size:
            return b""
        last = self.size - 1 if n is None or n < 0 else min(self.size - 1, self.pos + n - 1)
        _, data = self.store.get_object(self.bucket, self.key, (self.pos, last))
        self.pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _parquet(store: ObjectStore, bucket: str, key: str, size: int) -> FileSchema | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source: BinaryIO = _RangeFile(store, bucket, key, size)  # type: ignore[assignment]
    try:
        metadata = pq.read_metadata(pa.PythonFile(source, mode="r"))
    except (pa.ArrowException, OSError, ValueError):
        return None
    schema = metadata.schema.to_arrow_schema()
    return FileSchema("parquet", [(f.name, arrow_type(f.type)) for f in schema], records=metadata.num_rows,
                      size=size)


def arrow_type(t: Any) -> HiveType:
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_boolean(t):
        return "boolean"
    if pt.is_int8(t) or pt.is_uint8(t):
        return "tinyint"
    if pt.is_int16(t) or pt.is_uint16(t):
        return "smallint"
    if pt.is_int32(t):
        return "int"
    if pt.is_integer(t):
        return "bigint"
    if pt.is_float32(t):
        return "float"
    if pt.is_floating(t):
        return "double"
    if pt.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pt.is_timestamp(t):
        return "timestamp"
    if pt.is_date(t):
        return "date"
    if pt.is_binary(t) or pt.is_large_binary(t) or pt.is_fixed_size_binary(t):
        return "binary"
    if pt.is_list(t) or pt.is_large_list(t):
        return ("array", arrow_type(t.value_type))
    if pt.is_struct(t):
        return ("struct", tuple((t.field(i).name, arrow_type(t.field(i).type)) for i in range(t.num_fields)))
    if isinstance(t, pa.MapType):
        return ("map", (arrow_type(t.key_type), arrow_type(t.item_type)))
    return "string"


# -- types --------------------------------------------------------------------------------------

_NUMERIC = {"tinyint": 0, "smallint": 1, "int": 2, "bigint": 3, "float": 4, "double": 5}


def merge_types(a: HiveType, b: HiveType) -> HiveType:
    """The type that holds values of both (Glue's merge across records and files)."""
    if a == b or b == NULL:
        return a
    if a == NULL:
        return b
    if isinstance(a, str) and isinstance(b, str):
        if a in _NUMERIC and b in _NUMERIC:
            wider = max(a, b, key=_NUMERIC.__getitem__)
            return "double" if wider == "float" and "bigint" in (a, b) else wider
        return "string"
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "array":
            return ("array", merge_types(a[1], b[1]))
        if a[0] == "struct":
            return ("struct", merge_fields(a[1], b[1]))
    return "string"


def merge_fields(a: tuple | list, b: tuple | list) -> tuple:
    """Union of two field lists, in first-seen order; names match case-insensitively."""
    merged: dict[str, tuple[str, HiveType]] = {name.lower(): (name, t) for name, t in a}
    for name, t in b:
        known = merged.get(name.lower())
        merged[name.lower()] = (known[0], merge_types(known[1], t)) if known else (name, t)
    return tuple(merged.values())


def hive_type(t: HiveType) -> str:
    """Render for the catalog: ``struct<a:int,b:array<string>>``; unknown (all null) is string."""
    if isinstance(t, str):
        return "string" if t == NULL else t
    if t[0] == "array":
        return f"array<{hive_type(t[1])}>"
    if t[0] == "map":
        return f"map<{hive_type(t[1][0])},{hive_type(t[1][1])}>"
    return "struct<" + ",".join(f"{name}:{hive_type(ft)}" for name, ft in t[1]) + ">"
