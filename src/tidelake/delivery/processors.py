"""Firehose's record processors, applied to a whole batch at a time.

Sources (Amazon Data Firehose Developer Guide):

- AppendDelimiterToRecord: "Understand data delivery in Amazon Data Firehose" (newline).
- RecordDeAggregation: "Apply dynamic partitioning to aggregated data": JSON splits consecutive
  objects (``{"a":1}{"a":2}`` and JSON lines; an array is not valid input); DELIMITED splits on a
  delimiter given base64-encoded (``####`` -> ``IyMjIw==``); at most 500 sub-records per record.
  A record over the cap, or one that is not a sequence of JSON objects, is passed on whole (as the
  service does; the metadata extraction then rejects it as "Non JSON record provided").
- MetadataExtraction: "Understand partitioning keys" (jq 1.6, ``{key: .path, ...}`` queries). A key
  that evaluates to null or "" fails the record with "partitionKeys values must not be null or
  empty" (the service's message, error code DynamicPartitioning.MetadataExtractionFailed).
- Lambda: "Transform source data", "Required parameters for data transformation" and "Handle
  failure in data transformation" (event and response shapes, error record fields; timestamps
  in epoch milliseconds).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import orjson

from tidelake.delivery.errors import ProcessorParameterInvalid, TransformResponseInvalid
from tidelake.delivery.records import OK, RESULTS, TransformOutcome, TransformResult

MAX_SUB_RECORDS = 500
JSON, DELIMITED = "JSON", "DELIMITED"

# What !{firehose:error-output-type} becomes for records whose keys could not be extracted: not in
# the prefix page's table, but what users' error prefixes show (".../metadata-extraction-failed/").
METADATA_EXTRACTION_OUTPUT_TYPE = "metadata-extraction-failed"

# Error codes written into error records.
METADATA_EXTRACTION_FAILED = "DynamicPartitioning.MetadataExtractionFailed"
PROCESSING_FAILED_STATUS = "Lambda.ProcessingFailedStatus"
JSON_PROCESSING_EXCEPTION = "Lambda.JsonProcessingException"
MISSING_RECORD_ID = "Lambda.MissingRecordId"
DUPLICATED_RECORD_ID = "Lambda.DuplicatedRecordId"
FUNCTION_ERROR = "Lambda.FunctionError"

MSG_NON_JSON = "Non JSON record provided"
MSG_NULL_KEY = "partitionKeys values must not be null or empty"
MSG_PROCESSING_FAILED = "ProcessingFailed status set for record"
MSG_JSON_PROCESSING = ("There was an error parsing returned records from the Lambda function. Ensure that the "
                       "returned records follow the status model required by Firehose.")
MSG_MISSING_ID = ("One or more record Ids were not returned. Ensure that the Lambda function returns all "
                  "received record Ids.")
MSG_DUPLICATED_ID = ("Multiple records were returned with the same record Id. Ensure that the Lambda function "
                     "returns a unique record Id for each record.")
MSG_BAD_FORMAT = ("Check your function and make sure the output is in required format. In addition to that, make "
                  "sure the processed records contain valid result status of Dropped, Ok, or ProcessingFailed")


# --- AppendDelimiterToRecord -------------------------------------------------------------------

def append_delimiter(records: list[bytes]) -> bytes:
    """The records joined, each followed by a newline: one join, no new bytes object per record."""
    return b"\n".join(records) + b"\n" if records else b""


# --- RecordDeAggregation -----------------------------------------------------------------------

# Where one object ends and the next begins; a split that falls inside a string leaves an
# unterminated string on its left, which orjson rejects, so the slow path then takes over.
_BOUNDARY = re.compile(rb"(?<=\})[ \t\r\n]*(?=\{)")
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder()


def split_json_objects(record: bytes) -> list[bytes] | None:
    """The JSON objects concatenated in ``record`` (each as its own bytes), or None if it is not that."""
    pieces = _BOUNDARY.split(record.strip(b" \t\r\n"))
    try:
        if all(type(orjson.loads(p)) is dict for p in pieces):
            return pieces
    except orjson.JSONDecodeError:
        pass
    return _split_slowly(record)


def _split_slowly(record: bytes) -> list[bytes] | None:
    try:
        text = record.decode()
    except UnicodeDecodeError:
        return None
    pieces, pos = [], _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    while pos < len(text):
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        pieces.append(text[pos:end].encode())
        pos = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
    return pieces or None


@lru_cache(maxsize=64)
def _delimiter(encoded: str | None) -> bytes:
    if not encoded:
        raise ProcessorParameterInvalid("Delimiter", "SubRecordType DELIMITED needs a base64-encoded Delimiter.")
    try:
        value = base64.b64decode(encoded, validate=True)
    except binascii.Error as e:
        raise ProcessorParameterInvalid("Delimiter", f"Delimiter '{encoded}' is not valid base64.") from e
    if not value:
        raise ProcessorParameterInvalid("Delimiter", "Delimiter decodes to an empty string.")
    return value


def deaggregate(records: list[bytes], kind: str = JSON,
                delimiter: str | None = None) -> tuple[list[bytes], list[int]]:
    """Split aggregated records; returns the sub-records and, for each, the index of its source record.

    ``delimiter`` is the processor parameter as configured, base64-encoded.
    """
    kind = kind.upper()
    if kind == JSON:
        split = split_json_objects
    elif kind == DELIMITED:
        sep = _delimiter(delimiter)

        def split(record: bytes) -> list[bytes] | None:
            return [p for p in record.split(sep) if p] or None
    else:
        raise ProcessorParameterInvalid("SubRecordType", f"SubRecordType must be JSON or DELIMITED, not '{kind}'.")
    out: list[bytes] = []
    sources: list[int] = []
    for i, record in enumerate(records):
        pieces = split(record)
        if pieces is None or len(pieces) > MAX_SUB_RECORDS:
            pieces = [record]
        out += pieces
        sources += [i] * len(pieces)
    return out, sources


# --- MetadataExtraction (jq) -------------------------------------------------------------------

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PAIR = re.compile(rf'\s*(?:({_IDENT})|"([^"\\]*)")\s*(?::\s*((?:\.{_IDENT})+))?\s*(?:,|$)')
_SIMPLE = re.compile(rf'\s*\{{((?:\s*(?:{_IDENT}|"[^"\\]*")\s*(?::\s*(?:\.{_IDENT})+)?\s*,)*'
                     rf'\s*(?:{_IDENT}|"[^"\\]*")\s*(?::\s*(?:\.{_IDENT})+)?)\s*\}}\s*')


@lru_cache(maxsize=64)
def _compile(query: str) -> tuple[Any, tuple[tuple[str, tuple[str, ...]], ...] | None]:
    """The jq program (wrapped so each input yields exactly one output) and, for a query made
    only of ``key: .path.to.field`` pairs, those pairs: they are evaluated without jq (5x faster)."""
    import jq  # a compiled extension; only streams with dynamic partitioning need it

    try:
        jq.compile(query)  # syntax errors against the user's text, not the wrapper's
        program = jq.compile(f'try [({query}\n)] catch {{"error": tostring}}')  # \n: ends a # comment
    except ValueError as e:
        raise ProcessorParameterInvalid("MetadataExtractionQuery", f"Invalid jq query: {e}") from e
    match = _SIMPLE.fullmatch(query)
    if match is None:
        return program, None
    pairs = []
    for m in _PAIR.finditer(match.group(1)):
        if m.group(0).strip():
            key = m.group(1) if m.group(1) is not None else m.group(2)
            path = m.group(3)  # absent: {a} is jq for {a: .a}
            pairs.append((key, tuple(path[1:].split(".")) if path else (key,)))
    return program, tuple(pairs)


_JQ_TYPES = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string",
             list: "array", dict: "object"}


def _follow(value: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        if value is None:
            return None
        if type(value) is not dict:
            raise LookupError(f'Cannot index {_JQ_TYPES.get(type(value), "number")} with "{step}"')
        value = value.get(step)
    return value


def _text(value: Any) -> str | None:
    """A partition key value as the prefix shows it: strings as is, other scalars as jq prints them."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN: jq has no NaN value, it prints null
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e17 else repr(value)
    raise TypeError(f"partition key value must be a string, number or boolean, not {_JQ_TYPES[type(value)]}")


def _keys(outputs: Any) -> tuple[dict[str, str] | None, str | None]:
    if isinstance(outputs, dict):  # the wrapper caught a jq error
        return None, str(outputs.get("error"))
    if len(outputs) != 1 or not isinstance(outputs[0], dict):
        return None, f"MetadataExtractionQuery must produce one JSON object, got {len(outputs)} results"
    keys: dict[str, str] = {}
    for name, value in outputs[0].items():
        try:
            text = _text(value)
        except TypeError as e:
            return None, str(e)
        if not text:
            return None, MSG_NULL_KEY
        keys[name] = text
    return keys, None


def _loads(record: bytes) -> tuple[bool, Any]:
    try:
        return True, orjson.loads(record)
    except orjson.JSONDecodeError:
        pass
    try:  # numbers beyond 64 bits, NaN: refused by orjson, read by the standard library
        return True, json.loads(record.decode())
    except ValueError:  # UnicodeDecodeError included
        return False, None


def extract_partition_keys(records: list[bytes], query: str, *,
                           fast_path: bool = True) -> tuple[list[dict[str, str] | None], list[str | None]]:
    """Run the MetadataExtractionQuery over each record: its keys, or an error message."""
    program, pairs = _compile(query)
    keys: list[dict[str, str] | None] = [None] * len(records)
    errors: list[str | None] = [None] * len(records)
    valid: list[int] = []
    values: list[Any] = []
    for i, record in enumerate(records):
        ok, value = _loads(record)
        if ok:
            valid.append(i)
            values.append(value)
        else:
            errors[i] = MSG_NON_JSON
    if pairs is not None and fast_path:
        for i, value in zip(valid, values):
            try:
                outputs: Any = [{key: _follow(value, path) for key, path in pairs}]
            except LookupError as e:
                outputs = {"error": e.args[0]}
            keys[i], errors[i] = _keys(outputs)
        return keys, errors
    # One jq run over the whole batch; the wrapper guarantees one output per input record.
    try:
        results = program.input_text(b"\n".join(records[i] for i in valid).decode()).all() if valid else []
    except ValueError:  # a value Python reads but jq does not (NaN): find it record by record
        results = []
    if len(results) != len(valid):
        results = [_run(program, records[i]) for i in valid]
    for i, outputs in zip(valid, results):
        keys[i], errors[i] = _keys(outputs)
    return keys, errors


def _run(program: Any, record: bytes) -> Any:
    try:
        return program.input_text(record.decode()).first()
    except ValueError:
        return {"error": MSG_NON_JSON}


# --- Lambda transform contract -----------------------------------------------------------------

def _millis(seconds: float) -> int:
    return int(seconds * 1000)


def transform_event(records: Sequence[bytes], arrivals: Sequence[float], *, invocation_id: str,
                    delivery_stream_arn: str, region: str, record_ids: Sequence[str],
                    source_kinesis_stream_arn: str | None = None,
                    kinesis_record_metadata: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The event the transform function receives (arrivals in epoch seconds)."""
    entries = [{"recordId": rid, "approximateArrivalTimestamp": _millis(at),
                "data": binascii.b2a_base64(r, newline=False).decode("ascii")}
               for rid, at, r in zip(record_ids, arrivals, records)]
    if kinesis_record_metadata is not None:  # Kinesis stream as source adds the source record's details
        for entry, meta in zip(entries, kinesis_record_metadata):
            entry["kinesisRecordMetadata"] = dict(meta)
    event: dict[str, Any] = {"invocationId": invocation_id, "deliveryStreamArn": delivery_stream_arn}
    if source_kinesis_stream_arn is not None:
        event["sourceKinesisStreamArn"] = source_kinesis_stream_arn
    event["region"] = region
    event["records"] = entries
    return event


def _bad(code: str, message: str, detail: str = "") -> TransformResponseInvalid:
    return TransformResponseInvalid(code, f"{message} ({detail})" if detail else message)


def _partition_keys(entry: dict[str, Any]) -> dict[str, str] | None:
    metadata = entry.get("metadata")
    if metadata is None:
        return None
    found = metadata.get("partitionKeys") if isinstance(metadata, dict) else []
    if found is None:
        return None
    if not isinstance(found, dict):
        raise _bad(JSON_PROCESSING_EXCEPTION, MSG_JSON_PROCESSING, "metadata.partitionKeys must be an object")
    try:
        return {str(k): t for k, v in found.items() if (t := _text(v)) is not None}
    except TypeError as e:
        raise _bad(JSON_PROCESSING_EXCEPTION, MSG_JSON_PROCESSING, str(e)) from e


def _result(entry: Any) -> TransformResult:
    if not isinstance(entry, dict) or not isinstance(entry.get("recordId"), str) \
            or not isinstance(entry.get("result", ""), str) or not isinstance(entry.get("data", ""), str):
        raise _bad(JSON_PROCESSING_EXCEPTION, MSG_JSON_PROCESSING, "a record is not {recordId, result, data}")
    result, data = entry.get("result"), entry.get("data")
    if result not in RESULTS:
        raise _bad(FUNCTION_ERROR, MSG_BAD_FORMAT, f"result {result!r} for record {entry['recordId']}")
    decoded = None
    if result == OK:
        if data is None:
            raise _bad(FUNCTION_ERROR, MSG_BAD_FORMAT, f"record {entry['recordId']} is Ok but has no data")
        try:
            decoded = binascii.a2b_base64(data, strict_mode=True)
        except binascii.Error as e:
            raise _bad(FUNCTION_ERROR, MSG_BAD_FORMAT, f"data of record {entry['recordId']} is not base64") from e
    return TransformResult(entry["recordId"], result, decoded, _partition_keys(entry))


def parse_transform_response(response: Any, record_ids: list[str]) -> TransformOutcome:
    """Validate the function's answer (raw bytes/str, or already decoded) against the invocation.

    Any fault fails the whole invocation with TransformResponseInvalid (its ``code`` is the
    Firehose error code); results for ids the invocation did not carry are ignored.
    """
    if isinstance(response, (bytes, bytearray, memoryview, str)):
        try:
            response = orjson.loads(response)
        except orjson.JSONDecodeError as e:
            raise _bad(JSON_PROCESSING_EXCEPTION, MSG_JSON_PROCESSING, str(e)) from e
    if not isinstance(response, dict):
        raise _bad(JSON_PROCESSING_EXCEPTION, MSG_JSON_PROCESSING, "the response is not a JSON object")
    entries = response.get("records")
    if entries is None:
        raise _bad(FUNCTION_ERROR, MSG_BAD_FORMAT, "the response has no records")
    if not isinstance(entries, list):
        raise _bad(JSON_PROCESSING_EXCEPTION, MSG_JSON_PROCESSING, "records is not a list")
    by_id: dict[str, TransformResult] = {}
    for entry in entries:
        result = _result(entry)
        if result.record_id in by_id:
            raise _bad(DUPLICATED_RECORD_ID, MSG_DUPLICATED_ID, result.record_id)
        by_id[result.record_id] = result
    missing = [rid for rid in record_ids if rid not in by_id]
    if missing:
        raise _bad(MISSING_RECORD_ID, MSG_MISSING_ID, f"{len(missing)} missing, first {missing[0]}")
    return TransformOutcome([by_id[rid] for rid in record_ids])


# --- Error records -----------------------------------------------------------------------------

def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def error_record(raw: bytes, arrival: float, attempts: int, code: str, message: str, now: float,
                 lambda_arn: str | None) -> bytes:
    """A ``processing-failed`` entry (one JSON line, no newline); times in epoch seconds.

    Without ``lambda_arn`` it is the shape used for dynamic-partitioning failures.
    """
    doc: dict[str, Any] = {"attemptsMade": attempts, "arrivalTimestamp": _millis(arrival), "errorCode": code,
                           "errorMessage": message, "attemptEndingTimestamp": _millis(now), "rawData": _b64(raw)}
    if lambda_arn is not None:
        doc["lambdaArn"] = lambda_arn
    return orjson.dumps(doc)


def partitioning_error_record(raw: bytes, arrival: float, message: str, now: float, *,
                              code: str = METADATA_EXTRACTION_FAILED, attempts: int = 1) -> bytes:
    """A dynamic-partitioning failure (key not extractable, null, or prefix not evaluable)."""
    return error_record(raw, arrival, attempts, code, message, now, None)


def format_conversion_error_record(raw: bytes, arrival: float, code: str, message: str, now: float, *,
                                   attempts: int = 1, sequence_number: str | None = None,
                                   sub_sequence_number: int | None = None,
                                   data_catalog_table: Mapping[str, str] | None = None) -> bytes:
    """A ``format-conversion-failed`` entry ("Handling errors for data format conversion").

    This schema names the code ``lastErrorCode``/``lastErrorMessage``, unlike processing-failed.
    ``data_catalog_table`` carries catalogId, databaseName, tableName, region, versionId, catalogArn.
    """
    doc: dict[str, Any] = {"attemptsMade": attempts, "arrivalTimestamp": _millis(arrival), "lastErrorCode": code,
                           "lastErrorMessage": message, "attemptEndingTimestamp": _millis(now),
                           "rawData": _b64(raw)}
    if sequence_number is not None:
        doc["sequenceNumber"] = sequence_number
        doc["subSequenceNumber"] = sub_sequence_number
    if data_catalog_table is not None:
        doc["dataCatalogTable"] = dict(data_catalog_table)
    return orjson.dumps(doc)
