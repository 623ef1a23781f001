"""What an event source mapping hands to functions and to OnFailure destinations, as Lambda shapes them.

``kinesis_event`` builds the Kinesis event a function receives straight from a batch's columns: one
small dict per record and one orjson call (about 1 ms per 1,000 records), never a Record object.
``invocation_record`` is the document Lambda sends to an on-failure destination for a discarded
batch (docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
"""
from __future__ import annotations

import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

import orjson

from tidelake.stream.log import Columns

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's limit on a synchronous invocation's request


@dataclass(frozen=True, slots=True)
class EventSource:
    """What every record of one shard's events repeats."""

    stream_arn: str
    shard_id: str
    region: str
    role: str  # the function's execution role: the event's invokeIdentityArn


@dataclass(frozen=True, slots=True)
class Failure:
    """The last outcome of a discarded batch, for its invocation record."""

    condition: str  # RetryAttemptsExhausted | RecordAgeExceeded
    invoke_count: int
    request_id: str | None = None  # None when the batch was never invoked
    status_code: int = 200
    function_error: str | None = None
    executed_version: str = "$LATEST"


def kinesis_event(source: EventSource, columns: Columns, sequence_numbers: Sequence[str],
                  indexes: Sequence[int]) -> bytes:
    """The event for the records at ``indexes`` of ``columns`` (in that order)."""
    b64 = binascii.b2a_base64
    data, keys, arrivals = columns.data, columns.partition_keys, columns.arrivals
    prefix = source.shard_id + ":"
    arn, region, role = source.stream_arn, source.region, source.role
    records = [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": keys[i].decode(),
            "sequenceNumber": sequence_numbers[i],
            "data": b64(data[i], newline=False).decode(),
            "approximateArrivalTimestamp": arrivals[i],
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": prefix + sequence_numbers[i],
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role,
        "awsRegion": region,
        "eventSourceARN": arn,
    } for i in indexes]
    return orjson.dumps({"Records": records})


def invocation_record(source: EventSource, function_arn: str, failure: Failure, columns: Columns,
                      sequence_numbers: Sequence[str], indexes: Sequence[int], now: float,
                      event: bytes | None = None) -> bytes:
    """The JSON document for a discarded batch. ``event`` (the whole event, given for S3 destinations)
    becomes the ``payload`` member, as an escaped JSON string like Lambda writes it."""
    first, last = indexes[0], indexes[-1]
    response = {"statusCode": failure.status_code, "executedVersion": failure.executed_version}
    if failure.function_error is not None:
        response["functionError"] = failure.function_error
    document: dict[str, object] = {
        "requestContext": {
            "requestId": failure.request_id or str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": failure.condition,
            "approximateInvokeCount": failure.invoke_count,
        },
    }
    if failure.request_id is not None:
        document["responseContext"] = response
    document.update({
        "version": "1.0",
        "timestamp": iso_millis(now),
        "KinesisBatchInfo": {
            "shardId": source.shard_id,
            "startSequenceNumber": sequence_numbers[first],
            "endSequenceNumber": sequence_numbers[last],
            "approximateArrivalOfFirstRecord": iso_millis(columns.arrivals[first]),
            "approximateArrivalOfLastRecord": iso_millis(columns.arrivals[last]),
            "batchSize": len(indexes),
            "streamArn": source.stream_arn,
        },
    })
    if event is not None:
        document["payload"] = event.decode()
    return orjson.dumps(document)


def failure_object_key(mapping_uuid: str, shard_id: str, now: float) -> str:
    """``aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>``, Lambda's naming."""
    moment = datetime.fromtimestamp(now, timezone.utc)
    return (f"aws/lambda/{mapping_uuid}/{shard_id}/{moment:%Y/%m/%d}/{moment:%Y-%m-%dT%H.%M.%S}-"
            f"{uuid.uuid4()}")


def iso_millis(seconds: float) -> str:
    """``2019-11-14T00:38:04.835Z``."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
