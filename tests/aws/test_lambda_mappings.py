"""Lambda event source mappings (Kinesis) through boto3 and the AWS CLI against a real server.

Pinned by docs.aws.amazon.com/lambda/latest/api/: API_CreateEventSourceMapping (members, defaults,
202 and State Creating), API_ListEventSourceMappings (filters, Marker/MaxItems),
API_UpdateEventSourceMapping, API_DeleteEventSourceMapping (State Deleting), and the error codes
each lists; with-kinesis.html for the pipeline a mapping runs.
"""
from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from datetime import datetime
from typing import Any, Callable

import pytest

from support import ServerProcess, aws, aws_error, error_code, ok, zipped

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
NOOP = """
def lambda_handler(event, context):
    return {"records": len(event["Records"])}
"""
# The seed's speed layer in miniature: count each batch's records per key into a DynamoDB table.
COUNTER = """
import base64, collections, json, os
import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])

def lambda_handler(event, context):
    counts = collections.Counter(json.loads(base64.b64decode(r["kinesis"]["data"]))["product"]
                                 for r in event["Records"])
    for product, count in counts.items():
        table.update_item(Key={"product": product}, UpdateExpression="ADD sold :n",
                          ExpressionAttributeValues={":n": count})
"""
_names = itertools.count()


@pytest.fixture
def lam(server: ServerProcess) -> Any:
    return server.client("lambda")


@pytest.fixture
def names(request: pytest.FixtureRequest) -> Callable[[], str]:
    def make() -> str:
        name = f"{request.node.name[:40]}-{next(_names)}"
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
    return make


@pytest.fixture
def function_factory(lam: Any, names: Callable[[], str]) -> Callable[..., str]:
    def make(source: str = NOOP, **kwargs: Any) -> str:
        name = names()
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="handler.lambda_handler",
                            Code={"ZipFile": zipped(source)}, **kwargs)
        return name
    return make


def _arn(kinesis: Any, stream: str) -> str:
    return kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]


def test_create_get_list_update_delete(lam: Any, kinesis: Any, stream_factory: Callable[..., str],
                                       function_factory: Callable[..., str]) -> None:
    stream_arn = _arn(kinesis, stream_factory())
    function = function_factory()
    created = lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function,
                                              StartingPosition="LATEST")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    uuid = created["UUID"]
    function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function}"
    assert {k: created[k] for k in ("EventSourceArn", "FunctionArn", "StartingPosition", "BatchSize",
                                    "MaximumBatchingWindowInSeconds", "ParallelizationFactor",
                                    "BisectBatchOnFunctionError", "MaximumRetryAttempts",
                                    "MaximumRecordAgeInSeconds", "State", "StateTransitionReason",
                                    "LastProcessingResult", "EventSourceMappingArn")} == {
        "EventSourceArn": stream_arn, "FunctionArn": function_arn, "StartingPosition": "LATEST", "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0, "ParallelizationFactor": 1, "BisectBatchOnFunctionError": False,
        "MaximumRetryAttempts": -1, "MaximumRecordAgeInSeconds": -1, "State": "Creating",
        "StateTransitionReason": "User action", "LastProcessingResult": "No records processed",
        "EventSourceMappingArn": f"arn:aws:lambda:us-east-1:000000000000:event-source-mapping:{uuid}"}
    assert isinstance(created["LastModified"], datetime)

    got = lam.get_event_source_mapping(UUID=uuid)
    assert got["State"] == "Enabled" and got["ResponseMetadata"]["HTTPStatusCode"] == 200
    listed = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uuid]
    assert [m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=stream_arn)["EventSourceMappings"]] == \
        [uuid]

    updated = lam.update_event_source_mapping(
        UUID=uuid, BatchSize=500, MaximumBatchingWindowInSeconds=2, MaximumRetryAttempts=3,
        MaximumRecordAgeInSeconds=3600, BisectBatchOnFunctionError=True, ParallelizationFactor=4,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        DestinationConfig={"OnFailure": {"Destination": stream_arn}})
    assert updated["State"] == "Updating"
    got = lam.get_event_source_mapping(UUID=uuid)
    assert (got["State"], got["BatchSize"], got["MaximumRetryAttempts"], got["ParallelizationFactor"],
            got["FunctionResponseTypes"], got["DestinationConfig"]) == (
        "Enabled", 500, 3, 4, ["ReportBatchItemFailures"], {"OnFailure": {"Destination": stream_arn}})
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == "Disabling"
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    cleared = lam.update_event_source_mapping(UUID=uuid, DestinationConfig={"OnFailure": {"Destination": ""}})
    assert cleared["DestinationConfig"] == {}

    deleted = lam.delete_event_source_mapping(UUID=uuid)
    assert (deleted["State"], deleted["ResponseMetadata"]["HTTPStatusCode"]) == ("Deleting", 202)
    with aws_error("ResourceNotFoundException"):
        lam.get_event_source_mapping(UUID=uuid)


def test_errors_carry_lambda_codes(lam: Any, kinesis: Any, stream_factory: Callable[..., str],
                                   function_factory: Callable[..., str]) -> None:
    stream_arn = _arn(kinesis, stream_factory())
    function = function_factory()
    with aws_error("InvalidParameterValueException", "StartingPosition"):
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function)
    with aws_error("InvalidParameterValueException", "Stream not found"):
        lam.create_event_source_mapping(EventSourceArn=stream_arn + "-missing", FunctionName=function,
                                        StartingPosition="LATEST")
    with aws_error("ResourceNotFoundException", "Function not found"):
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName="no-such-function",
                                        StartingPosition="LATEST")
    with aws_error("ValidationException", "batchSize"):
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function,
                                        StartingPosition="LATEST", BatchSize=10_001)
    with aws_error("InvalidParameterValueException", "MaximumRecordAgeInSeconds"):
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function,
                                        StartingPosition="LATEST", MaximumRecordAgeInSeconds=30)
    with aws_error("InvalidParameterValueException", "StartingPositionTimestamp"):
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function,
                                        StartingPosition="AT_TIMESTAMP")
    with aws_error("InvalidParameterValueException", "does not exist"):
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function, StartingPosition="LATEST",
                                        DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::no-bucket"}})
    uuid = lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function,
                                           StartingPosition="TRIM_HORIZON")["UUID"]
    with aws_error("ResourceConflictException", "provided mapping already exists", uuid):
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function,
                                        StartingPosition="LATEST")
    missing = "a1b2c3d4-0000-4000-8000-000000000000"
    for call in (lam.get_event_source_mapping, lam.delete_event_source_mapping):
        with aws_error("ResourceNotFoundException"):
            call(UUID=missing)
    with aws_error("ResourceNotFoundException"):
        lam.update_event_source_mapping(UUID=missing, BatchSize=10)
    with aws_error("ResourceNotFoundException", "Function not found"):
        lam.update_event_source_mapping(UUID=uuid, FunctionName="no-such-function")


def test_list_pages_with_marker(lam: Any, kinesis: Any, stream_factory: Callable[..., str],
                                function_factory: Callable[..., str]) -> None:
    stream_arn = _arn(kinesis, stream_factory())
    created = {lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=function_factory(),
                                               StartingPosition="LATEST")["UUID"] for _ in range(3)}
    seen, marker = [], None
    while True:
        page = lam.list_event_source_mappings(EventSourceArn=stream_arn, MaxItems=2,
                                              **({"Marker": marker} if marker else {}))
        assert len(page["EventSourceMappings"]) <= 2
        seen += [m["UUID"] for m in page["EventSourceMappings"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert sorted(seen) == sorted(created)
    paginated = lam.get_paginator("list_event_source_mappings").paginate(EventSourceArn=stream_arn,
                                                                        PaginationConfig={"PageSize": 1})
    assert sorted(m["UUID"] for page in paginated for m in page["EventSourceMappings"]) == sorted(created)


def test_aws_cli_creates_and_lists_a_mapping(server: ServerProcess, kinesis: Any, stream_factory: Callable[..., str],
                                             function_factory: Callable[..., str]) -> None:
    stream_arn = _arn(kinesis, stream_factory())
    function = function_factory()
    created = json.loads(ok(aws(server.url, "lambda", "create-event-source-mapping", "--function-name", function,
                                "--event-source-arn", stream_arn, "--starting-position", "TRIM_HORIZON",
                                "--batch-size", "10", "--maximum-retry-attempts", "2")))
    assert (created["BatchSize"], created["MaximumRetryAttempts"], created["State"]) == (10, 2, "Creating")
    listed = json.loads(ok(aws(server.url, "lambda", "list-event-source-mappings", "--function-name", function)))
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [created["UUID"]]
    assert error_code(aws(server.url, "lambda", "get-event-source-mapping", "--uuid",
                          "a1b2c3d4-0000-4000-8000-000000000000")) == "ResourceNotFoundException"


def test_stream_to_function_to_table(server: ServerProcess, lam: Any, kinesis: Any,
                                     stream_factory: Callable[..., str], function_factory: Callable[..., str],
                                     names: Callable[[], str]) -> None:
    """Records put with boto3 reach the function in batches; it counts per product into DynamoDB."""
    dynamodb = server.client("dynamodb")
    table = names()
    dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "product", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "product", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    stream = stream_factory(shards=2)
    function = function_factory(COUNTER, Environment={"Variables": {"TABLE": table}}, Timeout=30)
    uuid = lam.create_event_source_mapping(EventSourceArn=_arn(kinesis, stream), FunctionName=function,
                                           StartingPosition="TRIM_HORIZON", BatchSize=50)["UUID"]
    sales = [f"product-{i % 7}" for i in range(400)]
    for start in range(0, len(sales), 200):
        kinesis.put_records(StreamName=stream, Records=[
            {"Data": json.dumps({"product": p, "n": start + i}).encode(), "PartitionKey": f"customer-{i % 13}"}
            for i, p in enumerate(sales[start:start + 200])])
    expected = Counter(sales)

    def counts() -> dict[str, int]:
        items = dynamodb.scan(TableName=table)["Items"]
        return {item["product"]["S"]: int(item["sold"]["N"]) for item in items}
    deadline = time.monotonic() + 60
    while counts() != expected:
        assert time.monotonic() < deadline, counts()
        time.sleep(0.1)
    assert lam.get_event_source_mapping(UUID=uuid)["LastProcessingResult"] == "OK"
