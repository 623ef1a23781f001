"""JSON -> Parquet record format conversion (OpenX JSON SerDe in, ParquetSerDe out).

Pages (Amazon Data Firehose Developer Guide):
- CNV: "Convert input data format in Amazon Data Firehose" (record-format-conversion.html):
  deserializers, the timestamp formats the OpenX JSON SerDe accepts, ``{"a":1}{"a":2}`` input
- ERR: "Handling errors for data format conversion" (a record that cannot be parsed or does not
  match the schema goes to the error prefix; the rest of the batch converts)
- API: "OpenXJsonSerDe" and "ParquetSerDe" (CaseInsensitive, ConvertDotsInJsonKeysToUnderscores,
  ColumnToJsonKeyMappings; Compression SNAPPY | GZIP | UNCOMPRESSED)
Value parsing follows the OpenX SerDe's ParsePrimitiveUtils (numeric strings, hex, epoch
seconds vs milliseconds by length).
"""
from __future__ import annotations

import io
import itertools
from datetime import date, datetime, timezone
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tidelake.delivery.convert import MALFORMED_DATA, PARSE_ERROR, Column, TableSchema, to_parquet
from tidelake.delivery.errors import CompressionFormatUnknown, TableSchemaInvalid
from tidelake.generate.retail import encode, transactions

RETAIL = TableSchema((Column("invoice", "string"), Column("stockcode", "string"), Column("description", "string"),
                      Column("quantity", "int"), Column("invoicedate", "timestamp"), Column("price", "double"),
                      Column("customer_id", "string"), Column("country", "string")))


def _table(parquet: bytes | None) -> pa.Table:
    assert parquet is not None
    return pq.read_table(io.BytesIO(parquet))


def _one(column_type: str, value: bytes) -> tuple[object, list[tuple[int, str]]]:
    """Convert ``{"v": value}`` into a one-column table; the value, or None, and the failures."""
    result = to_parquet([b'{"v": ' + value + b"}"], TableSchema((Column("v", column_type),)))
    if result.failures:
        return None, result.failures
    return _table(result.parquet).column("v")[0].as_py(), []


def test_workshop_records_with_mixed_case_keys() -> None:
    # The immersion day's generator writes Invoice, InvoiceDate, Customer_ID; the Glue table has
    # invoice, invoicedate, customer_id (CNV: the OpenX SerDe lowercases keys by default).
    at = datetime(2026, 11, 23, 9, 3, 45, tzinfo=timezone.utc)  # one instant for both generations below
    records = [encode(t) for t in itertools.islice(transactions(seed=3, now=lambda: at), 50)]
    result = to_parquet(records, RETAIL)
    assert result.converted == 50 and result.failures == [] and result.failure_codes == []
    table = _table(result.parquet)
    assert table.schema == RETAIL.arrow
    assert table.schema.field("invoicedate").type == pa.timestamp("us")
    first = table.to_pylist()[0]
    source = next(iter(transactions(seed=3, now=lambda: at)))
    assert first["invoice"] == source["Invoice"] and first["customer_id"] == source["Customer_ID"]
    assert first["quantity"] == source["Quantity"] and first["price"] == source["Price"]
    assert first["invoicedate"] == datetime.strptime(str(source["InvoiceDate"]), "%Y-%m-%d %H:%M:%S")


def test_duckdb_reads_the_columns_with_their_types(tmp_path) -> None:
    result = to_parquet([encode(t) for t in itertools.islice(transactions(), 20)], RETAIL)
    path = tmp_path / "part.parquet"
    path.write_bytes(result.parquet or b"")
    described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    assert {row[0]: row[1] for row in described} == {
        "invoice": "VARCHAR", "stockcode": "VARCHAR", "description": "VARCHAR", "quantity": "INTEGER",
        "invoicedate": "TIMESTAMP", "price": "DOUBLE", "customer_id": "VARCHAR", "country": "VARCHAR"}
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall() == [(20,)]


def test_missing_keys_are_null_and_extra_keys_ignored() -> None:
    result = to_parquet([b'{"Invoice": "1", "unknown": [1, 2], "extra": {"x": 1}}'], RETAIL)
    row = _table(result.parquet).to_pylist()[0]
    assert row["invoice"] == "1" and all(v is None for k, v in row.items() if k != "invoice")


def test_json_null_is_null() -> None:
    assert _one("int", b"null") == (None, [])
    assert _one("timestamp", b"null") == (None, [])


@pytest.mark.parametrize("text, expected", [
    # CNV: yyyy-MM-dd'T'HH:mm:ss[.S]'Z', fraction up to 9 digits
    (b'"2017-02-07T15:13:01.39256Z"', datetime(2017, 2, 7, 15, 13, 1, 392560)),
    (b'"2026-11-23T09:03:45Z"', datetime(2026, 11, 23, 9, 3, 45)),
    (b'"2026-11-23T09:03:45.123456789Z"', datetime(2026, 11, 23, 9, 3, 45, 123456)),
    # CNV: yyyy-[M]M-[d]d HH:mm:ss[.S]
    (b'"2017-02-07 15:13:01.14"', datetime(2017, 2, 7, 15, 13, 1, 140000)),
    (b'"2026-11-23 09:03:45"', datetime(2026, 11, 23, 9, 3, 45)),
    (b'"2026-1-3 09:03:45"', datetime(2026, 1, 3, 9, 3, 45)),
    # CNV: epoch seconds, epoch milliseconds, floating point epoch seconds
    (b"1518033528", datetime(2018, 2, 7, 19, 58, 48)),
    (b"1518033528123", datetime(2018, 2, 7, 19, 58, 48, 123000)),
    (b"1518033528.123", datetime(2018, 2, 7, 19, 58, 48, 123000)),
    (b'"1518033528"', datetime(2018, 2, 7, 19, 58, 48)),  # OpenX parses the text either way
])
def test_accepted_timestamp_formats(text: bytes, expected: datetime) -> None:
    assert _one("timestamp", text) == (expected, [])


@pytest.mark.parametrize("text", [b'"2026-11-23T09:03:45+00:00"', b'"2026-11-23T09:03:45"', b'"2026-11-23"',
                                  b'"23/11/2026 09:03:45"', b'"2026-02-30 09:03:45"', b'"soon"', b"true",
                                  b'"2026-11-23 09:03:45.1234567890"'])
def test_other_timestamp_texts_fail(text: bytes) -> None:
    value, failures = _one("timestamp", text)
    assert value is None and len(failures) == 1
    assert failures[0][1].startswith("Data does not match the schema.")


@pytest.mark.parametrize("column_type, text, expected", [
    ("int", b"42", 42), ("int", b'"42"', 42), ("int", b'"+7"', 7), ("int", b'"0x1F"', 31), ("int", b"-3", -3),
    ("bigint", b"9007199254740993", 9007199254740993), ("smallint", b"-32768", -32768), ("tinyint", b"127", 127),
    ("double", b"1.5", 1.5), ("double", b'"1e3"', 1000.0), ("double", b"3", 3.0), ("float", b"0.5", 0.5),
    ("decimal(10,2)", b"12.345", Decimal("12.35")), ("decimal(10,2)", b'"7"', Decimal("7.00")),
    ("boolean", b"true", True), ("boolean", b'"TRUE"', True), ("boolean", b'"yes"', False),
    ("boolean", b"false", False),
    ("string", b'"text"', "text"), ("string", b"12", "12"), ("string", b"true", "true"),
    ("string", b'{"a": 1}', '{"a":1}'),
    ("date", b'"2026-11-23"', date(2026, 11, 23)),
    ("array<string>", b'["a", "b", 3]', ["a", "b", "3"]), ("array<int>", b"[1, 2]", [1, 2]),
    ("map<string,int>", b'{"a": 1}', [("a", 1)]),
    ("struct<a:int,b:string>", b'{"a": 1}', {"a": 1, "b": None}),
])
def test_values_by_column_type(column_type: str, text: bytes, expected: object) -> None:
    assert _one(column_type, text) == (expected, [])


@pytest.mark.parametrize("column_type, text", [
    ("int", b"1.5"), ("int", b"1.0"), ("int", b'"12abc"'), ("int", b'" 5"'), ("int", b"true"), ("int", b"[1]"),
    ("int", b"2147483648"), ("tinyint", b"128"), ("bigint", b"18446744073709551616"),
    ("double", b'"abc"'), ("double", b"{}"), ("decimal(4,2)", b"123.4"), ("date", b'"23.11.2026"'),
    ("array<string>", b'"a"'), ("array<int>", b'["x"]'), ("map<string,int>", b"[1]"), ("struct<a:int>", b"5"),
])
def test_values_a_column_cannot_take_fail(column_type: str, text: bytes) -> None:
    value, failures = _one(column_type, text)
    assert value is None
    assert len(failures) == 1 and failures[0][0] == 0
    assert failures[0][1].startswith('Data does not match the schema. For input string: "')


def test_failures_are_isolated_with_their_codes() -> None:
    good = [encode(t) for t in itertools.islice(transactions(), 5)]
    records = [good[0], b"{not json", good[1], b"", b"   \n", b"42", b'"text"', good[2],
               b'{"Quantity": "many"}', b"\xff\xfe{}", good[3], b'{"Price": "cheap", "Quantity": 1}', good[4]]
    result = to_parquet(records, RETAIL)
    assert result.converted == 5
    assert [i for i, _ in result.failures] == [1, 3, 4, 5, 6, 8, 9, 11]
    assert result.failure_codes == [PARSE_ERROR, MALFORMED_DATA, MALFORMED_DATA, MALFORMED_DATA, MALFORMED_DATA,
                                    MALFORMED_DATA, PARSE_ERROR, MALFORMED_DATA]
    messages = dict(result.failures)
    assert messages[1].startswith("Encountered malformed JSON.")
    assert messages[3] == messages[4] == "The record was empty or contained only whitespace."
    assert "primitive at the top level" in messages[5] and "primitive at the top level" in messages[6]
    assert messages[8] == 'Data does not match the schema. For input string: "many" (column quantity, type int)'
    assert '"cheap"' in messages[11]
    assert [r["invoice"] for r in _table(result.parquet).to_pylist()] == [
        str(next(itertools.islice(transactions(), i, None))["Invoice"]) for i in range(5)]


def test_several_objects_in_one_record_are_several_rows() -> None:  # CNV: {"a":1}{"a":2} is valid input
    result = to_parquet([b'{"Invoice": "1"}{"Invoice": "2"}\n{"Invoice": "3"}', b'{"Invoice": "4"}'], RETAIL)
    assert result.failures == [] and result.converted == 4
    assert sorted(r["invoice"] for r in _table(result.parquet).to_pylist()) == ["1", "2", "3", "4"]


def test_a_top_level_array_fills_columns_by_position() -> None:
    # OpenX reads a JSON array positionally; Firehose's own message allows "an object or array".
    result = to_parquet([b'["i1", "s1", "d1", "3"]', b'["i2", "s2", "d2", "many"]'], RETAIL)
    (row,) = _table(result.parquet).to_pylist()
    assert row == {"invoice": "i1", "stockcode": "s1", "description": "d1", "quantity": 3, "invoicedate": None,
                   "price": None, "customer_id": None, "country": None}
    assert [i for i, _ in result.failures] == [1] and result.failure_codes == [MALFORMED_DATA]


def test_a_bad_object_fails_its_whole_record() -> None:
    result = to_parquet([b'{"Invoice": "1"}{"Quantity": "x"}', b'{"Invoice": "2"}'], RETAIL)
    assert [i for i, _ in result.failures] == [0] and result.failure_codes == [MALFORMED_DATA]
    assert _table(result.parquet).column("invoice").to_pylist() == ["2"]


def test_nothing_converted_means_no_object() -> None:
    result = to_parquet([b"x", b"y"], RETAIL)
    assert result.parquet is None and result.converted == 0 and len(result.failures) == 2
    assert to_parquet([], RETAIL) == to_parquet([], RETAIL) and to_parquet([], RETAIL).parquet is None


def test_case_sensitive_matching_when_asked() -> None:
    schema = TableSchema((Column("invoice", "string"),))
    records = [b'{"Invoice": "A"}', b'{"invoice": "b"}']
    assert _table(to_parquet(records, schema).parquet).column("invoice").to_pylist() == ["A", "b"]
    assert _table(to_parquet(records, schema, case_insensitive=False).parquet).column("invoice").to_pylist() \
        == [None, "b"]


def test_dots_to_underscores_and_key_mappings() -> None:  # API: OpenXJsonSerDe options
    schema = TableSchema((Column("user_id", "string"), Column("ts", "bigint"), Column("a_b", "int")))
    records = [b'{"user.id": "u1", "timestamp": 5, "A.B": 1}']
    plain = _table(to_parquet(records, schema).parquet).to_pylist()[0]
    assert plain == {"user_id": None, "ts": None, "a_b": None}
    mapped = to_parquet(records, schema, convert_dots_to_underscores=True,
                        column_to_json_key_mappings={"ts": "timestamp"})
    assert _table(mapped.parquet).to_pylist()[0] == {"user_id": "u1", "ts": 5, "a_b": 1}


def test_columns_named_like_the_converters_own() -> None:
    schema = TableSchema((Column("i", "int"), Column("code", "string"), Column("message", "string")))
    result = to_parquet([b'{"I": 1, "Code": "c", "message": "m"}', b'{"i": "x"}'], schema)
    assert _table(result.parquet).to_pylist() == [{"i": 1, "code": "c", "message": "m"}]
    assert [i for i, _ in result.failures] == [1]


def test_keys_needing_escapes_in_json_paths() -> None:
    schema = TableSchema((Column("a/b", "string"), Column("c~d", "string"), Column("e'f", "string"),
                          Column('g"h', "string")))
    row = _table(to_parquet([b'{"a/b": "1", "c~d": "2", "e\'f": "3", "g\\"h": "4"}'], schema).parquet).to_pylist()
    assert row == [{"a/b": "1", "c~d": "2", "e'f": "3", 'g"h': "4"}]


@pytest.mark.parametrize("compression, codec", [("SNAPPY", "SNAPPY"), ("GZIP", "GZIP"),
                                                ("UNCOMPRESSED", "UNCOMPRESSED")])
def test_parquet_compression(compression: str, codec: str) -> None:
    result = to_parquet([encode(t) for t in itertools.islice(transactions(), 10)], RETAIL, compression=compression)
    meta = pq.ParquetFile(io.BytesIO(result.parquet or b"")).metadata
    assert meta.row_group(0).column(0).compression == codec


def test_unknown_parquet_compression() -> None:
    with pytest.raises(CompressionFormatUnknown):
        to_parquet([b"{}"], RETAIL, compression="ZSTD")


@pytest.mark.parametrize("column_type", ["varchar(10)", "char(2)", "decimal", "decimal(38,10)", "integer",
                                         "array<struct<a:int,b:array<string>>>", "map<string,array<double>>",
                                         "STRING", "struct< a : int , b : string >"])
def test_schema_accepts_hive_types(column_type: str) -> None:
    assert TableSchema((Column("c", column_type),)).arrow.field("c") is not None


@pytest.mark.parametrize("column_type", ["binary", "uniontype<int,string>", "array<string", "int>", "decimal(50,2)",
                                         "struct<>", "varchar", "", "map<string>"])
def test_schema_rejects_what_it_cannot_write(column_type: str) -> None:
    with pytest.raises(TableSchemaInvalid) as e:
        TableSchema((Column("c", column_type),))
    assert e.value.column == "c"


def test_schema_rejects_duplicate_columns() -> None:
    with pytest.raises(TableSchemaInvalid):
        TableSchema((Column("a", "int"), Column("A", "string")))


def test_schema_from_dicts_and_lists() -> None:
    schema = TableSchema([Column(**{"name": "a", "type": "int"})])  # type: ignore[arg-type]
    assert schema.columns == (Column("a", "int"),) and hash(schema)


def test_a_100k_record_batch() -> None:
    records = [encode(t) for t in itertools.islice(transactions(), 100_000)]
    records[31_337] = b'{"Quantity": 1.5}'
    records[99_999] = b"}"
    result = to_parquet(records, RETAIL)
    assert result.converted == 99_998
    assert [i for i, _ in result.failures] == [31_337, 99_999]
    table = _table(result.parquet)
    assert table.num_rows == 99_998 and table.schema == RETAIL.arrow
    assert table.column("quantity").null_count == 0 and table.column("invoicedate").null_count == 0
