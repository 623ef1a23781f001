"""Record format conversion: JSON records -> one Parquet object (OpenX JSON SerDe -> ParquetSerDe).

Rules, from "Convert input data format in Amazon Data Firehose" (record-format-conversion.html),
"Handling errors for data format conversion" and the OpenX JSON SerDe the docs point to:

- JSON keys match column names case-insensitively (``Customer_ID`` fills ``customer_id``), dots
  may become underscores, ``ColumnToJsonKeyMappings`` renames; missing keys are null, extra keys
  are ignored.
- Timestamps: ``yyyy-MM-dd'T'HH:mm:ss[.S]'Z'`` and ``yyyy-[M]M-[d]d HH:mm:ss[.S]`` (fraction up
  to 9 digits), epoch seconds, epoch milliseconds (13 digits or more, as OpenX decides) and
  floating epoch seconds. No zone offsets, no ``T`` without ``Z``.
- Numbers come from JSON numbers or numeric strings (OpenX parses strings, hex ``0x..`` included);
  a fraction in an integer column fails. A boolean column reads true/false, or a string that is
  ``true`` in any case (any other string is false, as Java's ``Boolean.parseBoolean``).
- A record that is not JSON (``DataFormatConversion.ParseError``), is empty, is a primitive,
  or holds a value its column type cannot take (``DataFormatConversion.MalformedData``) fails
  alone; the rest convert. Several objects in one record (``{"a":1}{"a":2}``) are several rows;
  a top-level array fills the columns by position, as the OpenX SerDe reads arrays.

How: the records go to DuckDB as one Arrow column (zero-copy from the joined bytes). A first
pass collects the batch's distinct JSON keys (so case variants resolve once per batch, not per
record); a second parses each valid record once, pulling every needed key as text
(``json_extract_string`` with a list of paths), and types the columns with regex-gated
``TRY_CAST``. Failing rows are flagged in SQL; Python only touches those (and records that are
several objects or an array, converted again on their own). pyarrow writes the Parquet; rows
keep input order, except those re-converted records, which come last.
"""
from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tidelake.delivery.errors import CompressionFormatUnknown, TableSchemaInvalid
from tidelake.delivery.processors import split_json_objects
from tidelake.delivery.records import ConversionResult

PARSE_ERROR = "DataFormatConversion.ParseError"
MALFORMED_DATA = "DataFormatConversion.MalformedData"
MSG_EMPTY = "The record was empty or contained only whitespace."
MSG_PRIMITIVE = "The input JSON contained a primitive at the top level. The top level must be an object or array."
MSG_MALFORMED = "Encountered malformed JSON."
MSG_MISMATCH = "Data does not match the schema."
PARQUET_CODECS = {"SNAPPY": "snappy", "GZIP": "gzip", "UNCOMPRESSED": "none"}
CHUNK = 131_072  # records per DuckDB pass: bounds memory, keeps buffers reusable
SCAN_SPLITS = 4  # Arrow record batches per pass, so DuckDB's threads share the scan


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # a Hive / Glue type string: int, string, timestamp, decimal(10,2), array<string>, ...


@dataclass(frozen=True, slots=True)
class TableSchema:
    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        seen: set[str] = set()
        for column in self.columns:
            if column.name.lower() in seen:
                raise TableSchemaInvalid(column.name, f"Column '{column.name}' appears twice.")
            seen.add(column.name.lower())
            _hive(column.type, column.name)

    @property
    def arrow(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, _hive(c.type, c.name).arrow) for c in self.columns])


# --- Hive type strings -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Type:
    kind: str  # string | int | float | decimal | boolean | timestamp | date | nested
    arrow: pa.DataType
    duck: str
    structure: object  # json_transform structure (nested types only)


_SCALARS: dict[str, tuple[str, pa.DataType, str]] = {
    "string": ("string", pa.string(), "VARCHAR"), "varchar": ("string", pa.string(), "VARCHAR"),
    "char": ("string", pa.string(), "VARCHAR"), "tinyint": ("int", pa.int8(), "TINYINT"),
    "smallint": ("int", pa.int16(), "SMALLINT"), "int": ("int", pa.int32(), "INTEGER"),
    "integer": ("int", pa.int32(), "INTEGER"), "bigint": ("int", pa.int64(), "BIGINT"),
    "double": ("float", pa.float64(), "DOUBLE"), "float": ("float", pa.float32(), "FLOAT"),
    "boolean": ("boolean", pa.bool_(), "BOOLEAN"), "timestamp": ("timestamp", pa.timestamp("us"), "TIMESTAMP"),
    "date": ("date", pa.date32(), "DATE"),
}
_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),:])")


@lru_cache(maxsize=1024)
def _hive(text: str, column: str) -> _Type:
    tokens = _TOKEN.findall(text)
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise TableSchemaInvalid(column, f"Column '{column}' has an unreadable type '{text}'.")
    parsed, end = _parse(tokens, 0, column, text)
    if end != len(tokens):
        raise TableSchemaInvalid(column, f"Column '{column}' has an unreadable type '{text}'.")
    return parsed


def _parse(tokens: list[str], i: int, column: str, text: str) -> tuple[_Type, int]:
    def expect(token: str, at: int) -> int:
        if at >= len(tokens) or tokens[at] != token:
            raise TableSchemaInvalid(column, f"Column '{column}' has an unreadable type '{text}'.")
        return at + 1

    name = tokens[i].lower() if i < len(tokens) else ""
    if name == "decimal":
        precision, scale, i = 10, 0, i + 1
        if i < len(tokens) and tokens[i] == "(":
            precision, i = int(tokens[i + 1]), i + 2
            if tokens[i] == ",":
                scale, i = int(tokens[i + 1]), i + 2
            i = expect(")", i)
        if not 0 < precision <= 38 or not 0 <= scale <= precision:
            raise TableSchemaInvalid(column, f"Column '{column}': decimal({precision},{scale}) is out of range.")
        duck = f"DECIMAL({precision},{scale})"
        return _Type("decimal", pa.decimal128(precision, scale), duck, duck), i
    if name in _SCALARS:
        kind, arrow, duck = _SCALARS[name]
        i += 1
        if name in ("varchar", "char"):
            i = expect(")", expect("(", i) + 1)
        return _Type(kind, arrow, duck, duck), i
    if name == "array":
        item, i = _parse(tokens, expect("<", i + 1), column, text)
        return _Type("nested", pa.list_(item.arrow), f"{item.duck}[]", [item.structure]), expect(">", i)
    if name == "map":
        key, i = _parse(tokens, expect("<", i + 1), column, text)
        value, i = _parse(tokens, expect(",", i), column, text)
        duck = f"MAP({key.duck}, {value.duck})"
        return _Type("nested", pa.map_(key.arrow, value.arrow), duck, duck), expect(">", i)
    if name == "struct":
        fields: list[tuple[str, _Type]] = []
        i = expect("<", i + 1)
        while True:
            field_name = tokens[i]
            field_type, i = _parse(tokens, expect(":", i + 1), column, text)
            fields.append((field_name, field_type))
            if tokens[i] == ">":
                break
            i = expect(",", i)
        duck = "STRUCT(" + ", ".join(f'"{n}" {t.duck}' for n, t in fields) + ")"
        arrow = pa.struct([pa.field(n, t.arrow) for n, t in fields])
        return _Type("nested", arrow, duck, {n: t.structure for n, t in fields}), i + 1
    raise TableSchemaInvalid(column, f"Column '{column}' has type '{text}', which format conversion cannot write.")


# --- SQL ---------------------------------------------------------------------------------------

def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


_INT = r"'[+-]?[0-9]+|0[xX][0-9a-fA-F]+'"
_SPACED = r"'[0-9]{4}-[0-9]{1,2}-[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?'"
_ZULU = r"'[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z'"
_DAY = r"'[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}'"


def _typed(x: str, t: _Type) -> str:
    """SQL turning the JSON text ``x`` of a value into the column type; NULL where it cannot."""
    if t.kind == "string":
        return x
    if t.kind == "int":
        return f"CASE WHEN regexp_full_match({x}, {_INT}) THEN TRY_CAST({x} AS {t.duck}) END"
    if t.kind in ("float", "decimal"):
        return f"TRY_CAST({x} AS {t.duck})"
    if t.kind == "boolean":
        return f"(lower({x}) = 'true')"
    if t.kind == "date":
        return f"CASE WHEN regexp_full_match({x}, {_DAY}) THEN TRY_CAST({x} AS DATE) END"
    if t.kind == "timestamp":
        # OpenX: digits only -> epoch seconds, or milliseconds from 13 characters on; a '.' -> float seconds.
        return (f"CASE WHEN regexp_full_match({x}, {_SPACED}) THEN TRY_CAST({x} AS TIMESTAMP) "
                f"WHEN regexp_full_match({x}, {_ZULU}) THEN TRY_CAST(replace(rtrim({x}, 'Z'), 'T', ' ') AS TIMESTAMP) "
                f"WHEN regexp_full_match({x}, '-?[0-9]+') THEN CASE WHEN length({x}) >= 13 "
                f"THEN TRY(epoch_ms(CAST({x} AS BIGINT))) ELSE TRY(make_timestamp(CAST({x} AS BIGINT) * 1000000)) END "
                f"WHEN regexp_full_match({x}, '-?[0-9]*\\.[0-9]*') "
                f"THEN TRY(epoch_ms(CAST(trunc(CAST({x} AS DOUBLE) * 1000) AS BIGINT))) END")
    structure = _lit(orjson.dumps(t.structure).decode())
    if isinstance(t.structure, dict):  # struct: missing fields are null, so only the shape is checked
        return f"CASE WHEN left({x}, 1) = '{{' THEN TRY(json_transform({x}, {structure})) END"
    return f"TRY(json_transform_strict({x}, {structure}))"


def _select(schema: TableSchema, sources: list[list[int]], paths: list[str], source: str) -> str:
    """The conversion query over ``batch(i, raw)``: row index, error code and message, columns.

    Only valid JSON reaches it (filtering with ``json_valid`` first costs far less than letting
    records fail inside ``TRY``, which then re-runs a whole vector row by row). Codes: N not an
    object, M a value its column cannot take, NULL a good row.
    """
    if paths:
        extract = f"json_extract_string(s, [{', '.join(_lit(p) for p in paths)}])"
    else:
        extract = "[]::VARCHAR[]"
    texts, typed, columns, mismatches = ["NULL AS x_"], ["NULL AS y_"], [], []
    for n, (column, found) in enumerate(zip(schema.columns, sources)):
        t = _hive(column.type, column.name)
        picks = [f"v[{k + 1}]" for k in found]  # several spellings of one key: the first present wins
        text = picks[0] if len(picks) == 1 else f"coalesce({', '.join(picks)})" if picks else "NULL::VARCHAR"
        texts.append(f"{text} AS x{n}")
        typed.append(f"{_typed(f'x{n}', t)} AS y{n}")
        name = column.name.replace('"', '""')
        columns.append(f'CAST(y{n} AS {t.duck}) AS "{name}"')
        if picks and t.kind not in ("string", "boolean"):
            before = _lit(f'{MSG_MISMATCH} For input string: "')
            after = _lit(f'" (column {column.name}, type {column.type})')
            mismatches.append((f"x{n} IS NOT NULL AND y{n} IS NULL", f"{before} || x{n} || {after}"))
    code = ("CASE WHEN left(ltrim(s, ' \t\r\n'), 1) <> '{' THEN 'N' "
            + "".join(f"WHEN {cond} THEN 'M' " for cond, _ in mismatches) + "END")
    message = ("CASE " + "".join(f"WHEN {cond} THEN {text} " for cond, text in mismatches) + "END"
               if mismatches else "NULL::VARCHAR")
    return (f"WITH d AS (SELECT i, {source} AS s FROM batch), "
            f"e AS (SELECT i, s, {extract} AS v FROM d WHERE json_valid(s)), "
            f"f AS (SELECT i, s, v, {', '.join(texts)} FROM e), "
            f"g AS (SELECT *, {', '.join(typed)} FROM f) "
            f"SELECT i, {code} AS code, {message} AS message, {', '.join(columns)} FROM g")


# --- Conversion --------------------------------------------------------------------------------

_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    # One connection per thread: a DuckDB connection must not run two queries at once.
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    return con


def _binary(records: list[bytes]) -> pa.Array:
    offsets = np.zeros(len(records) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, records), dtype=np.int64, count=len(records)), out=offsets[1:])
    return pa.Array.from_buffers(pa.large_binary(), len(records), [None, pa.py_buffer(offsets),
                                                                   pa.py_buffer(b"".join(records))])


def _raw(records: list[bytes]) -> tuple[pa.Array, str]:
    """The records as an Arrow column, and the SQL that reads it as text (NULL where not UTF-8)."""
    raw = _binary(records)
    text = raw.view(pa.large_string())
    try:
        text.validate(full=True)  # checks UTF-8 in one vectorized pass: the usual case
        return text, "raw"
    except pa.ArrowInvalid:
        return raw, "TRY(decode(raw))"


Normalize = Callable[[str], str]


def _normalizer(case_insensitive: bool, dots: bool) -> Normalize:
    def normalize(key: str) -> str:
        key = key.replace(".", "_") if dots else key
        return key.lower() if case_insensitive else key
    return normalize


def _convert(records: list[bytes], schema: TableSchema, normalize: Normalize, mappings: dict[str, str],
             ) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Good rows as a table, and (index, code, message) for each failed record."""
    con = _connection()
    raw, text = _raw(records)
    batch = pa.table({"i": pa.array(np.arange(len(records), dtype=np.int64)), "raw": raw})
    # DuckDB scans an Arrow table one record batch per thread: give it a few.
    batch = pa.Table.from_batches(batch.to_batches(max_chunksize=max(8192, -(-len(records) // SCAN_SPLITS))))
    con.register("batch", batch)
    try:
        keys = [k for (k,) in con.sql(f"SELECT DISTINCT unnest(json_keys(s)) FROM (SELECT {text} AS s FROM batch) "
                                      "WHERE json_valid(s)").fetchall()]
        paths: list[str] = []
        sources: list[list[int]] = []
        for column in schema.columns:
            target = normalize(mappings.get(column.name, column.name))
            found = [k for k in keys if normalize(k) == target]
            sources.append(list(range(len(paths), len(paths) + len(found))))
            paths += [_pointer(k) for k in found]
        result = con.sql(_select(schema, sources, paths, text)).to_arrow_table()
    finally:
        con.unregister("batch")
    # By position: a schema may well have columns named i, code or message.
    data = list(range(3, result.num_columns))
    if result.column(1).null_count == result.num_rows:  # the usual case: nothing to filter out
        good, bad = result.select(data), []
    else:
        ok = pc.is_null(result.column(1))
        good = result.filter(ok).select(data)
        bad = [{"i": i, "code": c, "message": m} for i, c, m in
               zip(*(result.filter(pc.invert(ok)).column(k).to_pylist() for k in range(3)))]
    if result.num_rows < len(records):  # rows json_valid turned away: empty, not UTF-8 or not JSON
        missing = np.setdiff1d(np.arange(len(records)), result.column(0).to_numpy(), assume_unique=True)
        bad += [{"i": int(i), "code": "E" if not records[i].strip(b" \t\r\n") else "P"} for i in missing]
        bad.sort(key=lambda row: row["i"])
    if not good.schema.equals(schema.arrow):
        good = good.cast(schema.arrow)
    extra, failures = _explain(records, bad, schema, normalize, mappings)
    return (pa.concat_tables([good, *extra]) if extra else good), failures


def _explain(records: list[bytes], bad: list[dict], schema: TableSchema, normalize: Normalize,
             mappings: dict[str, str],
             ) -> tuple[list[pa.Table], list[tuple[int, str, str]]]:
    """Messages for the failed rows, and rows for the records that only looked bad to SQL: several
    objects back to back, or a top-level array (OpenX maps its elements to columns by position)."""
    failures: list[tuple[int, str, str]] = []
    extra: list[pa.Table] = []
    for row in bad:
        index, code = row["i"], row["code"]
        pieces: list[bytes] | None = None
        if code == "E":
            failures.append((index, MALFORMED_DATA, MSG_EMPTY))
        elif code == "M":
            failures.append((index, MALFORMED_DATA, row["message"]))
        elif code == "N":
            pieces = _positional(records[index], schema, mappings)
            if pieces is None:
                failures.append((index, MALFORMED_DATA, MSG_PRIMITIVE))
        else:
            pieces = split_json_objects(records[index])
            if pieces is None or len(pieces) < 2:
                pieces = None
                failures.append((index, PARSE_ERROR, f"{MSG_MALFORMED} {_parse_detail(records[index])}"))
        if pieces is not None:
            rows, inner = _convert(pieces, schema, normalize, mappings)
            if inner:  # one bad object fails the whole record, as its raw data is the record
                failures.append((index, inner[0][1], inner[0][2]))
            else:
                extra.append(rows)
    return extra, failures


def _positional(record: bytes, schema: TableSchema, mappings: dict[str, str]) -> list[bytes] | None:
    try:
        value = orjson.loads(record)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, list):
        return None
    keys = [mappings.get(c.name, c.name) for c in schema.columns]
    return [orjson.dumps(dict(zip(keys, value)))]


def _parse_detail(record: bytes) -> str:
    try:
        orjson.loads(record)
        return "Not a single JSON value."
    except orjson.JSONDecodeError as e:
        return str(e)


def to_parquet(records: list[bytes], schema: TableSchema, *, compression: str = "SNAPPY",
               case_insensitive: bool = True, convert_dots_to_underscores: bool = False,
               column_to_json_key_mappings: dict[str, str] | None = None) -> ConversionResult:
    """Convert a batch of JSON records to one Parquet object with ``schema``'s columns and types."""
    codec = PARQUET_CODECS.get(compression)
    if codec is None:
        raise CompressionFormatUnknown(compression, tuple(PARQUET_CODECS))
    normalize = _normalizer(case_insensitive, convert_dots_to_underscores)
    mappings = dict(column_to_json_key_mappings or {})
    tables: list[pa.Table] = []
    failures: list[tuple[int, str, str]] = []
    for start in range(0, len(records), CHUNK):
        table, failed = _convert(records[start:start + CHUNK], schema, normalize, mappings)
        tables.append(table)
        failures += [(start + i, code, message) for i, code, message in failed]
    converted = sum(t.num_rows for t in tables)
    parquet = None
    if converted:
        out = io.BytesIO()
        pq.write_table(pa.concat_tables(tables), out, compression=codec)
        parquet = out.getvalue()
    return ConversionResult(parquet, converted, [(i, m) for i, _, m in failures], [c for _, c, _ in failures])

