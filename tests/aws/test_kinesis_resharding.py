"""Kinesis resharding through boto3: SplitShard, MergeShards, UpdateShardCount, shard lineage,
reading across it, and ListShards with its filters and pagination.

Pages cited are under https://docs.aws.amazon.com/kinesis/latest/APIReference/ (API_<Operation>.html)
unless a test names another.
"""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from typing import Any


from support import aws_error, wait_status

MAX_HASH_KEY = 2**128 - 1


def shard_id(index: int) -> str:
    return f"shardId-{index:012d}"


def hash_range(shard: dict[str, Any]) -> tuple[int, int]:
    return int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])


def uniform(count: int) -> list[tuple[int, int]]:
    """AWS's uniform split of the hash key space into ``count`` ranges."""
    starts = [i * 2**128 // count for i in range(count)] + [2**128]
    return [(starts[i], starts[i + 1] - 1) for i in range(count)]


def all_shards(kinesis: Any, name: str, **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {s["ShardId"]: s for s in kinesis.list_shards(StreamName=name, **kwargs)["Shards"]}


def open_ranges(kinesis: Any, name: str) -> list[tuple[int, int]]:
    return sorted(hash_range(s) for s in all_shards(kinesis, name, ShardFilter={"Type": "AT_LATEST"}).values())


def read_shard(kinesis: Any, name: str, shard: str, limit: int = 10_000) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every record of a shard, and the last GetRecords answer (the end of a closed shard, or an
    empty answer at the tip of an open one)."""
    shard_iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard,
                                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records: list[dict[str, Any]] = []
    while True:
        answer = kinesis.get_records(ShardIterator=shard_iterator, Limit=limit)
        records += answer["Records"]
        if "NextShardIterator" not in answer or not answer["Records"]:
            return records, answer
        shard_iterator = answer["NextShardIterator"]


def md5_hash_key(partition_key: str) -> int:
    return int(hashlib.md5(partition_key.encode()).hexdigest(), 16)


# -- SplitShard --------------------------------------------------------------------------------


def test_split_shard_closes_the_parent_and_opens_two_children(kinesis, stream_factory):
    """API_SplitShard: the parent closes (its SequenceNumberRange gets an EndingSequenceNumber) and two
    children split its hash key range at NewStartingHashKey. API_GetRecords: reading the closed parent
    ends with no NextShardIterator and the ChildShards."""
    name = stream_factory(shards=1)
    before = [kinesis.put_record(StreamName=name, Data=f"before-{i}".encode(), PartitionKey=f"k{i}")
              for i in range(6)]
    kinesis.split_shard(StreamName=name, ShardToSplit=shard_id(0), NewStartingHashKey=str(2**127))
    wait_status(kinesis, name, "ACTIVE")

    shards = all_shards(kinesis, name)
    parent, left, right = shards[shard_id(0)], shards[shard_id(1)], shards[shard_id(2)]
    assert (left["ParentShardId"], right["ParentShardId"]) == (shard_id(0), shard_id(0))
    assert "AdjacentParentShardId" not in left and "AdjacentParentShardId" not in right
    assert (hash_range(left), hash_range(right)) == ((0, 2**127 - 1), (2**127, MAX_HASH_KEY))
    ending = int(parent["SequenceNumberRange"]["EndingSequenceNumber"])
    assert ending >= int(before[-1]["SequenceNumber"])
    for child in (left, right):
        assert "EndingSequenceNumber" not in child["SequenceNumberRange"]
        assert int(child["SequenceNumberRange"]["StartingSequenceNumber"]) > ending

    records, last = read_shard(kinesis, name, shard_id(0), limit=4)
    assert [r["Data"] for r in records] == [f"before-{i}".encode() for i in range(6)]
    assert "NextShardIterator" not in last
    assert last["ChildShards"] == [
        {"ShardId": shard_id(1), "ParentShards": [shard_id(0)],
         "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(2**127 - 1)}},
        {"ShardId": shard_id(2), "ParentShards": [shard_id(0)],
         "HashKeyRange": {"StartingHashKey": str(2**127), "EndingHashKey": str(MAX_HASH_KEY)}}]
    latest = kinesis.get_shard_iterator(StreamName=name, ShardId=shard_id(0), ShardIteratorType="LATEST")
    at_end = kinesis.get_records(ShardIterator=latest["ShardIterator"])
    assert at_end["Records"] == [] and "NextShardIterator" not in at_end and len(at_end["ChildShards"]) == 2

    keys = [f"after-{i}" for i in range(20)]
    for key in keys:
        expected = shard_id(1) if md5_hash_key(key) < 2**127 else shard_id(2)
        assert kinesis.put_record(StreamName=name, Data=key.encode(), PartitionKey=key)["ShardId"] == expected
    children = read_shard(kinesis, name, shard_id(1))[0] + read_shard(kinesis, name, shard_id(2))[0]
    assert sorted(r["Data"] for r in children) == sorted(k.encode() for k in keys)
    assert read_shard(kinesis, name, shard_id(0))[0] == records  # nothing new in the parent


def test_split_shard_errors(kinesis, stream_factory):
    """API_SplitShard: NewStartingHashKey must lie inside the shard's range (InvalidArgumentException);
    an unknown shard is ResourceNotFoundException."""
    name = stream_factory(shards=2)
    low, high = hash_range(all_shards(kinesis, name)[shard_id(1)])
    for bad in (low, high + 1, 0, MAX_HASH_KEY):
        with aws_error("InvalidArgumentException", "NewStartingHashKey"):
            kinesis.split_shard(StreamName=name, ShardToSplit=shard_id(1), NewStartingHashKey=str(bad))
    with aws_error("InvalidArgumentException"):
        kinesis.split_shard(StreamName=name, ShardToSplit=shard_id(1), NewStartingHashKey=str(2**128))
    with aws_error("ResourceNotFoundException", shard_id(7)):
        kinesis.split_shard(StreamName=name, ShardToSplit=shard_id(7), NewStartingHashKey=str(low + 10))
    assert len(all_shards(kinesis, name)) == 2
    kinesis.split_shard(StreamName=name, ShardToSplit=shard_id(1), NewStartingHashKey=str(low + 10))
    wait_status(kinesis, name, "ACTIVE")
    with aws_error("ResourceInUseException", shard_id(1), "already been merged or split"):
        kinesis.split_shard(StreamName=name, ShardToSplit=shard_id(1), NewStartingHashKey=str(low + 20))
    with aws_error("ResourceInUseException", shard_id(1), "already been merged or split"):
        kinesis.merge_shards(StreamName=name, ShardToMerge=shard_id(0), AdjacentShardToMerge=shard_id(1))


# -- MergeShards -------------------------------------------------------------------------------


def test_merge_shards(kinesis, stream_factory):
    """API_MergeShards: two adjacent shards close into one child that covers both ranges, with
    ParentShardId and AdjacentParentShardId; non-adjacent shards are InvalidArgumentException."""
    name = stream_factory(shards=3)
    shards = all_shards(kinesis, name)
    with aws_error("InvalidArgumentException", "adjacent"):
        kinesis.merge_shards(StreamName=name, ShardToMerge=shard_id(0), AdjacentShardToMerge=shard_id(2))
    with aws_error("InvalidArgumentException", "adjacent"):
        kinesis.merge_shards(StreamName=name, ShardToMerge=shard_id(1), AdjacentShardToMerge=shard_id(1))
    with aws_error("ResourceNotFoundException"):
        kinesis.merge_shards(StreamName=name, ShardToMerge=shard_id(1), AdjacentShardToMerge=shard_id(9))
    for index in (0, 1):
        kinesis.put_record(StreamName=name, Data=f"in-{index}".encode(), PartitionKey="k",
                           ExplicitHashKey=str(hash_range(shards[shard_id(index)])[0]))

    kinesis.merge_shards(StreamName=name, ShardToMerge=shard_id(1), AdjacentShardToMerge=shard_id(0))
    wait_status(kinesis, name, "ACTIVE")
    merged = all_shards(kinesis, name)[shard_id(3)]
    assert (merged["ParentShardId"], merged["AdjacentParentShardId"]) == (shard_id(1), shard_id(0))
    assert hash_range(merged) == (0, hash_range(shards[shard_id(1)])[1])
    assert sorted(all_shards(kinesis, name, ShardFilter={"Type": "AT_LATEST"})) == [shard_id(2), shard_id(3)]
    for index in (0, 1):
        records, last = read_shard(kinesis, name, shard_id(index))
        assert [r["Data"] for r in records] == [f"in-{index}".encode()]
        assert "NextShardIterator" not in last
        assert [(c["ShardId"], c["ParentShards"]) for c in last["ChildShards"]] == [
            (shard_id(3), [shard_id(1), shard_id(0)])]
    put = kinesis.put_record(StreamName=name, Data=b"merged", PartitionKey="k", ExplicitHashKey="0")
    assert put["ShardId"] == shard_id(3)


# -- UpdateShardCount --------------------------------------------------------------------------


def test_update_shard_count_keeps_every_record_readable_in_order(kinesis, stream_factory):
    """API_UpdateShardCount with UNIFORM_SCALING: 2 -> 4 -> 2 -> 3 open shards with uniform ranges,
    through splits and merges whose lineage (ParentShardId, AdjacentParentShardId, ChildShards) lets a
    reader that finishes parents before children see every record of a partition key in order."""
    name = stream_factory(shards=2)
    keys = [f"user-{i}" for i in range(16)]
    written: dict[str, list[bytes]] = {k: [] for k in keys}

    def put_round(stage: int) -> None:
        open_now = all_shards(kinesis, name, ShardFilter={"Type": "AT_LATEST"})
        covering = {sid: hash_range(s) for sid, s in open_now.items()}
        expected = [[sid for sid, (low, high) in covering.items() if low <= md5_hash_key(k) <= high] for k in keys]
        for turn in range(2):
            entries = [{"Data": f"{k}:{stage}:{turn}".encode(), "PartitionKey": k} for k in keys]
            answer = kinesis.put_records(StreamName=name, Records=entries)
            assert answer["FailedRecordCount"] == 0
            assert [[r["ShardId"]] for r in answer["Records"]] == expected  # routed by hash key range
            for entry in entries:
                written[entry["PartitionKey"]].append(entry["Data"])

    put_round(0)
    previous = 2
    for stage, target in enumerate([4, 2, 3], start=1):
        answer = kinesis.update_shard_count(StreamName=name, TargetShardCount=target, ScalingType="UNIFORM_SCALING")
        assert (answer["CurrentShardCount"], answer["TargetShardCount"]) == (previous, target)
        assert answer["StreamName"] == name
        wait_status(kinesis, name, "ACTIVE")
        assert open_ranges(kinesis, name) == uniform(target)
        put_round(stage)
        previous = target
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 3

    shards = all_shards(kinesis, name)
    parents = {sid: [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p]
               for sid, s in shards.items()}
    assert [sid for sid, ps in parents.items() if not ps] == [shard_id(0), shard_id(1)]
    for sid, shard_parents in parents.items():
        for parent in shard_parents:
            ending = shards[parent]["SequenceNumberRange"]["EndingSequenceNumber"]
            assert int(shards[sid]["SequenceNumberRange"]["StartingSequenceNumber"]) > int(ending)

    # Read like a consumer: a shard only after all of its parents (Kahn's order over the lineage).
    done: set[str] = set()
    by_key: dict[str, list[bytes]] = {k: [] for k in keys}
    while len(done) < len(shards):
        ready = [sid for sid in sorted(shards) if sid not in done and all(p in done for p in parents[sid])]
        assert ready, "the lineage has a cycle or a missing parent"
        for sid in ready:
            records, last = read_shard(kinesis, name, sid, limit=7)
            for record in records:
                by_key[record["PartitionKey"]].append(record["Data"])
            closed = "EndingSequenceNumber" in shards[sid]["SequenceNumberRange"]
            assert ("NextShardIterator" not in last) == closed
            if closed:
                assert sorted(c["ShardId"] for c in last["ChildShards"]) == sorted(
                    child for child, ps in parents.items() if sid in ps)
            done.add(sid)
    assert by_key == written


def test_update_shard_count_limits(server, kinesis, stream_factory):
    """API_UpdateShardCount: no more than double, and not below half, the current open shard count
    (LimitExceededException); TargetShardCount >= 1 and ScalingType UNIFORM_SCALING are model rules."""
    name = stream_factory(shards=2)
    with aws_error("LimitExceededException", "double"):
        kinesis.update_shard_count(StreamName=name, TargetShardCount=5, ScalingType="UNIFORM_SCALING")
    kinesis.update_shard_count(StreamName=name, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    wait_status(kinesis, name, "ACTIVE")
    with aws_error("LimitExceededException", "half"):
        kinesis.update_shard_count(StreamName=name, TargetShardCount=1, ScalingType="UNIFORM_SCALING")
    raw = server.client("kinesis", parameter_validation=False)
    with aws_error("ValidationException", "targetShardCount"):
        raw.update_shard_count(StreamName=name, TargetShardCount=0, ScalingType="UNIFORM_SCALING")
    with aws_error("ValidationException", "scalingType"):
        raw.update_shard_count(StreamName=name, TargetShardCount=3, ScalingType="RANDOM_SCALING")
    assert len(open_ranges(kinesis, name)) == 4


def test_resharding_while_updating_is_resource_in_use(server_factory):
    """API_SplitShard / API_MergeShards / API_UpdateShardCount: the stream must be ACTIVE, otherwise
    ResourceInUseException. API_UpdateShardCount: "You can continue to read and write data to your
    stream while its status is UPDATING"."""
    kinesis = server_factory(transition_seconds="1").client("kinesis")  # room for the calls while UPDATING
    kinesis.create_stream(StreamName="scaling", ShardCount=2)
    wait_status(kinesis, "scaling", "ACTIVE")
    kinesis.update_shard_count(StreamName="scaling", TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    status = kinesis.describe_stream_summary(StreamName="scaling")["StreamDescriptionSummary"]["StreamStatus"]
    assert status == "UPDATING"
    open_now = sorted(all_shards(kinesis, "scaling", ShardFilter={"Type": "AT_LATEST"}))
    with aws_error("ResourceInUseException", "UPDATING"):
        kinesis.split_shard(StreamName="scaling", ShardToSplit=open_now[0], NewStartingHashKey="12345")
    with aws_error("ResourceInUseException", "UPDATING"):
        kinesis.merge_shards(StreamName="scaling", ShardToMerge=open_now[0], AdjacentShardToMerge=open_now[1])
    with aws_error("ResourceInUseException", "UPDATING"):
        kinesis.update_shard_count(StreamName="scaling", TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    put = kinesis.put_record(StreamName="scaling", Data=b"during", PartitionKey="k")
    assert put["ShardId"] in open_now
    wait_status(kinesis, "scaling", "ACTIVE")
    kinesis.split_shard(StreamName="scaling", ShardToSplit=open_now[0],
                        NewStartingHashKey=str(sum(hash_range(all_shards(kinesis, "scaling")[open_now[0]])) // 2))


# -- ListShards --------------------------------------------------------------------------------


def test_list_shards_filters(kinesis, stream_factory):
    """API_ShardFilter: AFTER_SHARD_ID, AT_TRIM_HORIZON (open at the trim horizon), FROM_TRIM_HORIZON
    (all within retention), AT_LATEST (open now), AT_TIMESTAMP (open at the time), FROM_TIMESTAMP
    (closed at or after the time, and all open shards)."""
    name = stream_factory(shards=2)
    time.sleep(0.05)
    before_split = datetime.now(timezone.utc)
    time.sleep(0.05)
    kinesis.split_shard(StreamName=name, ShardToSplit=shard_id(0), NewStartingHashKey=str(2**126))
    wait_status(kinesis, name, "ACTIVE")
    time.sleep(0.05)
    after_split = datetime.now(timezone.utc)

    def listed(**shard_filter: Any) -> list[str]:
        return sorted(all_shards(kinesis, name, ShardFilter=shard_filter))

    everything = [shard_id(i) for i in range(4)]
    assert sorted(all_shards(kinesis, name)) == everything
    assert listed(Type="AFTER_SHARD_ID", ShardId=shard_id(1)) == [shard_id(2), shard_id(3)]
    assert listed(Type="AT_TRIM_HORIZON") == [shard_id(0), shard_id(1)]
    assert listed(Type="FROM_TRIM_HORIZON") == everything
    assert listed(Type="AT_LATEST") == [shard_id(1), shard_id(2), shard_id(3)]
    assert listed(Type="AT_TIMESTAMP", Timestamp=before_split) == [shard_id(0), shard_id(1)]
    assert listed(Type="AT_TIMESTAMP", Timestamp=after_split) == [shard_id(1), shard_id(2), shard_id(3)]
    assert listed(Type="FROM_TIMESTAMP", Timestamp=before_split) == everything
    assert listed(Type="FROM_TIMESTAMP", Timestamp=after_split) == [shard_id(1), shard_id(2), shard_id(3)]
    with aws_error("InvalidArgumentException", "ShardId"):
        listed(Type="AFTER_SHARD_ID")
    with aws_error("InvalidArgumentException", "Timestamp"):
        listed(Type="AT_TIMESTAMP")


def test_list_shards_pagination(kinesis, stream_factory):
    """API_ListShards: MaxResults pages; NextToken alone names the stream ("Don't specify StreamName or
    StreamCreationTimestamp if you specify NextToken"), both together are InvalidArgumentException;
    ExclusiveStartShardId starts after a shard."""
    name = stream_factory(shards=5)
    page = kinesis.list_shards(StreamName=name, MaxResults=2)
    seen = [s["ShardId"] for s in page["Shards"]]
    while "NextToken" in page:
        with aws_error("InvalidArgumentException", "NextToken", "StreamName"):
            kinesis.list_shards(StreamName=name, NextToken=page["NextToken"])
        page = kinesis.list_shards(NextToken=page["NextToken"], MaxResults=2)
        assert len(page["Shards"]) <= 2
        seen += [s["ShardId"] for s in page["Shards"]]
    assert seen == [shard_id(i) for i in range(5)]
    after = kinesis.list_shards(StreamName=name, ExclusiveStartShardId=shard_id(2))
    assert [s["ShardId"] for s in after["Shards"]] == [shard_id(3), shard_id(4)] and "NextToken" not in after
    # botocore's ListShards paginator resends StreamName with NextToken, which AWS rejects too
    # (boto/botocore#2009); tidelake answers the same way instead of hiding the client bug.
    with aws_error("InvalidArgumentException", "NextToken"):
        list(kinesis.get_paginator("list_shards").paginate(StreamName=name, PaginationConfig={"PageSize": 2}))
