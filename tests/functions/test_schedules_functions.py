"""A scheduled rule firing a real function (worker subprocess) on a fake-fast clock: no waiting a
minute, the clock is moved and the scheduler ticked."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import orjson
import pytest

from tidelake.clock import ManualClock, SystemClock
from tidelake.config import Settings
from tidelake.delivery.service import DeliveryService
from tidelake.functions.schedule_models import Target
from tidelake.functions.schedules import Schedules
from tidelake.functions.service import FunctionService
from tidelake.lake.objects import LocalObjectStore
from tidelake.stream.store import StreamStore

HANDLER = '''
import json, os

def lambda_handler(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps({"event": event, "function": context.function_name}) + "\\n")
    return "ok"
'''


def wait_for_lines(path: Path, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [orjson.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"the function wrote {path.read_text() if path.exists() else 'nothing'}")


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Schedules, FunctionService, ManualClock]]:
    settings = Settings(data_dir=tmp_path / "data", transition_seconds=0)
    clock = ManualClock(datetime(2026, 11, 23, 15, 0, 30, tzinfo=timezone.utc).timestamp())
    functions = FunctionService(settings, clock)
    streams = StreamStore.open(settings, SystemClock())
    delivery = DeliveryService(settings, SystemClock(), streams, LocalObjectStore(tmp_path / "lake"))
    schedules = Schedules(settings, clock, functions, streams, delivery)
    yield schedules, functions, clock
    schedules.close()
    functions.close()
    delivery.close()
    streams.close()


def test_rate_rule_fires_a_real_function_with_the_scheduled_event(parts, tmp_path):
    schedules, functions, clock = parts
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text(HANDLER)
    out = tmp_path / "fired.jsonl"
    arn = functions.create_function("recorder", "handler.lambda_handler", code_dir=code,
                                    environment={"OUT": str(out)}).function_arn
    rule_arn = schedules.put_rule("every-minute", schedule_expression="rate(1 minute)").arn
    assert schedules.put_targets("every-minute", [Target("recorder", arn)]) == []

    clock.advance(59)
    assert schedules.tick() == []
    clock.advance(1)
    [fire] = schedules.tick()
    clock.advance(60)
    schedules.tick()
    first, second = sorted(wait_for_lines(out, 2), key=lambda line: line["event"]["time"])  # Event: async
    assert first["function"] == "recorder" and fire.delivered == ["recorder"]
    assert first["event"] == {"version": "0", "id": fire.event_id, "detail-type": "Scheduled Event",
                              "source": "aws.events", "account": "000000000000", "time": "2026-11-23T15:01:30Z",
                              "region": "us-east-1", "resources": [rule_arn], "detail": {}}
    assert second["event"]["time"] == "2026-11-23T15:02:30Z" and second["event"]["id"] != fire.event_id
