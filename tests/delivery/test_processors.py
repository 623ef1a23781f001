"""Firehose record processors, against the AWS documentation.

Pages (Amazon Data Firehose Developer Guide):
- DLV: "Understand data delivery in Amazon Data Firehose" (AppendDelimiterToRecord: newline)
- AGG: "Apply dynamic partitioning to aggregated data" (JSON / DELIMITED, base64 delimiter, 500 cap)
- KEYS: "Understand partitioning keys" (inline parsing with jq 1.6)
- TRN: "Transform source data in Amazon Data Firehose" (event shape)
- REQ: "Required parameters for data transformation" (recordId, result, data)
- FAIL: "Handle failure in data transformation" (processing-failed record fields)
- FMT: "Handling errors for data format conversion" (format-conversion-failed record fields)
Service messages and codes not on those pages (Non JSON record provided, partitionKeys values
must not be null or empty, Lambda.DuplicatedRecordId's text) are the ones users have quoted
from real error objects.
"""
from __future__ import annotations

import base64
import itertools

import orjson
import pytest

from tidelake.delivery import processors
from tidelake.delivery.errors import ProcessorParameterInvalid, TransformResponseInvalid
from tidelake.delivery.processors import (
    MAX_SUB_RECORDS,
    MSG_NON_JSON,
    MSG_NULL_KEY,
    append_delimiter,
    deaggregate,
    error_record,
    extract_partition_keys,
    format_conversion_error_record,
    parse_transform_response,
    partitioning_error_record,
    transform_event,
)
from tidelake.delivery.records import TransformOutcome
from tidelake.generate.retail import encode, transactions


def test_append_delimiter_adds_a_newline_to_each_record() -> None:  # DLV
    assert append_delimiter([b"a", b"", b'{"b":1}']) == b'a\n\n{"b":1}\n'
    assert append_delimiter([]) == b""


# --- RecordDeAggregation -----------------------------------------------------------------------

def test_json_splits_concatenated_objects_and_json_lines() -> None:  # AGG: both correct inputs
    records, sources = deaggregate([b'{"a":1}{"a":2}', b'{"a":1}\n{"a":2}\n', b'{"b":3}'], "JSON")
    assert records == [b'{"a":1}', b'{"a":2}', b'{"a":1}', b'{"a":2}', b'{"b":3}']
    assert sources == [0, 0, 1, 1, 2]


def test_json_keeps_braces_and_quotes_inside_strings() -> None:
    tricky = b'{"a":"}{"} {"b":"x\\"}{\\"y"}\r\n\t{"c":{"d":[{"e":"}"}]}}'
    records, sources = deaggregate([tricky], "JSON")
    assert records == [b'{"a":"}{"}', b'{"b":"x\\"}{\\"y"}', b'{"c":{"d":[{"e":"}"}]}}']
    assert [orjson.loads(r) for r in records] == [{"a": "}{"}, {"b": 'x"}{"y'}, {"c": {"d": [{"e": "}"}]}}]
    assert sources == [0, 0, 0]


def test_json_objects_spread_over_lines_split_too() -> None:
    records, _ = deaggregate([b'{\n  "a": 1\n}\n{\n  "a": 2\n}'], "JSON")
    assert [orjson.loads(r) for r in records] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("record", [b'[{"a":1}, {"a":2}]', b'{"a":1} trailing', b"not json", b"", b"  ",
                                    b'{"a":1}5', b"\xff\xfe"])
def test_json_passes_a_record_it_cannot_split_on_whole(record: bytes) -> None:
    # AGG: an array of objects is not valid input; the record goes on unsplit and the step
    # that needs JSON rejects it.
    assert deaggregate([record], "JSON") == ([record], [0])


def test_json_cap_of_500_sub_records() -> None:  # AGG: "capped at 500 per record"
    at_cap = b"".join(b'{"n":%d}' % i for i in range(MAX_SUB_RECORDS))
    over = at_cap + b'{"n":500}'
    records, sources = deaggregate([at_cap, over], "JSON")
    assert len(records) == MAX_SUB_RECORDS + 1
    assert records[-1] == over and sources[-1] == 1 and sources[:MAX_SUB_RECORDS] == [0] * MAX_SUB_RECORDS


def test_delimited_uses_the_base64_delimiter() -> None:  # AGG: #### is given as IyMjIw==
    assert base64.b64encode(b"####") == b"IyMjIw=="
    records, sources = deaggregate([b"a####b####c", b"d", b"e####"], "DELIMITED", "IyMjIw==")
    assert records == [b"a", b"b", b"c", b"d", b"e"]
    assert sources == [0, 0, 0, 1, 2]


def test_delimited_drops_empty_pieces_and_honours_the_cap() -> None:
    many = b"|".join(b"x" for _ in range(MAX_SUB_RECORDS + 1))
    records, sources = deaggregate([b"|a||b|", many], "Delimited", base64.b64encode(b"|").decode())
    assert records == [b"a", b"b", many]
    assert sources == [0, 0, 1]


@pytest.mark.parametrize("delimiter", [None, "", "not base64!", "===="])
def test_delimited_needs_a_valid_base64_delimiter(delimiter: str | None) -> None:
    with pytest.raises(ProcessorParameterInvalid) as e:
        deaggregate([b"a"], "DELIMITED", delimiter)
    assert e.value.parameter == "Delimiter"


def test_unknown_sub_record_type() -> None:
    with pytest.raises(ProcessorParameterInvalid):
        deaggregate([b"a"], "CSV")


# --- MetadataExtraction (jq) -------------------------------------------------------------------

KEYS_SAMPLE = (b'{"type": {"device": "mobile", "event": "user_clicked_submit_button"}, '
               b'"customer_id": "1234567890", "event_timestamp": 1565382027, "region": "sample_region"}')
KEYS_QUERY = ('{customer_id:.customer_id, device:.type.device, year:.event_timestamp|strftime("%Y"), '
              'month:.event_timestamp|strftime("%m"), day:.event_timestamp|strftime("%d"), '
              'hour:.event_timestamp|strftime("%H")}')


def test_the_documented_example() -> None:  # KEYS: sample record and its jq table
    keys, errors = extract_partition_keys([KEYS_SAMPLE], KEYS_QUERY)
    assert errors == [None]
    assert keys == [{"customer_id": "1234567890", "device": "mobile", "year": "2019", "month": "08",
                     "day": "09", "hour": "20"}]


@pytest.mark.parametrize("fast_path", [True, False])
def test_values_are_stringified_as_jq_prints_them(fast_path: bool) -> None:
    record = b'{"s":"x","i":2024,"f":1.5,"whole":7.0,"t":true,"n":{"k":"v"}}'
    keys, errors = extract_partition_keys([record], '{s, i: .i, f: .f, whole: .whole, t: .t, k: .n.k}',
                                          fast_path=fast_path)
    assert errors == [None]
    assert keys == [{"s": "x", "i": "2024", "f": "1.5", "whole": "7", "t": "true", "k": "v"}]


@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize("record", [b'{"customer_id": null}', b"{}", b'{"customer_id": ""}'])
def test_null_missing_or_empty_key_fails_the_record(record: bytes, fast_path: bool) -> None:
    keys, errors = extract_partition_keys([record], "{customer_id: .customer_id}", fast_path=fast_path)
    assert keys == [None]
    assert errors == [MSG_NULL_KEY]


@pytest.mark.parametrize("record", [b"not json", b'{"a":1}{"a":2}', b"", b"\xff"])
def test_non_json_records_fail(record: bytes) -> None:
    for fast_path in (True, False):
        assert extract_partition_keys([record], "{a: .a}", fast_path=fast_path) == ([None], [MSG_NON_JSON])


@pytest.mark.parametrize("fast_path", [True, False])
def test_indexing_a_scalar_fails_the_record(fast_path: bool) -> None:
    keys, errors = extract_partition_keys([b"5", b'{"a": "x"}'], "{b: .a.b}", fast_path=fast_path)
    assert keys == [None, None]
    assert errors[0] is not None and errors[0].startswith("Cannot index number with")
    assert errors[1] is not None and errors[1].startswith("Cannot index string with")


def test_object_or_array_values_fail() -> None:
    keys, errors = extract_partition_keys([b'{"a": {"b": 1}}', b'{"a": [1]}'], "{a: .a}")
    assert keys == [None, None]
    assert all("must be a string, number or boolean" in e for e in errors if e)


def test_query_results_other_than_one_object_fail() -> None:
    for query in (".a", "{a: (.a, .b)}", "empty"):
        keys, errors = extract_partition_keys([b'{"a": "x", "b": "y"}'], query)
        assert keys == [None] and errors[0] is not None


def test_jq_runtime_errors_stay_with_their_record() -> None:
    records = [KEYS_SAMPLE, b'{"customer_id": "c", "event_timestamp": "soon"}', KEYS_SAMPLE]
    keys, errors = extract_partition_keys(records, KEYS_QUERY)
    assert keys[0] == keys[2] and keys[0] is not None
    assert keys[1] is None and errors[1]


def test_numbers_jq_reads_but_orjson_does_not() -> None:
    records = [b'{"a": 123456789012345678901234567890}', b'{"a": NaN}', b'{"a": "ok"}']
    for fast_path in (True, False):
        keys, errors = extract_partition_keys(records, "{a: .a}", fast_path=fast_path)
        assert keys[0] is not None and keys[2] == {"a": "ok"}
        assert errors[1] == MSG_NULL_KEY  # jq has no NaN: it is null


@pytest.mark.parametrize("query", ["{a: .a", "{a: .a | nosuchfunction}", ""])
def test_invalid_query_is_a_parameter_error(query: str) -> None:
    with pytest.raises(ProcessorParameterInvalid) as e:
        extract_partition_keys([b"{}"], query)
    assert e.value.parameter == "MetadataExtractionQuery"


def test_query_with_a_trailing_comment() -> None:
    assert extract_partition_keys([b'{"a":1}'], "{a: .a} # the key", fast_path=False) == ([{"a": "1"}], [None])


def test_fast_path_agrees_with_jq() -> None:
    records = [encode(t) for t in itertools.islice(transactions(), 300)]
    records += [b'{"Country": null}', b'{"Country": 3, "Customer_ID": {"x": 1}}', b"[1, 2]", b'"s"', b"null",
                b'{"Customer_ID": true, "Country": "UK", "Invoice": 1e3}', b"nope"]
    for query in ("{customer_id:.Customer_ID, country:.Country}", '{"c": .Country, Invoice}',
                  "{ nested : .Invoice.deep.er }"):
        fast = extract_partition_keys(records, query, fast_path=True)
        slow = extract_partition_keys(records, query, fast_path=False)
        assert fast[0] == slow[0], query
        assert [e is None for e in fast[1]] == [e is None for e in slow[1]], query


# --- Lambda transform --------------------------------------------------------------------------

def test_transform_event_shape() -> None:  # TRN
    event = transform_event([b"Hello World", b""], [1495072949.453, 1495072950.0], invocation_id="inv-1",
                            delivery_stream_arn="arn:aws:firehose:us-east-1:123456789012:deliverystream/s",
                            region="us-east-1", record_ids=["r0", "r1"])
    assert event == {
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/s",
        "region": "us-east-1",
        "records": [{"recordId": "r0", "approximateArrivalTimestamp": 1495072949453, "data": "SGVsbG8gV29ybGQ="},
                    {"recordId": "r1", "approximateArrivalTimestamp": 1495072950000, "data": ""}],
    }
    assert orjson.loads(orjson.dumps(event)) == event


def test_transform_event_from_a_kinesis_stream() -> None:
    meta = {"shardId": "shardId-000000000000", "partitionKey": "p", "approximateArrivalTimestamp": 1,
            "sequenceNumber": "49", "subsequenceNumber": 0}
    event = transform_event([b"x"], [1.0], invocation_id="i", delivery_stream_arn="arn:f", region="eu-west-1",
                            record_ids=["r"], source_kinesis_stream_arn="arn:k", kinesis_record_metadata=[meta])
    assert event["sourceKinesisStreamArn"] == "arn:k"
    assert event["records"][0]["kinesisRecordMetadata"] == meta


def _answer(*entries: dict) -> bytes:
    return orjson.dumps({"records": list(entries)})


def _ok(rid: str, data: bytes, **extra: object) -> dict:
    return {"recordId": rid, "result": "Ok", "data": base64.b64encode(data).decode(), **extra}


def test_valid_response_in_input_order() -> None:  # REQ
    answer = _answer({"recordId": "r2", "result": "ProcessingFailed"}, _ok("r0", b"zero"),
                     {"recordId": "r1", "result": "Dropped", "data": ""},
                     {"recordId": "stray", "result": "Ok", "data": ""})  # ids the batch never carried: ignored
    outcome = parse_transform_response(answer, ["r0", "r1", "r2"])
    assert isinstance(outcome, TransformOutcome)
    assert [(r.record_id, r.result, r.data) for r in outcome.records] == [
        ("r0", "Ok", b"zero"), ("r1", "Dropped", None), ("r2", "ProcessingFailed", None)]
    assert outcome.indexes("Ok") == [0]


def test_response_as_text_or_as_decoded_json() -> None:
    answer = _answer(_ok("r0", b"x"))
    for form in (answer, answer.decode(), orjson.loads(answer)):
        assert parse_transform_response(form, ["r0"]).records[0].data == b"x"


def test_ok_with_empty_data_is_an_empty_record() -> None:
    assert parse_transform_response(_answer(_ok("r0", b"")), ["r0"]).records[0].data == b""


def test_partition_keys_from_lambda_metadata() -> None:
    answer = _answer(_ok("r0", b"x", metadata={"partitionKeys": {"customer_id": "c1", "year": 2024, "x": None}}),
                     _ok("r1", b"y"))
    outcome = parse_transform_response(answer, ["r0", "r1"])
    assert outcome.records[0].partition_keys == {"customer_id": "c1", "year": "2024"}
    assert outcome.records[1].partition_keys is None


MALFORMED = {
    "not JSON": (b"{oops", processors.JSON_PROCESSING_EXCEPTION),
    "not an object": (b"[]", processors.JSON_PROCESSING_EXCEPTION),
    "records not a list": (b'{"records": {}}', processors.JSON_PROCESSING_EXCEPTION),
    "record not an object": (_answer("r0"), processors.JSON_PROCESSING_EXCEPTION),  # type: ignore[arg-type]
    "recordId missing": (_answer({"result": "Ok", "data": ""}), processors.JSON_PROCESSING_EXCEPTION),
    "recordId not a string": (_answer({"recordId": 0, "result": "Ok", "data": ""}),
                              processors.JSON_PROCESSING_EXCEPTION),
    "data not a string": (_answer({"recordId": "r0", "result": "Ok", "data": 5}),
                          processors.JSON_PROCESSING_EXCEPTION),
    "partitionKeys not an object": (_answer(_ok("r0", b"", metadata={"partitionKeys": ["a"]})),
                                    processors.JSON_PROCESSING_EXCEPTION),
    "partition key value an object": (_answer(_ok("r0", b"", metadata={"partitionKeys": {"a": {}}})),
                                      processors.JSON_PROCESSING_EXCEPTION),
    "no records": (b"{}", processors.FUNCTION_ERROR),
    "result missing": (_answer({"recordId": "r0", "data": ""}), processors.FUNCTION_ERROR),
    "result unknown": (_answer({"recordId": "r0", "result": "OK", "data": ""}), processors.FUNCTION_ERROR),
    "Ok without data": (_answer({"recordId": "r0", "result": "Ok"}), processors.FUNCTION_ERROR),
    "data not base64": (_answer({"recordId": "r0", "result": "Ok", "data": "a b!"}), processors.FUNCTION_ERROR),
    "duplicated id": (_answer(_ok("r0", b""), _ok("r0", b"")), processors.DUPLICATED_RECORD_ID),
    "missing id": (_answer(_ok("other", b"")), processors.MISSING_RECORD_ID),
    "no answers at all": (b'{"records": []}', processors.MISSING_RECORD_ID),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_response_fails_the_whole_invocation(case: str) -> None:
    answer, code = MALFORMED[case]
    with pytest.raises(TransformResponseInvalid) as e:
        parse_transform_response(answer, ["r0"])
    assert e.value.code == code
    assert str(e.value)


def test_error_messages_are_the_services() -> None:
    with pytest.raises(TransformResponseInvalid) as e:
        parse_transform_response(_answer(_ok("r0", b""), _ok("r0", b"")), ["r0"])
    assert str(e.value).startswith("Multiple records were returned with the same record Id. Ensure that the "
                                   "Lambda function returns a unique record Id for each record.")


# --- Error records -----------------------------------------------------------------------------

def test_processing_failed_record_fields() -> None:  # FAIL
    line = error_record(b'{"a":1}', 1575019718.303, 4, "Lambda.FunctionError", "boom", 1575019781.231,
                        "arn:aws:lambda:us-east-1:123456789012:function:f")
    assert b"\n" not in line
    assert orjson.loads(line) == {
        "attemptsMade": 4, "arrivalTimestamp": 1575019718303, "errorCode": "Lambda.FunctionError",
        "errorMessage": "boom", "attemptEndingTimestamp": 1575019781231,
        "rawData": base64.b64encode(b'{"a":1}').decode(),
        "lambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}
    assert list(orjson.loads(line)) == ["attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage",
                                        "attemptEndingTimestamp", "rawData", "lambdaArn"]


def test_partitioning_failure_record_has_no_lambda_arn() -> None:
    doc = orjson.loads(partitioning_error_record(b"x", 10.0, MSG_NULL_KEY, 11.0))
    assert doc == {"attemptsMade": 1, "arrivalTimestamp": 10000, "errorCode": processors.METADATA_EXTRACTION_FAILED,
                   "errorMessage": MSG_NULL_KEY, "attemptEndingTimestamp": 11000, "rawData": "eA=="}
    assert "lambdaArn" not in orjson.loads(error_record(b"x", 1, 1, "c", "m", 2, None))


def test_format_conversion_failure_record_fields() -> None:  # FMT
    table = {"catalogId": "123456789012", "databaseName": "db", "tableName": "t", "region": "us-east-1",
             "versionId": "0", "catalogArn": "arn:aws:glue:us-east-1:123456789012:catalog"}
    doc = orjson.loads(format_conversion_error_record(
        b"nope", 1.5, "DataFormatConversion.ParseError", "Encountered malformed JSON.", 2.0,
        sequence_number="4967", sub_sequence_number=0, data_catalog_table=table))
    assert doc == {"attemptsMade": 1, "arrivalTimestamp": 1500, "lastErrorCode": "DataFormatConversion.ParseError",
                   "lastErrorMessage": "Encountered malformed JSON.", "attemptEndingTimestamp": 2000,
                   "rawData": "bm9wZQ==", "sequenceNumber": "4967", "subSequenceNumber": 0,
                   "dataCatalogTable": table}
    plain = orjson.loads(format_conversion_error_record(b"", 1.0, "c", "m", 1.0))
    assert set(plain) == {"attemptsMade", "arrivalTimestamp", "lastErrorCode", "lastErrorMessage",
                          "attemptEndingTimestamp", "rawData"}
