"""The Lambda API (REST-JSON) with boto3 and the AWS CLI against a real server.

Pinned by docs.aws.amazon.com/lambda/latest/api/: API_CreateFunction, API_Invoke (status codes,
X-Amz-Function-Error, X-Amz-Log-Result), API_GetFunction, API_ListFunctions (Marker/MaxItems),
and the error codes each page lists."""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from support import ServerProcess, aws, aws_error, ok, zipped

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
HANDLER = """
import os, sys, time
def lambda_handler(event, context):
    print("event", event)
    if event.get("fail"):
        raise KeyError(event["fail"])
    if event.get("exit"):
        os._exit(1)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"echo": event, "stage": os.environ.get("STAGE"), "name": context.function_name}
"""
_names = itertools.count()


@pytest.fixture
def lam(server: ServerProcess) -> Any:
    return server.client("lambda")


@pytest.fixture
def function_factory(lam: Any, request: pytest.FixtureRequest) -> Callable[..., str]:
    def make(source: str = HANDLER, **kwargs: Any) -> str:
        name = f"{request.node.name[:40]}-{next(_names)}".replace("[", "-").replace("]", "")
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="handler.lambda_handler",
                            Code={"ZipFile": zipped(source)}, **kwargs)
        return name
    return make


def invoke(lam: Any, name: str, event: Any, **kwargs: Any) -> tuple[dict, Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    return response, json.loads(response["Payload"].read())


def test_create_get_list_update_delete(lam: Any) -> None:
    archive = zipped(HANDLER)
    created = lam.create_function(FunctionName="crud-fn", Runtime="python3.11", Role=ROLE,
                                  Handler="handler.lambda_handler", Code={"ZipFile": archive}, Description="d",
                                  Timeout=30, MemorySize=512, Environment={"Variables": {"STAGE": "prod"}},
                                  Tags={"team": "data"}, Publish=True)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:crud-fn"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(archive).digest()).decode()
    assert (created["CodeSize"], created["Timeout"], created["MemorySize"]) == (len(archive), 30, 512)
    assert (created["State"], created["LastUpdateStatus"], created["Version"]) == ("Active", "Successful", "$LATEST")
    assert created["Environment"] == {"Variables": {"STAGE": "prod"}} and created["Role"] == ROLE
    assert len(created["LastModified"]) == 28 and created["LastModified"].endswith("+0000")
    lam.get_waiter("function_active_v2").wait(FunctionName="crud-fn")

    got = lam.get_function(FunctionName="crud-fn")
    assert got["Configuration"] == {k: v for k, v in created.items() if k != "ResponseMetadata"}
    assert got["Tags"] == {"team": "data"} and got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as download:
        assert download.read() == archive
    assert lam.get_function_configuration(FunctionName=created["FunctionArn"])["FunctionName"] == "crud-fn"
    assert "crud-fn" in [f["FunctionName"] for f in lam.list_functions(MaxItems=1000)["Functions"]]

    updated = lam.update_function_configuration(FunctionName="crud-fn", Timeout=60,
                                                Environment={"Variables": {"STAGE": "dev"}},
                                                RevisionId=created["RevisionId"])
    assert updated["Timeout"] == 60 and updated["RevisionId"] != created["RevisionId"]
    lam.get_waiter("function_updated_v2").wait(FunctionName="crud-fn")
    assert invoke(lam, "crud-fn", {})[1]["stage"] == "dev"
    with aws_error("PreconditionFailedException"):
        lam.update_function_configuration(FunctionName="crud-fn", Timeout=5, RevisionId=created["RevisionId"])

    new_code = zipped(HANDLER.replace('"echo"', '"echoed"'))
    code = lam.update_function_code(FunctionName="crud-fn", ZipFile=new_code)
    assert code["CodeSha256"] == base64.b64encode(hashlib.sha256(new_code).digest()).decode()
    lam.get_waiter("function_updated_v2").wait(FunctionName="crud-fn")
    assert "echoed" in invoke(lam, "crud-fn", {})[1]

    deleted = lam.delete_function(FunctionName="crud-fn")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with aws_error("ResourceNotFoundException",
                   "Function not found: arn:aws:lambda:us-east-1:000000000000:function:crud-fn") as info:
        lam.get_function(FunctionName="crud-fn")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_functions_pages(lam: Any, function_factory: Callable[..., str]) -> None:
    names = {function_factory() for _ in range(3)}
    seen, pages, marker = [], 0, None
    while True:
        page = lam.list_functions(MaxItems=2, **({"Marker": marker} if marker else {}))
        seen += [f["FunctionName"] for f in page["Functions"]]
        pages += 1
        marker = page.get("NextMarker")
        if not marker:
            break
    assert names <= set(seen) and len(seen) == len(set(seen)) and pages >= 2
    paginated = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]]
    assert paginated == seen


@pytest.mark.parametrize("change, code, message", [
    ({"Runtime": "nodejs20.x"}, "InvalidParameterValueException", "runtime parameter of nodejs20.x"),
    ({"Runtime": "cobol85"}, "ValidationException", "at 'runtime' failed to satisfy constraint"),
    ({"Timeout": 0}, "ValidationException", "Value '0' at 'timeout' failed to satisfy constraint: Member must have "
                                            "value greater than or equal to 1"),
    ({"Timeout": 901}, "InvalidParameterValueException", "less than or equal to 900"),
    ({"MemorySize": 64}, "ValidationException", "at 'memorySize'"),
    ({"MemorySize": 10241}, "InvalidParameterValueException", "less than or equal to 10240"),
    ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException", "AWS_REGION"),
    ({"Code": {"ZipFile": b"not a zip"}}, "InvalidParameterValueException", "Could not unzip uploaded file"),
    ({"Code": {"S3Bucket": "code-bucket", "S3Key": "k.zip"}}, "InvalidParameterValueException", "ZipFile"),
    ({"FunctionName": "bad name!"}, "ValidationException", "at 'functionName'"),
    ({"Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:deps:1"]}, "NotImplemented", "Layers"),
])
def test_create_refuses_bad_input(server: ServerProcess, change: dict, code: str, message: str) -> None:
    lam = server.client("lambda", parameter_validation=False)  # let the server judge what botocore would refuse
    args = {"FunctionName": "refused-fn", "Runtime": "python3.12", "Role": ROLE, "Handler": "handler.lambda_handler",
            "Code": {"ZipFile": zipped(HANDLER)}, **change}
    with aws_error(code, message):
        lam.create_function(**args)


def test_duplicate_and_missing(lam: Any, function_factory: Callable[..., str]) -> None:
    name = function_factory()
    with aws_error("ResourceConflictException", f"Function already exist: {name}") as info:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="handler.lambda_handler",
                            Code={"ZipFile": zipped(HANDLER)})
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    for call in (lambda: lam.invoke(FunctionName="no-such-fn", Payload=b"{}"),
                 lambda: lam.delete_function(FunctionName="no-such-fn"),
                 lambda: lam.update_function_code(FunctionName="no-such-fn", ZipFile=zipped(HANDLER)),
                 lambda: lam.get_function(FunctionName=name, Qualifier="3")):
        with aws_error("ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:"):
            call()


def test_invoke_types_logs_and_errors(lam: Any, function_factory: Callable[..., str]) -> None:
    name = function_factory(Environment={"Variables": {"STAGE": "test"}})
    response, body = invoke(lam, name, {"a": 1}, LogType="Tail", Qualifier="$LATEST")
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert body == {"echo": {"a": 1}, "stage": "test", "name": name}
    assert response["ExecutedVersion"] == "$LATEST"
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id} Version: $LATEST\nevent {{'a': 1}}\nEND RequestId: {request_id}" in log
    assert "LogResult" not in lam.invoke(FunctionName=name, Payload=b"{}")  # only when asked for

    failed, error = invoke(lam, name, {"fail": "missing-key"})
    assert failed["StatusCode"] == 200 and failed["FunctionError"] == "Unhandled"
    assert error["errorType"] == "KeyError" and error["errorMessage"] == "'missing-key'"
    assert error["requestId"] == failed["ResponseMetadata"]["RequestId"] and error["stackTrace"]

    queued = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"async": true}')
    assert queued["StatusCode"] == 202 and queued["Payload"].read() == b""
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204

    with aws_error("InvalidRequestContentException", "Could not parse request body into json"):
        lam.invoke(FunctionName=name, Payload=b"{oops")
    with aws_error("RequestTooLargeException") as info:
        lam.invoke(FunctionName=name, Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with aws_error("ValidationException", "at 'invocationType'"):
        lam.invoke(FunctionName=name, InvocationType="Later", Payload=b"{}")


def test_crash_and_timeout_leave_the_server_healthy(lam: Any, server: ServerProcess,
                                                    function_factory: Callable[..., str]) -> None:
    name = function_factory(Timeout=1)
    crashed, error = invoke(lam, name, {"exit": True})
    assert crashed["FunctionError"] == "Unhandled" and error["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 1" in error["errorMessage"]
    timed_out, error = invoke(lam, name, {"sleep": 30})
    assert timed_out["FunctionError"] == "Unhandled" and "Task timed out after 1.0" in error["errorMessage"]
    with urllib.request.urlopen(f"{server.url}/_tidelake/health") as health:
        assert json.loads(health.read())["status"] == "ok"
    assert invoke(lam, name, {"b": 2})[1]["echo"] == {"b": 2}


def test_two_slow_invocations_overlap(lam: Any, function_factory: Callable[..., str]) -> None:
    name = function_factory()
    invoke(lam, name, {})  # warm one worker; the overlapping call starts a second
    threads = [threading.Thread(target=invoke, args=(lam, name, {"sleep": 0.8})) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 1.5


def test_boto3_inside_the_handler_reaches_the_server(lam: Any, kinesis: Any, stream_factory: Callable[..., str],
                                                      function_factory: Callable[..., str]) -> None:
    stream = stream_factory()
    name = function_factory("""
        import boto3
        def lambda_handler(event, context):
            kinesis = boto3.client("kinesis")
            put = kinesis.put_record(StreamName=event["stream"], Data=b"from the function", PartitionKey="pk")
            me = boto3.client("lambda").get_function_configuration(FunctionName=context.function_name)
            return {"shard": put["ShardId"], "arn": me["FunctionArn"]}
    """, Timeout=30)
    response, body = invoke(lam, name, {"stream": stream})
    assert "FunctionError" not in response, body
    assert body["arn"].endswith(f":function:{name}")
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=body["shard"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [r["Data"] for r in records] == [b"from the function"]


def test_operations_not_served_say_so(lam: Any, server: ServerProcess, function_factory: Callable[..., str]) -> None:
    with aws_error("NotImplemented", "tidelake does not implement lambda PublishVersion"):
        lam.publish_version(FunctionName=function_factory())
    request = urllib.request.Request(f"{server.url}/2015-03-31/nowhere", headers={"Authorization": (
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=x")})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 404 and info.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_a_function_as_firehose_transform(lam: Any, server: ServerProcess,
                                          function_factory: Callable[..., str]) -> None:
    """A Firehose Lambda processor naming a function created through this API runs it in its worker
    (docs.aws.amazon.com/firehose/latest/dev/data-transformation.html: event and answer shapes)."""
    name = function_factory("""
        import base64
        def lambda_handler(event, context):
            return {"records": [{"recordId": r["recordId"], "result": "Ok",
                                 "data": base64.b64encode(base64.b64decode(r["data"]).upper() + b"\\n").decode()}
                                for r in event["records"]]}
    """)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    firehose, s3 = server.client("firehose"), server.client("s3", s3={"addressing_style": "path"})
    bucket = name.lower().replace("_", "-")[:50]
    s3.create_bucket(Bucket=bucket)
    firehose.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
        "BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": ROLE, "ProcessingConfiguration": {"Enabled": True,
            "Processors": [{"Type": "Lambda", "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": arn}]}]}})
    firehose.put_record_batch(DeliveryStreamName=name, Records=[{"Data": b"one"}, {"Data": b"two"}])
    flush = urllib.request.Request(f"{server.url}/_tidelake/delivery/{name}/flush?timeout=30", method="POST")
    with urllib.request.urlopen(flush, timeout=60) as answer:
        assert json.loads(answer.read()) == {"flushed": True}
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"ONE\nTWO\n"


def test_routes_come_from_the_model() -> None:
    """Method + requestUri templates, percent-decoded labels, greedy ``{Key+}`` labels and required
    query literals (``?list-type=2``), for any REST model (S3's exercises the greedy ones)."""
    from tidelake.aws.protocol.rest_json import UnknownRoute, match
    arn = "arn:aws:lambda:us-east-1:000000000000:function:f"
    assert match("lambda", "POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction"
                 "%3Af/invocations", {}) == ("Invoke", {"FunctionName": arn})
    assert match("lambda", "GET", "/2015-03-31/functions/f/configuration", {})[0] == "GetFunctionConfiguration"
    assert match("lambda", "GET", "/2015-03-31/functions/", {}) == ("ListFunctions", {})
    assert match("s3", "GET", "/bucket/a/b%2Fc.txt", {}) == ("GetObject", {"Bucket": "bucket", "Key": "a/b/c.txt"})
    assert match("s3", "GET", "/bucket", {"list-type": "2"})[0] == "ListObjectsV2"
    with pytest.raises(UnknownRoute):
        match("lambda", "PATCH", "/2015-03-31/functions/f", {})


def test_tags_and_account_settings(lam: Any, function_factory: Callable[..., str]) -> None:
    name = function_factory(Tags={"a": "1"})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"b": "2", "c": "3"})
    lam.untag_resource(Resource=arn, TagKeys=["a", "c"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    settings = lam.get_account_settings()
    assert settings["AccountUsage"]["FunctionCount"] >= 1
    assert settings["AccountLimit"]["CodeSizeZipped"] == 52428800


def test_aws_cli_invoke(server: ServerProcess, function_factory: Callable[..., str], tmp_path: Path) -> None:
    name = function_factory()
    out = tmp_path / "out.json"
    # CLI v1 sends --payload as given (v2 would want --cli-binary-format raw-in-base64-out).
    summary = json.loads(ok(aws(server.url, "lambda", "invoke", "--function-name", name, "--payload", '{"cli": 1}',
                                str(out))))
    assert summary == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert json.loads(out.read_text())["echo"] == {"cli": 1}


@pytest.mark.slow
def test_kill_9_of_the_server_ends_its_workers(server_factory: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = server_factory()
    lam = server.client("lambda")
    pid_file = tmp_path / "pid"
    lam.create_function(FunctionName="hangs", Runtime="python3.12", Role=ROLE, Handler="handler.lambda_handler",
                        Timeout=300, Environment={"Variables": {"PID_FILE": str(pid_file)}}, Code={"ZipFile": zipped("""
        import os, time
        def lambda_handler(event, context):
            open(os.environ["PID_FILE"], "w").write(str(os.getpid()))
            time.sleep(300)
    """)})
    lam.invoke(FunctionName="hangs", InvocationType="Event", Payload=b"{}")
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    server.kill()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
        assert time.monotonic() < deadline, "the worker outlived its server"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0].lower()
    except (OSError, IndexError):
        return "zombie"
