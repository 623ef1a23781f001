"""EventBridge scheduled rules through boto3 and the AWS CLI against a real server: rules, targets,
tags, pagination and the exact error codes (docs.aws.amazon.com/eventbridge/latest/APIReference/)."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from support import aws, aws_error, ok

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:{}"
STREAM = "arn:aws:kinesis:us-east-1:000000000000:stream/{}"


@pytest.fixture
def events(server: Any) -> Any:
    return server.client("events")


@pytest.fixture
def name() -> str:
    return f"rule-{uuid.uuid4().hex[:10]}"


def test_put_describe_list_enable_disable_delete(events, name):
    arn = events.put_rule(Name=name, ScheduleExpression="cron(5 * * * ? *)", Description="hourly merge",
                          RoleArn="arn:aws:iam::000000000000:role/events")["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:000000000000:rule/{name}"
    rule = events.describe_rule(Name=name)
    assert {k: v for k, v in rule.items() if k != "ResponseMetadata"} == {
        "Name": name, "Arn": arn, "ScheduleExpression": "cron(5 * * * ? *)", "State": "ENABLED",
        "Description": "hourly merge", "RoleArn": "arn:aws:iam::000000000000:role/events", "EventBusName": "default",
        "CreatedBy": "000000000000"}
    events.disable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    events.enable_rule(Name=name, EventBusName="default")
    [listed] = events.list_rules(NamePrefix=name)["Rules"]
    assert listed["State"] == "ENABLED" and listed["ScheduleExpression"] == "cron(5 * * * ? *)"
    # PutRule on an existing rule replaces its definition and answers the same ARN.
    assert events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)", State="DISABLED")["RuleArn"] == arn
    rule = events.describe_rule(Name=name)
    assert rule["ScheduleExpression"] == "rate(5 minutes)" and rule["State"] == "DISABLED" and "Description" not in rule
    events.delete_rule(Name=name)
    assert events.list_rules(NamePrefix=name)["Rules"] == []
    events.delete_rule(Name=name)  # deleting a rule that is gone succeeds, as in EventBridge


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "rate(5 minute)", "rate(0 hours)", "rate(5 weeks)",
                                        "cron(5 * * * *)", "cron(5 * * * * *)", "cron(0 25 * * ? *)",
                                        "cron(0 10 ? * 9 *)", "every hour"])
def test_invalid_schedule_expressions(events, name, expression):
    with aws_error("ValidationException") as info:
        events.put_rule(Name=name, ScheduleExpression=expression)
    assert info.value.response["Error"]["Message"] == "Parameter ScheduleExpression is not valid."
    with aws_error("ResourceNotFoundException"):
        events.describe_rule(Name=name)


def test_missing_rules_and_buses(events, name):
    message = f"Rule {name} does not exist on EventBus default."
    with aws_error("ResourceNotFoundException", message):
        events.describe_rule(Name=name)
    with aws_error("ResourceNotFoundException", message):
        events.enable_rule(Name=name)
    with aws_error("ResourceNotFoundException", message):
        events.disable_rule(Name=name)
    with aws_error("ResourceNotFoundException", message):
        events.list_targets_by_rule(Rule=name)
    with aws_error("ResourceNotFoundException", message):
        events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": FUNCTION.format("f")}])
    with aws_error("ResourceNotFoundException", message):
        events.remove_targets(Rule=name, Ids=["fn"])
    with aws_error("ResourceNotFoundException", "Event bus orders does not exist."):
        events.put_rule(Name=name, ScheduleExpression="rate(1 hour)", EventBusName="orders")
    with aws_error("ValidationException", "EventPattern or ScheduleExpression must be specified"):
        events.put_rule(Name=name)
    with aws_error("InvalidEventPatternException", "Event pattern is not valid."):
        events.put_rule(Name=name, EventPattern='{"source": "aws.s3"}')
    with aws_error("ValidationException"):  # the model's own constraint on names
        events.describe_rule(Name="no spaces allowed")


def test_targets_round_trip_limits_and_delete_with_targets(events, name):
    events.put_rule(Name=name, ScheduleExpression="rate(1 hour)")
    targets = [
        {"Id": "merge", "Arn": FUNCTION.format("merge"), "Input": '{"source": "db.retail_json"}'},
        {"Id": "detail", "Arn": FUNCTION.format("other"), "InputPath": "$.detail"},
        {"Id": "shaped", "Arn": FUNCTION.format("other"),
         "InputTransformer": {"InputPathsMap": {"t": "$.time"}, "InputTemplate": '{"at": <t>}'}},
        {"Id": "stream", "Arn": STREAM.format("ticks"), "RoleArn": "arn:aws:iam::000000000000:role/events",
         "KinesisParameters": {"PartitionKeyPath": "$.source"}},
    ]
    answer = events.put_targets(Rule=name, Targets=targets)
    assert (answer["FailedEntryCount"], answer["FailedEntries"]) == (0, [])
    answer = events.put_targets(Rule=name, Targets=[
        {"Id": "queue", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"},
        {"Id": "merge", "Arn": FUNCTION.format("merge"), "Input": '{"source": "db.retail_json"}'}])
    assert answer["FailedEntryCount"] == 1
    [failed] = answer["FailedEntries"]
    assert failed["TargetId"] == "queue" and failed["ErrorCode"] == "ValidationException"
    assert "Lambda functions, Kinesis streams and Firehose delivery streams" in failed["ErrorMessage"]
    assert events.list_targets_by_rule(Rule=name)["Targets"] == targets
    assert name in events.list_rule_names_by_target(TargetArn=FUNCTION.format("other"))["RuleNames"]

    with aws_error("LimitExceededException", "The requested resource exceeds the maximum number allowed."):
        events.put_targets(Rule=name, Targets=[{"Id": f"more-{i}", "Arn": FUNCTION.format(i)} for i in range(2)])
    with aws_error("ValidationException", "Provided Arn is not in correct format."):
        events.put_targets(Rule=name, Targets=[{"Id": "bad", "Arn": "function:merge"}])
    with aws_error("ValidationException", "Only one of Input, InputPath, or InputTransformer must be provided"):
        events.put_targets(Rule=name, Targets=[{"Id": "two", "Arn": FUNCTION.format("x"), "Input": "{}",
                                                "InputPath": "$.detail"}])

    with aws_error("ValidationException") as info:
        events.delete_rule(Name=name)
    assert info.value.response["Error"]["Message"] == "Rule can't be deleted since it has targets."
    for ids in (["merge", "detail", "shaped"], ["not-there"]):  # unknown ids are no failure
        answer = events.remove_targets(Rule=name, Ids=ids)
        assert (answer["FailedEntryCount"], answer["FailedEntries"]) == (0, [])
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]] == ["stream"]
    events.delete_rule(Name=name, Force=True)
    with aws_error("ResourceNotFoundException"):
        events.describe_rule(Name=name)


def test_pagination_with_boto3_paginators(events):
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    for i in range(7):
        events.put_rule(Name=f"{prefix}-{i}", ScheduleExpression="rate(1 day)")
    first = events.list_rules(NamePrefix=prefix, Limit=3)
    assert [r["Name"] for r in first["Rules"]] == [f"{prefix}-{i}" for i in range(3)] and first["NextToken"]
    pages = list(events.get_paginator("list_rules").paginate(NamePrefix=prefix, PaginationConfig={"PageSize": 3}))
    assert [len(p["Rules"]) for p in pages] == [3, 3, 1]
    assert [r["Name"] for p in pages for r in p["Rules"]] == [f"{prefix}-{i}" for i in range(7)]
    events.put_targets(Rule=f"{prefix}-0", Targets=[{"Id": str(i), "Arn": FUNCTION.format(prefix)} for i in range(5)])
    pages = list(events.get_paginator("list_targets_by_rule").paginate(Rule=f"{prefix}-0",
                                                                       PaginationConfig={"PageSize": 2}))
    assert [[t["Id"] for t in p["Targets"]] for p in pages] == [["0", "1"], ["2", "3"], ["4"]]
    with aws_error("ValidationException", "The NextToken is not valid."):
        events.list_rules(NamePrefix=prefix, NextToken="garbage")


def test_tags(events, name):
    arn = events.put_rule(Name=name, ScheduleExpression="rate(1 day)",
                          Tags=[{"Key": "team", "Value": "data"}])["RuleArn"]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "dev"}])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "dev"},
                                                                      {"Key": "team", "Value": "data"}]
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    with aws_error("ResourceNotFoundException"):
        events.list_tags_for_resource(ResourceARN=arn + "-missing")


def test_aws_cli_put_rule_and_list(server, name):
    answer = json.loads(ok(aws(server.url, "events", "put-rule", "--name", name, "--schedule-expression",
                               "rate(5 minutes)", "--state", "DISABLED")))
    assert answer["RuleArn"].endswith(f":rule/{name}")
    listed = json.loads(ok(aws(server.url, "events", "list-rules", "--name-prefix", name)))
    assert [(r["Name"], r["State"]) for r in listed["Rules"]] == [(name, "DISABLED")]
    result = aws(server.url, "events", "put-rule", "--name", name, "--schedule-expression", "rate(5 minute)")
    assert "ValidationException" in result.stderr and "Parameter ScheduleExpression is not valid." in result.stderr
