"""The scheduler in-process on a ManualClock: when rules fire, what targets receive, the missed-run
policy across restarts, and the rules PutRule / PutTargets / DeleteRule enforce."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest

from tidelake.clock import ManualClock, SystemClock
from tidelake.config import Settings
from tidelake.delivery.models import BufferingHints, S3Destination
from tidelake.delivery.service import DeliveryService
from tidelake.errors import ValidationFailed
from tidelake.schedule_expressions import InvalidScheduleExpression
from tidelake.functions.schedule_models import (EventBusNotFound, InputTransformer, InvalidEventPattern,
                                                InvalidTarget, RuleHasTargets, RuleNotFound, Target,
                                                TargetLimitExceeded, UnsupportedTarget)
from tidelake.functions.schedules import Schedules
from tidelake.lake.objects import LocalObjectStore
from tidelake.stream.store import StreamStore

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:{}"
RULE_ARN = "arn:aws:events:us-east-1:000000000000:rule/{}"


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


class Functions:
    """The function service's Invoke, recorded (the real one runs handlers in worker processes)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self.failing: set[str] = set()

    def invoke(self, name_or_arn: str, payload: bytes, *, invocation_type: str = "RequestResponse",
               log_tail: bool = False) -> None:
        if name_or_arn in self.failing:
            raise RuntimeError(f"Function not found: {name_or_arn}")
        self.calls.append((name_or_arn, orjson.loads(payload), invocation_type))

    def events(self, arn: str | None = None) -> list[dict[str, Any]]:
        return [event for target, event, _ in self.calls if arn is None or target == arn]


class Harness:
    """A Schedules on a data dir with a clock at 2026-11-23 14:30 UTC; ``restart`` reopens it."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir, transition_seconds=0)
        self.clock = ManualClock(utc("2026-11-23 14:30:00"))
        self.functions = Functions()
        self.streams = StreamStore.open(self.settings, SystemClock())
        self.objects = LocalObjectStore(data_dir / "lake", fsync=False)
        self.delivery = DeliveryService(self.settings, SystemClock(), self.streams, self.objects)
        self.schedules = self._open()

    def _open(self) -> Schedules:
        return Schedules(self.settings, self.clock, self.functions, self.streams, self.delivery)

    def restart(self) -> None:
        self.schedules.close()
        self.schedules = self._open()

    def rule(self, name: str, expression: str, *targets: Target, **kwargs: Any) -> None:
        self.schedules.put_rule(name, schedule_expression=expression, **kwargs)
        self.schedules.put_targets(name, list(targets) or [Target("fn", FUNCTION.format(name))])

    def advance_to(self, text: str) -> list[Any]:
        self.clock.advance(utc(text) - self.clock.now())
        return self.schedules.tick()

    def close(self) -> None:
        self.schedules.close()
        self.delivery.close()
        self.streams.close()


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "data")
    yield harness
    harness.close()


def test_cron_rule_fires_at_05_with_the_scheduled_event(h):
    h.rule("hourly-merge", "cron(5 * * * ? *)")
    assert h.advance_to("2026-11-23 15:04:59") == []
    [fire] = h.advance_to("2026-11-23 15:05:00.4")
    assert fire.rule == "hourly-merge" and fire.delivered == ["fn"] and not fire.failed and fire.skipped == 0
    [(arn, event, invocation_type)] = h.functions.calls
    assert arn == FUNCTION.format("hourly-merge") and invocation_type == "Event"
    # The Scheduled Event exactly as EventBridge sends it (docs: eb-run-lambda-schedule).
    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources",
                           "detail"]
    assert event == {"version": "0", "id": event["id"], "detail-type": "Scheduled Event", "source": "aws.events",
                     "account": "000000000000", "time": "2026-11-23T15:05:00Z", "region": "us-east-1",
                     "resources": [RULE_ARN.format("hourly-merge")], "detail": {}}
    assert str(uuid.UUID(event["id"])) == event["id"] == fire.event_id
    assert h.advance_to("2026-11-23 15:05:30") == [] and h.advance_to("2026-11-23 16:04:00") == []
    [fire] = h.advance_to("2026-11-23 16:05:01")
    assert h.functions.events()[-1]["time"] == "2026-11-23T16:05:00Z" and fire.skipped == 0


def test_rate_rule_first_runs_one_period_after_creation(h):
    h.clock.advance(7.5)  # 14:30:07.5
    h.rule("every-5", "rate(5 minutes)")
    assert h.advance_to("2026-11-23 14:35:07") == []
    assert len(h.advance_to("2026-11-23 14:35:07.5")) == 1
    assert h.advance_to("2026-11-23 14:40:00") == []
    assert len(h.advance_to("2026-11-23 14:40:08")) == 1
    assert [e["time"] for e in h.functions.events()] == ["2026-11-23T14:35:07Z", "2026-11-23T14:40:07Z"]


def test_missed_slots_fire_once_for_the_latest_after_a_restart(h, caplog):
    h.rule("hourly-merge", "cron(5 * * * ? *)")
    h.rule("every-minute", "rate(1 minute)")
    h.advance_to("2026-11-23 15:05:00")
    assert len(h.functions.calls) == 2  # each once, though every-minute had 35 slots since 14:30
    h.functions.calls.clear()
    # Down from 15:06 until 20:40: five hourly slots and 334 minutes pass without a tick.
    h.clock.advance(60)
    h.restart()
    fires = {f.rule: f for f in h.advance_to("2026-11-23 20:40:30")}
    assert [e["time"] for e in h.functions.events(FUNCTION.format("hourly-merge"))] == ["2026-11-23T20:05:00Z"]
    assert [e["time"] for e in h.functions.events(FUNCTION.format("every-minute"))] == ["2026-11-23T20:40:00Z"]
    assert fires["hourly-merge"].skipped == 4 and fires["every-minute"].skipped == 334
    assert "rule hourly-merge missed 4 slot(s) after 2026-11-23T15:05:00Z; it fires once, for " \
           "2026-11-23T20:05:00Z" in caplog.text
    # Recorded: neither another tick nor another restart fires those slots again.
    assert h.advance_to("2026-11-23 20:40:59") == []
    h.restart()
    assert h.advance_to("2026-11-23 20:40:59") == []
    assert [f.slot for f in h.schedules.fires("hourly-merge")] == [utc("2026-11-23 20:05"), utc("2026-11-23 15:05")]


def test_a_fired_slot_is_not_fired_again_after_a_restart(h):
    h.rule("hourly-merge", "cron(5 * * * ? *)")
    assert len(h.advance_to("2026-11-23 15:05:00")) == 1
    h.restart()
    assert h.advance_to("2026-11-23 15:05:30") == []
    assert h.schedules.describe_rule("hourly-merge").last_slot == utc("2026-11-23 15:05")


def test_disabled_rules_do_not_fire_and_enabling_restarts_the_count(h):
    h.rule("every-5", "rate(5 minutes)")
    h.advance_to("2026-11-23 14:31:00")
    h.schedules.disable_rule("every-5")
    assert h.schedules.describe_rule("every-5").state == "DISABLED"
    assert h.advance_to("2026-11-23 14:50:00") == [] and h.schedules.next_slot("every-5") is None
    h.schedules.enable_rule("every-5")  # at 14:50: the next run is 14:55, nothing owed for the pause
    assert h.schedules.next_slot("every-5") == utc("2026-11-23 14:55")
    assert h.advance_to("2026-11-23 14:54:59") == []
    assert len(h.advance_to("2026-11-23 14:55:00")) == 1


def test_put_rule_again_keeps_the_slots_unless_the_expression_changes(h):
    h.rule("every-5", "rate(5 minutes)")
    h.clock.advance(120)
    h.schedules.put_rule("every-5", schedule_expression="rate(5 minutes)", description="same schedule")
    assert len(h.advance_to("2026-11-23 14:35:00")) == 1  # still counted from 14:30
    h.schedules.put_rule("every-5", schedule_expression="rate(10 minutes)")  # at 14:35: counted anew
    assert h.advance_to("2026-11-23 14:44:59") == []
    assert len(h.advance_to("2026-11-23 14:45:00")) == 1
    rule = h.schedules.describe_rule("every-5")
    assert rule.schedule_expression == "rate(10 minutes)" and rule.description is None


def test_a_failing_target_does_not_keep_the_event_from_the_others(h):
    good, bad = FUNCTION.format("good"), FUNCTION.format("gone")
    h.functions.failing.add(bad)
    h.rule("two", "rate(1 minute)", Target("bad", bad), Target("good", good))
    [fire] = h.advance_to("2026-11-23 14:31:00")
    assert fire.delivered == ["good"] and fire.failed == {"bad": f"RuntimeError: Function not found: {bad}"}
    assert h.advance_to("2026-11-23 14:31:30") == []  # the slot is done; no retry storm
    assert h.schedules.fires("two")[0].failed == fire.failed


def test_rule_without_targets_fires_nothing_and_owes_nothing(h):
    h.schedules.put_rule("later", schedule_expression="rate(5 minutes)")
    assert h.advance_to("2026-11-23 14:37:00") == []
    h.schedules.put_targets("later", [Target("fn", FUNCTION.format("later"))])
    assert h.advance_to("2026-11-23 14:39:00") == []  # the 14:35 slot passed with nobody to tell
    assert len(h.advance_to("2026-11-23 14:40:00")) == 1


def test_input_input_path_and_input_transformer(h):
    h.rule("shaped", "cron(5 * * * ? *)",
           Target("input", FUNCTION.format("a"), input='{"source": "db.retail_json", "target": "db.retail"}'),
           Target("path", FUNCTION.format("b"), input_path="$.detail"),
           Target("time", FUNCTION.format("c"), input_path="$.time"),
           Target("transformed", FUNCTION.format("d"), input_transformer=InputTransformer(
               '{"at": <time>, "rule": "<aws.events.rule-name>", "text": "fired at <time> by <src>", '
               '"resources": <res>, "missing": <nope>}',
               {"time": "$.time", "src": "$.source", "res": "$.resources", "nope": "$.detail.nothing"})))
    h.advance_to("2026-11-23 15:05:00")
    by_target = {arn.rsplit(":", 1)[1]: event for arn, event, _ in h.functions.calls}
    assert by_target["a"] == {"source": "db.retail_json", "target": "db.retail"}
    assert by_target["b"] == {}
    assert by_target["c"] == "2026-11-23T15:05:00Z"
    assert by_target["d"] == {"at": "2026-11-23T15:05:00Z", "rule": "shaped",
                              "text": "fired at 2026-11-23T15:05:00Z by aws.events",
                              "resources": [RULE_ARN.format("shaped")], "missing": None}


def test_kinesis_and_firehose_targets(h):
    h.streams.create_stream("events", 1)
    h.objects.create_bucket("lake")
    h.delivery.start()
    h.delivery.create_delivery_stream("to-lake", S3Destination("lake", prefix="ticks/",
                                                               buffering_hints=BufferingHints(1, 0)))
    h.rule("both", "rate(1 hour)",
           Target("stream", "arn:aws:kinesis:us-east-1:000000000000:stream/events", partition_key_path="$.source"),
           Target("stream-default-key", "arn:aws:kinesis:us-east-1:000000000000:stream/events"),
           Target("lake", "arn:aws:firehose:us-east-1:000000000000:deliverystream/to-lake",
                  input='{"tick": true}'))
    [fire] = h.advance_to("2026-11-23 15:30:00")
    assert sorted(fire.delivered) == ["lake", "stream", "stream-default-key"], fire.failed
    shard = h.streams.describe_stream("events").shards[0].shard_id
    records = h.streams.get_records(h.streams.get_shard_iterator("events", shard, "TRIM_HORIZON"), 10).records
    assert [r.partition_key for r in records] == ["aws.events", fire.event_id]
    assert orjson.loads(records[0].data)["time"] == "2026-11-23T15:30:00Z"
    assert h.delivery.flush("to-lake", timeout=30)
    [key] = [o.key for o in h.objects.list_objects("lake", prefix="ticks/").objects]
    assert h.objects.get_object("lake", key)[1] == b'{"tick": true}'


def test_rules_and_targets_survive_a_restart(h):
    h.rule("kept", "cron(0 10 ? * MON-FRI *)",
           Target("t", FUNCTION.format("x"), input_transformer=InputTransformer("<aws.events.rule-arn>")),
           description="weekday mornings", tags={"team": "data"})
    h.schedules.disable_rule("kept")
    h.restart()
    rule = h.schedules.describe_rule("kept")
    assert (rule.schedule_expression, rule.state, rule.description, rule.tags) == \
        ("cron(0 10 ? * MON-FRI *)", "DISABLED", "weekday mornings", {"team": "data"})
    assert h.schedules.list_targets_by_rule("kept") == [
        Target("t", FUNCTION.format("x"), input_transformer=InputTransformer("<aws.events.rule-arn>"))]


def test_put_rule_validation(h):
    with pytest.raises(InvalidScheduleExpression, match=r"^Parameter ScheduleExpression is not valid\.$"):
        h.schedules.put_rule("bad", schedule_expression="rate(1 minutes)")
    with pytest.raises(ValidationFailed, match="EventPattern or ScheduleExpression must be specified"):
        h.schedules.put_rule("empty")
    with pytest.raises(InvalidEventPattern, match="Event pattern is not valid"):
        h.schedules.put_rule("pattern", event_pattern='{"source": "aws.s3"}')
    with pytest.raises(EventBusNotFound, match="Event bus custom does not exist."):
        h.schedules.put_rule("bus", schedule_expression="rate(1 hour)", event_bus_name="custom")
    with pytest.raises(RuleNotFound, match="^Rule nope does not exist on EventBus default.$"):
        h.schedules.describe_rule("nope")
    assert h.schedules.list_rules() == []  # nothing was stored
    # A pattern rule is kept (and answered) but never fires: nothing publishes events here.
    h.schedules.put_rule("pattern", event_pattern='{"source": ["aws.s3"]}')
    h.schedules.put_targets("pattern", [Target("fn", FUNCTION.format("p"))])
    assert h.advance_to("2026-11-24 00:00:00") == []


def test_targets_limits_and_delete_rules(h):
    h.schedules.put_rule("r", schedule_expression="rate(1 hour)")
    failures = h.schedules.put_targets("r", [
        Target(str(i), FUNCTION.format(i)) for i in range(4)] + [
        Target("queue", "arn:aws:sqs:us-east-1:000000000000:my-queue")])
    assert [(f.target_id, type(f.error)) for f in failures] == [("queue", UnsupportedTarget)]
    h.schedules.put_targets("r", [Target("3", FUNCTION.format("replaced")), Target("4", FUNCTION.format(4))])
    assert [t.id for t in h.schedules.list_targets_by_rule("r")] == ["0", "1", "2", "3", "4"]
    assert h.schedules.list_targets_by_rule("r")[3].arn == FUNCTION.format("replaced")
    with pytest.raises(TargetLimitExceeded, match="exceeds the maximum number allowed"):
        h.schedules.put_targets("r", [Target("5", FUNCTION.format(5))])
    with pytest.raises(InvalidTarget, match="Provided Arn is not in correct format"):
        h.schedules.put_targets("r", [Target("x", "not-an-arn")])
    with pytest.raises(InvalidTarget, match="Only one of Input, InputPath, or InputTransformer"):
        h.schedules.put_targets("r", [Target("x", FUNCTION.format("x"), input="{}", input_path="$.detail")])
    with pytest.raises(InvalidTarget, match="contains invalid placeholder who"):
        h.schedules.put_targets("r", [Target("x", FUNCTION.format("x"), input_transformer=InputTransformer("<who>"))])
    with pytest.raises(RuleNotFound):
        h.schedules.put_targets("missing", [Target("x", FUNCTION.format("x"))])
    assert h.schedules.list_rule_names_by_target(FUNCTION.format(4)) == ["r"]

    with pytest.raises(RuleHasTargets, match=r"^Rule can't be deleted since it has targets\.$"):
        h.schedules.delete_rule("r")
    h.schedules.remove_targets("r", ["0", "1", "not-there"])
    assert [t.id for t in h.schedules.list_targets_by_rule("r")] == ["2", "3", "4"]
    h.schedules.delete_rule("r", force=True)  # removes the targets with it
    h.schedules.delete_rule("r")  # already gone: succeeds, as in EventBridge
    assert h.schedules.list_rule_names_by_target(FUNCTION.format(4)) == []
    with pytest.raises(RuleNotFound):
        h.schedules.list_targets_by_rule("r")
