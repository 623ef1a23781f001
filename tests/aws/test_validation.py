"""Input validation compiled from botocore shapes: the column-at-a-time path for PutRecords' entries
must accept, convert and refuse exactly as the entry-by-entry path does."""
from __future__ import annotations

import base64
import copy

import pytest

from tidelake.aws.protocol import validate
from tidelake.errors import MalformedRequest, ValidationFailed


def entries(n: int = 500) -> list[dict]:
    return [{"Data": base64.b64encode(f"record {i}".encode()).decode(), "PartitionKey": f"pk-{i}"} for i in range(n)]


def both_paths(params: dict, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """The outcome (converted input, or the error's type and message) with and without columns."""
    def run() -> object:
        validate.input_checker.cache_clear()
        try:
            return validate.parse_input("kinesis", "PutRecords", copy.deepcopy(params))
        except (ValidationFailed, MalformedRequest) as error:
            return type(error), error.message
    columns = run()
    monkeypatch.setattr(validate, "_columns", lambda shape: None)
    entry_by_entry = run()
    validate.input_checker.cache_clear()
    return columns, entry_by_entry


def test_valid_entries_are_decoded_column_by_column(monkeypatch):
    params = {"StreamName": "s", "Records": entries()}
    params["Records"][7]["ExplicitHashKey"] = "12345"
    columns, entry_by_entry = both_paths(params, monkeypatch)
    assert columns == entry_by_entry
    assert columns["Records"][3] == {"Data": b"record 3", "PartitionKey": "pk-3"}
    assert columns["Records"][7]["ExplicitHashKey"] == "12345"


@pytest.mark.parametrize("field, value", [
    ("PartitionKey", "k" * 257),         # too long
    ("PartitionKey", ""),                # too short
    ("PartitionKey", 42),                # not a string
    ("ExplicitHashKey", "01"),           # fails the pattern
    ("Data", None),                      # required
    ("Data", "not*base64!"),             # not base64
])
def test_a_bad_entry_is_refused_with_the_entry_by_entry_message(monkeypatch, field, value):
    params = {"StreamName": "s", "Records": entries()}
    params["Records"][41][field] = value
    columns, entry_by_entry = both_paths(params, monkeypatch)
    assert columns == entry_by_entry
    assert isinstance(columns, tuple), columns  # refused
    if columns[0] is ValidationFailed:
        assert "records.42.member" in columns[1]
