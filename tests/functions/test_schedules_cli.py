"""`tidelake schedules` and `tidelake compact --schedule` against a running server."""
from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from support import tidelake as run_tidelake


def tidelake(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return run_tidelake(server, *args, check=False, columns=250)


def test_put_list_disable_enable_delete(server):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    stream = f"arn:aws:kinesis:us-east-1:000000000000:stream/{name}"
    put = tidelake(server, "schedules", "put", name, "rate(1 hour)", "--target", stream, "--input", '{"x": 1}',
                   "--description", "hourly tick")
    assert put.returncode == 0, put.stderr
    assert put.stdout.strip() == f"arn:aws:events:us-east-1:000000000000:rule/{name}"
    listed = tidelake(server, "schedules", "list", "--prefix", name).stdout
    assert name in listed and "rate(1 hour)" in listed and "ENABLED" in listed and stream in listed
    assert tidelake(server, "schedules", "disable", name).returncode == 0
    assert "DISABLED" in tidelake(server, "schedules", "list", "--prefix", name).stdout
    assert tidelake(server, "schedules", "enable", name).returncode == 0
    events = server.client("events")
    assert events.list_targets_by_rule(Rule=name)["Targets"] == [{"Id": "target", "Arn": stream, "Input": '{"x": 1}'}]
    assert tidelake(server, "schedules", "delete", name).returncode == 0
    assert events.list_rules(NamePrefix=name)["Rules"] == []

    bad = tidelake(server, "schedules", "put", name, "rate(1 hours)")
    assert bad.returncode == 1
    assert "ValidationException: Parameter ScheduleExpression is not valid." in bad.stderr
    missing = tidelake(server, "schedules", "disable", name)
    assert missing.returncode == 1 and f"Rule {name} does not exist on EventBus default." in missing.stderr


def test_compact_schedule_creates_the_function_rule_and_target(server):
    db = f"sched_{uuid.uuid4().hex[:8]}"
    source, target = f"{db}.retail_json", f"{db}.retail_parquet"
    for _ in range(2):  # again: the function's code is refreshed, the rule and target replaced
        result = tidelake(server, "compact", source, target, "--location", "s3://lake/parquet/",
                          "--schedule", "cron(5 * * * ? *)")
        assert result.returncode == 0, result.stderr
    rule = f"compact-{source}-{target}"
    assert f"Scheduled: rule {rule} (cron(5 * * * ? *), UTC) runs tidelake-compaction" in result.stdout
    events, lambda_ = server.client("events"), server.client("lambda")
    try:
        assert events.describe_rule(Name=rule)["ScheduleExpression"] == "cron(5 * * * ? *)"
        [entry] = events.list_targets_by_rule(Rule=rule)["Targets"]
        function = lambda_.get_function(FunctionName="tidelake-compaction")["Configuration"]
        assert entry["Arn"] == function["FunctionArn"] and function["Handler"] == "compaction.lambda_handler"
        assert json.loads(entry["Input"]) == {"source": source, "target": target, "location": "s3://lake/parquet/",
                                              "partition": None, "all": False}
    finally:  # the session's server runs on the real clock: no stray fire at :05
        assert tidelake(server, "schedules", "delete", rule).returncode == 0
