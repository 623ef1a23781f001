"""Event source mappings in-process: the event Lambda sends, ordering, starting positions, resharding,
restart from the checkpoints, ParallelizationFactor and the batching window.

Pinned by docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html (event example, polling and
batching) and services-kinesis-parameters.html (parameters and defaults).
"""
from __future__ import annotations

import base64
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson
import pytest

from mapping_support import ROLE, calls, delivered, make_function, wait_for
from tidelake.clock import ManualClock
from tidelake.config import Settings
from tidelake.functions.kinesis_events import EventSource, kinesis_event
from tidelake.functions.mappings import MappingState, StartingPosition
from tidelake.platform import Platform
from tidelake.stream.log import Columns

ECHO = '''
def lambda_handler(event, context):
    record(event)
    return {"ok": True}
'''


@pytest.fixture
def platform(settings_factory: Callable[..., Settings], clock: ManualClock) -> Iterator[Platform]:
    with Platform(settings_factory(mapping_poll_seconds=0.01), clock) as platform:
        yield platform


def _put(platform: Platform, stream: str, values: list[str], keys: list[str] | None = None) -> list[str]:
    result = platform.streams.put_records(stream, [v.encode() for v in values], keys or values)
    return [n for n in result.sequence_numbers if n is not None]


def _map(platform: Platform, stream: str, function: str, **options: Any) -> str:
    options.setdefault("starting_position", StartingPosition.TRIM_HORIZON)
    return platform.mappings.create_event_source_mapping(platform.streams.stream_arn(stream), function,
                                                         **options).uuid


def test_function_receives_the_kinesis_event(platform: Platform, tmp_path: Path, clock: ManualClock) -> None:
    capture = make_function(platform, tmp_path, "capture", '''
def lambda_handler(event, context):
    record(event, {"event": event, "function_name": context.function_name})
''')
    platform.streams.create_stream("events", 1)
    _map(platform, "events", "capture")
    [sequence] = _put(platform, "events", ["héllo"], ["key-é"])
    [call] = wait_for(lambda: calls(capture), what="an invocation")
    arn = platform.streams.stream_arn("events")
    assert call["function_name"] == "capture"
    assert call["event"] == {"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "key-é", "sequenceNumber": sequence,
                    "data": base64.b64encode("héllo".encode()).decode(),
                    "approximateArrivalTimestamp": int(clock.now() * 1000) / 1000},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": ROLE, "awsRegion": "us-east-1",
        "eventSourceARN": arn}]}


def test_event_is_built_from_columns_in_the_order_given() -> None:
    columns = Columns([b"a", b"\x00\xff", b"c"], [b"k1", b'k"2', b"k3"], [1.5, 1.5, 2.25], [7, 8, 9])
    source = EventSource("arn:aws:kinesis:eu-west-1:1:stream/s", "shardId-000000000003", "eu-west-1", "role")
    event = orjson.loads(kinesis_event(source, columns, ["s7", "s8", "s9"], [2, 1]))
    assert [r["kinesis"]["sequenceNumber"] for r in event["Records"]] == ["s9", "s8"]
    assert event["Records"][1]["kinesis"]["partitionKey"] == 'k"2'
    assert base64.b64decode(event["Records"][1]["kinesis"]["data"]) == b"\x00\xff"
    assert event["Records"][0]["kinesis"]["approximateArrivalTimestamp"] == 2.25
    assert event["Records"][0]["eventID"] == "shardId-000000000003:s9"


def test_batches_keep_shard_order_and_batch_size(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "echo", ECHO)
    platform.streams.create_stream("orders", 3)
    values = [f"v{i:04d}" for i in range(600)]
    numbers = _put(platform, "orders", values, [f"key-{i % 37}" for i in range(600)])
    _map(platform, "orders", "echo", batch_size=50)
    wait_for(lambda: len(delivered(out)) >= 600, what="every record")
    records = [r for call in calls(out) for r in call["records"]]
    assert sorted(r[3] for r in records) == values  # each exactly once: nothing failed
    assert max(len(call["records"]) for call in calls(out)) <= 50
    assert all(len({r[0] for r in call["records"]}) == 1 for call in calls(out))  # a batch is one shard's
    by_shard: dict[str, list[int]] = defaultdict(list)
    for shard, sequence, _, _ in records:
        by_shard[shard].append(int(sequence))
    assert len(by_shard) == 3
    assert all(seqs == sorted(seqs) for seqs in by_shard.values())
    assert sorted(str(s) for seqs in by_shard.values() for s in seqs) == sorted(numbers)
    mapping = platform.mappings.get_event_source_mapping(platform.mappings.list_event_source_mappings()[0][0].uuid)
    assert (mapping.state, mapping.last_processing_result) == (MappingState.ENABLED, "OK")


def test_latest_reads_only_what_is_put_after_creation(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "echo", ECHO)
    platform.streams.create_stream("latest", 2)
    _put(platform, "latest", ["old-1", "old-2"])
    _map(platform, "latest", "echo", starting_position=StartingPosition.LATEST)
    _put(platform, "latest", ["new-1", "new-2", "new-3"])
    wait_for(lambda: len(delivered(out)) >= 3)
    time.sleep(0.2)
    assert sorted(delivered(out)) == ["new-1", "new-2", "new-3"]


def test_at_timestamp_starts_at_the_first_record_put_then(platform: Platform, tmp_path: Path,
                                                          clock: ManualClock) -> None:
    out = make_function(platform, tmp_path, "echo", ECHO)
    platform.streams.create_stream("stamped", 1)
    _put(platform, "stamped", ["before"])
    clock.advance(60)
    start = clock.now()
    _put(platform, "stamped", ["at", "after"])
    _map(platform, "stamped", "echo", starting_position=StartingPosition.AT_TIMESTAMP,
         starting_position_timestamp=start)
    wait_for(lambda: len(delivered(out)) >= 2)
    time.sleep(0.2)
    assert delivered(out) == ["at", "after"]


def test_restart_resumes_after_the_last_checkpoint(settings_factory: Callable[..., Settings], tmp_path: Path,
                                                   clock: ManualClock) -> None:
    settings = settings_factory(mapping_poll_seconds=0.01)
    with Platform(settings, clock) as platform:
        out = make_function(platform, tmp_path, "echo", ECHO)
        platform.streams.create_stream("durable", 2)
        _map(platform, "durable", "echo", batch_size=10)
        _put(platform, "durable", [f"first-{i}" for i in range(40)])
        wait_for(lambda: len(delivered(out)) >= 40)
    platform = Platform(settings, clock)
    try:
        _put(platform, "durable", [f"second-{i}" for i in range(30)])  # while nothing reads
        platform.start()
        wait_for(lambda: len(delivered(out)) >= 70)
        time.sleep(0.2)
        assert sorted(delivered(out)) == sorted([f"first-{i}" for i in range(40)] + [f"second-{i}" for i in range(30)])
    finally:
        platform.close()


def test_parent_shards_are_drained_before_their_children(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "echo", ECHO)
    platform.streams.create_stream("split", 1)
    keys = [f"key-{i % 8}" for i in range(80)]
    _put(platform, "split", [f"a{i:02d}" for i in range(80)], keys)
    platform.streams.update_shard_count("split", 2)
    _put(platform, "split", [f"b{i:02d}" for i in range(80)], keys)
    _map(platform, "split", "echo", batch_size=7)
    wait_for(lambda: len(delivered(out)) >= 160)
    shards = [r[0] for call in calls(out) for r in call["records"]]
    parent_last = max(i for i, shard in enumerate(shards) if shard == "shardId-000000000000")
    assert parent_last == 79 and set(shards[80:]) == {"shardId-000000000001", "shardId-000000000002"}
    per_key: dict[str, list[str]] = defaultdict(list)
    for _, _, key, value in (r for call in calls(out) for r in call["records"]):
        per_key[key].append(value)
    assert all(values == sorted(values) for values in per_key.values())  # a... before b..., in order


def test_parallelization_factor_runs_lanes_at_once_and_keeps_key_order(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "slow", '''
import time
def lambda_handler(event, context):
    started = time.time()
    time.sleep(0.15)
    record(event, {"started": started})
''')
    platform.streams.create_stream("lanes", 1)
    _put(platform, "lanes", [f"{i:03d}" for i in range(120)], [f"key-{i % 12}" for i in range(120)])
    _map(platform, "lanes", "slow", batch_size=10, parallelization_factor=4)
    wait_for(lambda: len(delivered(out)) >= 120)
    per_key: dict[str, list[str]] = defaultdict(list)
    for call in calls(out):
        assert len({r[2] for r in call["records"]}) >= 1 and len(call["records"]) <= 10
        for _, _, key, value in call["records"]:
            per_key[key].append(value)
    assert all(values == sorted(values) for values in per_key.values())
    spans = sorted((call["started"], call["at"]) for call in calls(out))
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), "no two batches overlapped"
    assert len({call["pid"] for call in calls(out)}) > 1


def test_batching_window_gathers_records_into_one_batch(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "echo", ECHO)
    platform.streams.create_stream("window", 1)
    _map(platform, "window", "echo", batch_size=100, maximum_batching_window_in_seconds=1)
    started = time.monotonic()
    for i in range(5):
        _put(platform, "window", [f"w{i}"])
        time.sleep(0.05)
    wait_for(lambda: calls(out), what="the windowed batch")
    assert time.monotonic() - started >= 0.9
    assert [len(call["records"]) for call in calls(out)] == [5]


def test_disabled_mapping_reads_nothing_until_enabled(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "echo", ECHO)
    platform.streams.create_stream("paused", 1)
    uuid = _map(platform, "paused", "echo", enabled=False)
    assert platform.mappings.get_event_source_mapping(uuid).state is MappingState.DISABLED
    _put(platform, "paused", ["p1", "p2"])
    time.sleep(0.3)
    assert delivered(out) == []
    updated = platform.mappings.update_event_source_mapping(uuid, enabled=True)
    assert updated.state is MappingState.ENABLING  # as answered; it settles at once (transition_seconds=0)
    wait_for(lambda: delivered(out) == ["p1", "p2"])
    assert platform.mappings.get_event_source_mapping(uuid).state is MappingState.ENABLED


def test_deleted_mapping_stops_reading(platform: Platform, tmp_path: Path) -> None:
    out = make_function(platform, tmp_path, "echo", ECHO)
    platform.streams.create_stream("gone", 1)
    uuid = _map(platform, "gone", "echo")
    _put(platform, "gone", ["g1"])
    wait_for(lambda: delivered(out) == ["g1"])
    assert platform.mappings.delete_event_source_mapping(uuid).state is MappingState.DELETING
    _put(platform, "gone", ["g2"])
    time.sleep(0.3)
    assert delivered(out) == ["g1"]
    assert platform.mappings.list_event_source_mappings() == ([], None)


def test_a_stream_still_creating_is_a_passing_problem(settings_factory: Callable[..., Settings], tmp_path: Path,
                                                      clock: ManualClock) -> None:
    with Platform(settings_factory(mapping_poll_seconds=0.01, transition_seconds=5), clock) as platform:
        out = make_function(platform, tmp_path, "echo", ECHO)
        platform.streams.create_stream("young", 1)  # CREATING for 5 s of the manual clock
        uuid = _map(platform, "young", "echo")
        wait_for(lambda: platform.mappings.get_event_source_mapping(uuid).last_processing_result.startswith(
            "PROBLEM: Stream young"), what="the problem to show")
        clock.advance(5)
        wait_for(lambda: platform.mappings.get_event_source_mapping(uuid).last_processing_result ==
                 "No records processed", what="the problem to clear")
        _put(platform, "young", ["y1"])
        wait_for(lambda: delivered(out) == ["y1"])
        assert platform.mappings.get_event_source_mapping(uuid).state is MappingState.ENABLED
