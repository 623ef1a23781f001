"""The CloudWatch Logs API (JSON 1.1) over function logs, with boto3 and the AWS CLI against a real server.

Pinned by docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/: API_DescribeLogGroups,
API_DescribeLogStreams, API_GetLogEvents (tokens in both directions, the same token back at the end,
endTime exclusive), API_FilterLogEvents (endTime inclusive, startFromHead, nextToken), the error codes
each page lists, and the filter pattern syntax (FilterAndPatternSyntax: terms and quoted phrases,
case-sensitive)."""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from support import ServerProcess, aws, aws_error, error_code, ok, zipped

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
HANDLER = """
import time
def h(event, context):
    print("hello", event["n"])
    if event["n"] % 2:
        print("ERROR odd number", event["n"])
    print("Task done: " + context.aws_request_id)
    time.sleep(event.get("sleep", 0))
    return context.log_stream_name
"""
STREAM_NAME = re.compile(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}")


@dataclass
class Logged:
    name: str
    group: str
    streams: dict[int, str]  # invocation number -> the log stream the handler saw
    request_ids: dict[int, str]
    started_ms: int
    ended_ms: int


def create(lam: Any, name: str) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="handler.h",
                        Code={"ZipFile": zipped(HANDLER)})


def invoke(lam: Any, name: str, n: int, sleep: float = 0.0) -> tuple[str, str]:
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n, "sleep": sleep}).encode())
    return json.loads(answer["Payload"].read()), answer["ResponseMetadata"]["RequestId"]


@pytest.fixture(scope="module")
def logged(server: ServerProcess) -> Logged:
    """A function run six times: the first two at once (two workers, two streams), then one after another."""
    lam = server.client("lambda")
    name = "logs-api-fn"
    create(lam, name)
    streams, request_ids = {}, {}
    started = int(time.time() * 1000)

    def run(n: int, sleep: float = 0.0) -> None:
        streams[n], request_ids[n] = invoke(lam, name, n, sleep)
    together = [threading.Thread(target=run, args=(n, 0.5)) for n in (0, 1)]
    for thread in together:
        thread.start()
    for thread in together:
        thread.join()
    for n in range(2, 6):
        run(n)
    return Logged(name, f"/aws/lambda/{name}", streams, request_ids, started, int(time.time() * 1000) + 1)


@pytest.fixture
def logs(server: ServerProcess) -> Any:
    return server.client("logs")


def test_groups(logs: Any, server: ServerProcess, logged: Logged) -> None:
    lam = server.client("lambda")
    for suffix in ("b", "a"):  # a second and third group, listed in name order
        create(lam, f"logs-api-fn-{suffix}")
        invoke(lam, f"logs-api-fn-{suffix}", 0)
    [group] = logs.describe_log_groups(logGroupNamePrefix=logged.group + "-a")["logGroups"]
    assert group["logGroupName"] == logged.group + "-a"
    assert group["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{logged.group}-a:*"
    assert group["logGroupArn"] == group["arn"][:-2] and group["logGroupClass"] == "STANDARD"
    assert group["storedBytes"] > 100 and group["metricFilterCount"] == 0
    assert abs(group["creationTime"] - time.time() * 1000) < 60_000
    pages = list(logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=logged.group,
                                                                     PaginationConfig={"PageSize": 1}))
    assert [g["logGroupName"] for p in pages for g in p["logGroups"]] == [
        logged.group, logged.group + "-a", logged.group + "-b"]
    assert len(pages) == 3
    # A pattern is a case-sensitive substring; the answer then holds the name, ARN and creation time only.
    found = logs.describe_log_groups(logGroupNamePattern="api-fn-b")["logGroups"]
    assert [sorted(g) for g in found] == [["arn", "creationTime", "logGroupName"]]
    assert logs.describe_log_groups(logGroupNamePattern="API-FN")["logGroups"] == []
    by_arn = logs.describe_log_groups(logGroupIdentifiers=[group["logGroupArn"]])["logGroups"]
    assert [g["logGroupName"] for g in by_arn] == [logged.group + "-a"]
    with aws_error("InvalidParameterException", "mutually exclusive"):
        logs.describe_log_groups(logGroupNamePrefix="/aws", logGroupNamePattern="fn")
    # A function that never ran has no group; a deleted one keeps its group, as on AWS.
    create(lam, "logs-api-silent")
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/logs-api-silent")["logGroups"] == []
    lam.delete_function(FunctionName="logs-api-fn-b")
    assert logs.describe_log_groups(logGroupNamePrefix=logged.group + "-b")["logGroups"]


def test_streams(logs: Any, logged: Logged) -> None:
    streams = logs.describe_log_streams(logGroupName=logged.group)["logStreams"]
    names = [s["logStreamName"] for s in streams]
    assert names == sorted(set(logged.streams.values())) and len(names) == 2  # one per worker
    assert all(STREAM_NAME.fullmatch(n) for n in names)
    for stream in streams:
        assert logged.started_ms <= stream["firstEventTimestamp"] <= stream["lastEventTimestamp"] <= logged.ended_ms
        assert stream["creationTime"] == stream["firstEventTimestamp"]
        assert stream["lastIngestionTime"] >= stream["lastEventTimestamp"]
        assert stream["arn"] == ("arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/logs-api-fn:log-stream:"
                                 + stream["logStreamName"])
    newest = logs.describe_log_streams(logGroupName=logged.group, orderBy="LastEventTime", descending=True)
    assert newest["logStreams"][0]["logStreamName"] == logged.streams[5]  # the warm worker ran the last ones
    pages = list(logs.get_paginator("describe_log_streams").paginate(
        logGroupIdentifier=logged.group, orderBy="LastEventTime", PaginationConfig={"PageSize": 1}))
    assert [s["logStreamName"] for p in pages for s in p["logStreams"]] == [
        s["logStreamName"] for s in reversed(newest["logStreams"])]
    prefix = names[1][:len("2026/01/01/[$LATEST]") + 1]
    assert names[1] in [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName=logged.group, logStreamNamePrefix=prefix)["logStreams"]]
    with aws_error("InvalidParameterException", "LastEventTime"):
        logs.describe_log_streams(logGroupName=logged.group, orderBy="LastEventTime", logStreamNamePrefix="2")


def test_get_log_events_both_ways(logs: Any, logged: Logged) -> None:
    stream = logged.streams[5]
    request = dict(logGroupName=logged.group, logStreamName=stream)
    first = logs.get_log_events(**request, startFromHead=True, limit=3)
    assert [e["message"] for e in first["events"]][0].startswith("INIT_START Runtime Version: python:3.")
    assert len(first["events"]) == 3 and re.fullmatch(r"f/\d+", first["nextForwardToken"])
    forward, token = list(first["events"]), first["nextForwardToken"]
    while True:  # forward until the same token comes back: the end of the stream
        page = logs.get_log_events(**request, startFromHead=True, limit=3, nextToken=token)
        forward += page["events"]
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        token = page["nextForwardToken"]
    messages = [e["message"] for e in forward]
    ran = sorted(n for n, s in logged.streams.items() if s == stream)
    assert messages.count(f"START RequestId: {logged.request_ids[5]} Version: $LATEST") == 1
    assert [m for m in messages if m.startswith("hello")] == [f"hello {n}" for n in ran]
    assert messages[-1].startswith(f"REPORT RequestId: {logged.request_ids[5]}\tDuration: ")
    assert all(e["ingestionTime"] >= e["timestamp"] for e in forward)
    assert [e["timestamp"] for e in forward] == sorted(e["timestamp"] for e in forward)

    latest = logs.get_log_events(**request, limit=4)  # startFromHead false: the newest first...
    assert latest["events"] == forward[-4:]  # ...as a page in time order
    backward, token = list(latest["events"]), latest["nextBackwardToken"]
    while True:
        page = logs.get_log_events(**request, limit=5, nextToken=token)
        if page["nextBackwardToken"] == token:
            assert page["events"] == []
            break
        backward = page["events"] + backward
        token = page["nextBackwardToken"]
    assert backward == forward
    # Turning around: forward from a backward page continues right after it.
    again = logs.get_log_events(**request, limit=2, nextToken=latest["nextForwardToken"], startFromHead=True)
    assert again["events"] == [] and again["nextForwardToken"] == latest["nextForwardToken"]
    middle = logs.get_log_events(**request, startFromHead=True, limit=4, nextToken=first["nextBackwardToken"])
    assert middle["events"] == []  # nothing before the first line

    # startTime inclusive, endTime exclusive (milliseconds).
    end_line = next(e for e in forward if e["message"].startswith("END RequestId: " + logged.request_ids[5]))
    window = logs.get_log_events(**request, startFromHead=True, startTime=end_line["timestamp"],
                                 endTime=end_line["timestamp"] + 1)["events"]
    assert end_line in window and all(e["timestamp"] == end_line["timestamp"] for e in window)
    assert end_line not in logs.get_log_events(**request, startFromHead=True,
                                               endTime=end_line["timestamp"])["events"]


def test_filter_log_events(logs: Any, logged: Logged) -> None:
    everything = [e for p in logs.get_paginator("filter_log_events").paginate(logGroupName=logged.group)
                  for e in p["events"]]
    assert len({e["eventId"] for e in everything}) == len(everything)
    assert [e["eventId"] for e in everything] == sorted(e["eventId"] for e in everything)
    assert {e["logStreamName"] for e in everything} == set(logged.streams.values())
    assert sum(e["message"].startswith("START RequestId") for e in everything) == 6

    errors = logs.filter_log_events(logGroupName=logged.group, filterPattern="ERROR")
    assert sorted(e["message"] for e in errors["events"]) == ["ERROR odd number 1", "ERROR odd number 3",
                                                             "ERROR odd number 5"]
    assert "nextToken" not in errors and errors["searchedLogStreams"] == []
    assert logs.filter_log_events(logGroupName=logged.group, filterPattern="error")["events"] == []  # case matters
    both = logs.filter_log_events(logGroupName=logged.group, filterPattern='ERROR "number 3"')["events"]
    assert [e["message"] for e in both] == ["ERROR odd number 3"]
    phrase = logs.filter_log_events(logGroupName=logged.group, filterPattern=f'"Task done: {logged.request_ids[2]}"')
    assert [(e["message"], e["logStreamName"]) for e in phrase["events"]] == [
        (f"Task done: {logged.request_ids[2]}", logged.streams[2])]
    one_stream = logs.filter_log_events(logGroupName=logged.group, logStreamNames=[logged.streams[0]],
                                        filterPattern="hello")["events"]
    assert [e["message"] for e in one_stream] == ["hello 0"] + [
        f"hello {n}" for n in range(2, 6) if logged.streams[n] == logged.streams[0]]

    pages = list(logs.get_paginator("filter_log_events").paginate(
        logGroupName=logged.group, filterPattern="hello", PaginationConfig={"PageSize": 2}))
    assert [len(p["events"]) for p in pages] == [2, 2, 2] and "nextToken" not in pages[-1]
    newest = logs.filter_log_events(logGroupName=logged.group, startFromHead=False, limit=3)
    assert newest["events"] == everything[::-1][:3] and newest["nextToken"].startswith("b/")
    older = logs.filter_log_events(logGroupName=logged.group, startFromHead=True, limit=3,
                                   nextToken=newest["nextToken"])  # the token's direction wins
    assert older["events"] == everything[::-1][3:6]

    last = everything[-1]  # endTime inclusive here; `aws logs tail` (v2) asks for interleaved events
    upto = logs.filter_log_events(logGroupName=logged.group, startTime=last["timestamp"],
                                  endTime=last["timestamp"], interleaved=True)["events"]
    assert last in upto and all(e["timestamp"] == last["timestamp"] for e in upto)
    assert logs.filter_log_events(logGroupName=logged.group, startTime=logged.ended_ms + 1000)["events"] == []


@pytest.mark.parametrize("pattern, fragment", [
    ("{ $.level = \"ERROR\" }", "JSON"),
    ("[ip, user, status=404]", "space-delimited"),
    ("%ERR.R%", "regex"),
    ("?ERROR ?WARN", "alternatives"),
    ("-ERROR", "exclusions"),
    ("RequestId:", "Invalid character(s) in term 'RequestId:'"),
    ('"unclosed', "not closed"),
])
def test_filter_patterns_refused(logs: Any, logged: Logged, pattern: str, fragment: str) -> None:
    with aws_error("InvalidParameterException", fragment):
        logs.filter_log_events(logGroupName=logged.group, filterPattern=pattern)


def test_errors(logs: Any, server: ServerProcess, logged: Logged) -> None:
    for group in ("/aws/lambda/no-such-function", "/custom/group"):
        with aws_error("ResourceNotFoundException", "The specified log group does not exist."):
            logs.filter_log_events(logGroupName=group)
        with aws_error("ResourceNotFoundException", "The specified log group does not exist."):
            logs.describe_log_streams(logGroupName=group)
    with aws_error("ResourceNotFoundException", "The specified log stream does not exist."):
        logs.get_log_events(logGroupName=logged.group, logStreamName="2026/01/01/[$LATEST]" + "0" * 32)
    with aws_error("InvalidParameterException", "not both"):
        logs.filter_log_events(logGroupName=logged.group, logGroupIdentifier=logged.group)
    with aws_error("InvalidParameterException", "not both"):
        logs.describe_log_streams()
    with aws_error("InvalidParameterException", "nextToken is invalid"):
        logs.get_log_events(logGroupName=logged.group, logStreamName=logged.streams[0], nextToken="x/12")
    with aws_error("InvalidParameterException", "mutually exclusive"):
        logs.filter_log_events(logGroupName=logged.group, logStreamNames=["a"], logStreamNamePrefix="a")
    with aws_error("InvalidParameterException", "Jan 1, 2024"):
        logs.filter_log_events(logGroupName=logged.group, startFromHead=False, startTime=1_600_000_000_000)
    unchecked = server.client("logs", parameter_validation=False)
    with aws_error("InvalidParameterException", "1 validation error detected: Value '0' at 'limit'"):
        unchecked.filter_log_events(logGroupName=logged.group, limit=0)
    with aws_error("InvalidParameterException", "Member must satisfy regular expression pattern"):
        unchecked.describe_log_streams(logGroupName="no spaces")
    with aws_error("NotImplemented", "PutLogEvents"):
        logs.put_log_events(logGroupName=logged.group, logStreamName="s", logEvents=[
            {"timestamp": int(time.time() * 1000), "message": "hi"}])


def test_aws_cli(server: ServerProcess, logged: Logged) -> None:
    # awscli v1 has no `aws logs tail` (a v2 command); it pages filter-log-events itself.
    found = json.loads(ok(aws(server.url, "logs", "filter-log-events", "--log-group-name", logged.group,
                              "--filter-pattern", "ERROR", "--page-size", "1")))
    assert sorted(e["message"] for e in found["events"])[0] == "ERROR odd number 1" and len(found["events"]) == 3
    got = json.loads(ok(aws(server.url, "logs", "get-log-events", "--log-group-name", logged.group,
                            "--log-stream-name", logged.streams[1], "--start-from-head", "--limit", "2")))
    assert got["events"][0]["message"].startswith("INIT_START") and got["nextForwardToken"].startswith("f/")
    streams = json.loads(ok(aws(server.url, "logs", "describe-log-streams", "--log-group-name", logged.group)))
    assert len(streams["logStreams"]) == 2
    assert error_code(aws(server.url, "logs", "get-log-events", "--log-group-name", "/aws/lambda/nobody",
                          "--log-stream-name", "s")) == "ResourceNotFoundException"
