"""Event source mappings when the function fails: bisection isolates a poison record, retries end in
the OnFailure destination, timeouts count as errors, partial batch responses, record age.

Pinned by docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html (invocation
record, S3 object naming) and services-kinesis-batchfailurereporting.html (partial batch response).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson
import pytest

from mapping_support import calls, delivered, make_function, wait_for
from tidelake.clock import ManualClock
from tidelake.config import Settings
from tidelake.functions.mappings import DestinationConfig, OnFailure, StartingPosition
from tidelake.platform import Platform
from tidelake.stream.models import IteratorType

POISON = '''
def lambda_handler(event, context):
    record(event)
    if any(base64.b64decode(r["kinesis"]["data"]) == b"poison" for r in event["Records"]):
        raise ValueError("poison record")
'''


@pytest.fixture
def platform(settings_factory: Callable[..., Settings], clock: ManualClock) -> Iterator[Platform]:
    with Platform(settings_factory(mapping_poll_seconds=0.01), clock) as platform:
        yield platform


def _put(platform: Platform, stream: str, values: list[str]) -> list[str]:
    result = platform.streams.put_records(stream, [v.encode() for v in values], values)
    return [n for n in result.sequence_numbers if n is not None]


def _map(platform: Platform, stream: str, function: str, destination: str | None = None, **options: Any) -> str:
    return platform.mappings.create_event_source_mapping(
        platform.streams.stream_arn(stream), function, starting_position=StartingPosition.TRIM_HORIZON,
        destination_config=DestinationConfig(OnFailure(destination)) if destination else None, **options).uuid


def _failure_objects(platform: Platform, bucket: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for item in platform.objects.list_objects(bucket).objects:
        found.append((item.key, orjson.loads(platform.objects.get_object(bucket, item.key)[1])))
    return found


def _stream_documents(platform: Platform, stream: str) -> list[dict[str, Any]]:
    iterator = platform.streams.get_shard_iterator(stream, "shardId-000000000000", IteratorType.TRIM_HORIZON)
    return [orjson.loads(r.data) for r in platform.streams.get_records(iterator).records]


def test_bisect_isolates_the_poison_record_and_sends_it_to_s3(platform: Platform, tmp_path: Path,
                                                              clock: ManualClock) -> None:
    out = make_function(platform, tmp_path, "picky", POISON)
    platform.objects.create_bucket("failures")
    platform.streams.create_stream("poisoned", 1)
    values = [f"good-{i}" for i in range(7)] + ["poison"] + [f"good-{i}" for i in range(7, 12)]
    numbers = _put(platform, "poisoned", values)
    uuid = _map(platform, "poisoned", "picky", "arn:aws:s3:::failures", batch_size=13,
                bisect_batch_on_function_error=True, maximum_retry_attempts=1)
    [(key, document)] = wait_for(lambda: _failure_objects(platform, "failures"), what="the invocation record")
    good = [v for v in values if v != "poison"]
    wait_for(lambda: set(good) <= set(_succeeded(out)), what="every good record")
    # Halving 13 -> 6/7 -> 3/4 -> 2/2 -> 1/1 ends with the poison record alone, tried twice (one retry).
    alone = [call for call in calls(out) if [r[3] for r in call["records"]] == ["poison"]]
    assert len(alone) == 2
    assert key.startswith(f"aws/lambda/{uuid}/shardId-000000000000/") and len(key.split("/")) == 8
    info = document["KinesisBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"] == numbers[7]
    assert info["shardId"] == "shardId-000000000000"
    assert info["streamArn"] == platform.streams.stream_arn("poisoned")
    assert document["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert document["requestContext"]["functionArn"] == platform.functions.function_arn("picky")
    assert document["requestContext"]["approximateInvokeCount"] == 6  # 4 halvings + 2 attempts alone
    assert document["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                           "functionError": "Unhandled"}
    assert document["version"] == "1.0" and document["timestamp"].endswith("Z")
    payload = orjson.loads(document["payload"])  # the whole event, as an escaped JSON string
    assert [r["kinesis"]["sequenceNumber"] for r in payload["Records"]] == [numbers[7]]
    # The checkpoint moved on: what comes next is processed.
    _put(platform, "poisoned", ["later"])
    wait_for(lambda: "later" in delivered(out))
    assert platform.mappings.get_event_source_mapping(uuid).last_processing_result == "OK"


def _succeeded(out: Path) -> list[str]:
    """Records of invocations that did not fail (no poison in them)."""
    return [r[3] for call in calls(out) if all(r[3] != "poison" for r in call["records"]) for r in call["records"]]


def test_without_bisect_the_whole_batch_goes_to_a_stream_destination(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "picky", POISON)
    platform.streams.create_stream("source", 1)
    platform.streams.create_stream("dead-letters", 1)
    numbers = _put(platform, "source", ["a", "poison", "b"])
    _map(platform, "source", "picky", platform.streams.stream_arn("dead-letters"), batch_size=3,
         maximum_retry_attempts=2)
    [document] = wait_for(lambda: _stream_documents(platform, "dead-letters"), what="the invocation record")
    assert len(calls(out)) == 3  # one attempt and two retries
    info = document["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (numbers[0], numbers[2], 3)
    assert document["requestContext"]["approximateInvokeCount"] == 3
    assert "payload" not in document  # a message destination gets the metadata, like SQS and SNS
    _put(platform, "source", ["c"])
    wait_for(lambda: "c" in delivered(out))


def test_a_hanging_function_times_out_and_its_batch_is_discarded(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "hangs", '''
def lambda_handler(event, context):
    if any(base64.b64decode(r["kinesis"]["data"]) == b"hang" for r in event["Records"]):
        time.sleep(600)
    record(event)
''', timeout=1)
    platform.objects.create_bucket("timeouts")
    platform.streams.create_stream("stuck", 1)
    numbers = _put(platform, "stuck", ["before", "hang", "after"])
    _map(platform, "stuck", "hangs", "arn:aws:s3:::timeouts", batch_size=1, maximum_retry_attempts=0)
    wait_for(lambda: delivered(out) == ["before", "after"], what="the records around the hanging one")
    [(_, document)] = _failure_objects(platform, "timeouts")
    assert document["KinesisBatchInfo"]["startSequenceNumber"] == numbers[1]
    assert document["responseContext"]["functionError"] == "Unhandled"
    assert document["requestContext"]["approximateInvokeCount"] == 1


def test_report_batch_item_failures_retries_from_the_lowest_failed_record(platform: Platform,
                                                                          tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "partial", '''
def lambda_handler(event, context):
    record(event)
    marker = os.environ["OUT"] + ".failed"
    failed = [r["kinesis"]["sequenceNumber"] for r in event["Records"]
              if base64.b64decode(r["kinesis"]["data"]) in (b"r3", b"r6")]
    if failed and not os.path.exists(marker):
        open(marker, "w").close()
        return {"batchItemFailures": [{"itemIdentifier": s} for s in reversed(failed)]}
    return {"batchItemFailures": []}
''')
    platform.streams.create_stream("partial", 1)
    _put(platform, "partial", [f"r{i}" for i in range(10)])
    _map(platform, "partial", "partial", batch_size=10, function_response_types=["ReportBatchItemFailures"])
    wait_for(lambda: len(calls(out)) >= 2)
    time.sleep(0.2)
    first, second = [[r[3] for r in call["records"]] for call in calls(out)]
    assert first == [f"r{i}" for i in range(10)]
    assert second == [f"r{i}" for i in range(3, 10)]  # r0..r2 succeeded and are not sent again


def test_an_unknown_item_identifier_fails_the_whole_batch(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "confused", '''
def lambda_handler(event, context):
    record(event)
    if len(open(os.environ["OUT"]).readlines()) == 1:
        return {"batchItemFailures": [{"itemIdentifier": "not-a-sequence-number"}]}
''')
    platform.streams.create_stream("confused", 1)
    _put(platform, "confused", ["x", "y"])
    _map(platform, "confused", "confused", function_response_types=["ReportBatchItemFailures"])
    wait_for(lambda: len(calls(out)) >= 2)
    assert [[r[3] for r in call["records"]] for call in calls(out)][:2] == [["x", "y"], ["x", "y"]]


def test_records_older_than_the_maximum_age_are_discarded(platform: Platform, tmp_path: Path,
                                                          clock: ManualClock) -> None:
    out = make_function(platform, tmp_path, "broken", '''
def lambda_handler(event, context):
    record(event)
    raise RuntimeError("always")
''')
    platform.objects.create_bucket("aged")
    platform.streams.create_stream("aging", 1)
    _put(platform, "aging", ["old"])
    uuid = _map(platform, "aging", "broken", "arn:aws:s3:::aged", maximum_record_age_in_seconds=60)
    wait_for(lambda: len(calls(out)) >= 2, what="retries")  # retried: -1 means no limit on attempts
    assert platform.mappings.get_event_source_mapping(uuid).last_processing_result == \
        "PROBLEM: Function call failed"
    clock.advance(61)
    [(_, document)] = wait_for(lambda: _failure_objects(platform, "aged"), what="the expired batch")
    assert document["requestContext"]["condition"] == "RecordAgeExceeded"
    assert document["requestContext"]["approximateInvokeCount"] >= 2
    attempts = len(calls(out))
    time.sleep(0.3)
    assert len(calls(out)) == attempts  # given up
