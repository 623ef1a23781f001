"""Kinesis stream management through boto3: lifecycle, description, listing, tags, retention,
monitoring, encryption, stream mode, enhanced fan-out registration, malformed requests and SigV4.

Pages cited are under https://docs.aws.amazon.com/kinesis/latest/APIReference/ (API_<Operation>.html)
unless a test names another.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import boto3
import botocore.session
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from support import ServerProcess, aws_error, wait_status
from tidelake.aws.kinesis import KinesisApi

MAX_HASH_KEY = 2**128 - 1
ALL_METRICS = {"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
               "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds"}


@pytest.fixture
def raw_kinesis(server: Any) -> Any:
    """A client without botocore's own parameter validation, so the server's checks are what answers."""
    return server.client("kinesis", parameter_validation=False)


@pytest.fixture(scope="module")
def slow_kinesis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A client of one server (shared by this module's tests) where streams and consumers stay
    CREATING / UPDATING / DELETING for 0.5 s, so those states can be observed."""
    server = ServerProcess(tmp_path_factory.mktemp("slow-transitions") / "data",
                           {"TIDELAKE_TRANSITION_SECONDS": "0.5"}).start()
    yield server.client("kinesis")
    server.stop()


def summary(kinesis: Any, name: str) -> dict[str, Any]:
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]


def wait_gone(kinesis: Any, name: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            kinesis.describe_stream_summary(StreamName=name)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException"
            return
        assert time.monotonic() < deadline, f"stream {name} was never deleted"
        time.sleep(0.02)


# -- CreateStream ------------------------------------------------------------------------------


def test_create_provisioned_stream(kinesis, stream_factory):
    """API_CreateStream / API_DescribeStream: ShardCount shards split the 128-bit hash key space evenly."""
    name = stream_factory(shards=3)
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert description["StreamName"] == name
    assert description["StreamARN"] == f"arn:aws:kinesis:us-east-1:000000000000:stream/{name}"
    assert description["StreamStatus"] == "ACTIVE"
    assert description["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert description["RetentionPeriodHours"] == 24
    assert description["EncryptionType"] == "NONE"
    assert description["HasMoreShards"] is False
    shards = description["Shards"]
    assert [s["ShardId"] for s in shards] == [f"shardId-00000000000{i}" for i in range(3)]
    ranges = [(int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])) for s in shards]
    assert ranges[0][0] == 0 and ranges[-1][1] == MAX_HASH_KEY
    assert all(high + 1 == next_low for (_, high), (next_low, _) in zip(ranges, ranges[1:]))
    assert max(h - l for l, h in ranges) - min(h - l for l, h in ranges) <= 1
    for shard in shards:
        assert "ParentShardId" not in shard and "EndingSequenceNumber" not in shard["SequenceNumberRange"]
        start = shard["SequenceNumberRange"]["StartingSequenceNumber"]
        assert start.isdigit() and len(start) == 56


def test_create_on_demand_stream_gets_four_shards(kinesis, stream_factory):
    """API_StreamModeDetails: ON_DEMAND streams take no ShardCount. They start with 4 shards: "new data
    streams created with the on-demand capacity mode have 4 MB/s of write" (developer guide, "Quotas and
    limits", https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html)."""
    before = kinesis.describe_limits()["OnDemandStreamCount"]
    name = stream_factory(StreamModeDetails={"StreamMode": "ON_DEMAND"})
    stream = summary(kinesis, name)
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["OpenShardCount"] == 4
    assert len(kinesis.list_shards(StreamName=name)["Shards"]) == 4
    assert kinesis.describe_limits()["OnDemandStreamCount"] == before + 1
    with aws_error("InvalidArgumentException", "ShardCount"):  # a parameter that "can't be used" here
        kinesis.create_stream(StreamName=name + "-x", ShardCount=2, StreamModeDetails={"StreamMode": "ON_DEMAND"})


def test_stream_is_creating_then_active(slow_kinesis):
    """API_CreateStream: the stream is CREATING first, then ACTIVE; until then it takes no records."""
    kinesis = slow_kinesis
    kinesis.create_stream(StreamName="slow-start", ShardCount=1)
    assert summary(kinesis, "slow-start")["StreamStatus"] == "CREATING"
    with aws_error("ResourceNotFoundException", "slow-start"):
        kinesis.put_record(StreamName="slow-start", Data=b"x", PartitionKey="k")
    wait_status(kinesis, "slow-start", "ACTIVE")
    assert kinesis.put_record(StreamName="slow-start", Data=b"x", PartitionKey="k")["ShardId"] == "shardId-000000000000"


def test_delete_stream_then_recreate_the_name(slow_kinesis):
    """API_DeleteStream: the stream is DELETING, then gone (ResourceNotFoundException). A new stream
    with the same name is a different stream: the old one's records, sequence numbers and iterators
    do not carry over."""
    kinesis = slow_kinesis
    kinesis.create_stream(StreamName="phoenix", ShardCount=1)
    wait_status(kinesis, "phoenix", "ACTIVE")
    old = kinesis.put_record(StreamName="phoenix", Data=b"old", PartitionKey="k")
    old_iterator = kinesis.get_shard_iterator(StreamName="phoenix", ShardId=old["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    kinesis.delete_stream(StreamName="phoenix")
    assert summary(kinesis, "phoenix")["StreamStatus"] == "DELETING"
    with aws_error("ResourceNotFoundException"):
        kinesis.put_record(StreamName="phoenix", Data=b"x", PartitionKey="k")
    wait_gone(kinesis, "phoenix")
    with aws_error("ResourceNotFoundException", "phoenix"):
        kinesis.describe_stream(StreamName="phoenix")
    with aws_error("ResourceNotFoundException", "phoenix"):
        kinesis.delete_stream(StreamName="phoenix")

    kinesis.create_stream(StreamName="phoenix", ShardCount=1)
    wait_status(kinesis, "phoenix", "ACTIVE")
    with aws_error("InvalidArgumentException", "StartingSequenceNumber"):
        kinesis.get_shard_iterator(StreamName="phoenix", ShardId=old["ShardId"],
                                   ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=old["SequenceNumber"])
    with aws_error("InvalidArgumentException", "ShardIterator"):
        kinesis.get_records(ShardIterator=old_iterator)
    new_iterator = kinesis.get_shard_iterator(StreamName="phoenix", ShardId=old["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert kinesis.get_records(ShardIterator=new_iterator)["Records"] == []


def test_duplicate_stream_name_is_resource_in_use(kinesis, stream_factory):
    """API_CreateStream: ResourceInUseException when the name is taken in the account and Region."""
    name = stream_factory()
    with aws_error("ResourceInUseException", name, "already exists"):
        kinesis.create_stream(StreamName=name, ShardCount=1)


@pytest.mark.parametrize("name", ["", "x" * 129, "has space", "slash/name", "colon:name", "ünïcode"])
def test_invalid_stream_names_fail_validation(raw_kinesis, name):
    """API_CreateStream: StreamName is 1..128 characters of [a-zA-Z0-9_.-]."""
    with aws_error("ValidationException", "streamName"):
        raw_kinesis.create_stream(StreamName=name, ShardCount=1)


def test_valid_names_use_the_whole_alphabet(kinesis, stream_factory):
    """Upper and lower case letters, digits, '.', '_' and '-' are all allowed."""
    name = stream_factory()  # unique, then extended with every allowed punctuation mark
    odd = f"A.b_C-{name}"[:128]
    kinesis.create_stream(StreamName=odd, ShardCount=1)
    assert summary(kinesis, odd)["StreamName"] == odd


def test_shard_limit_is_enforced_across_the_account(server_factory):
    """API_CreateStream / API_SplitShard / API_UpdateShardCount: LimitExceededException when a request
    would take the account's open shards over its shard limit (API_DescribeLimits reports both)."""
    kinesis = server_factory(shard_limit="4").client("kinesis")
    kinesis.create_stream(StreamName="three", ShardCount=3)
    with aws_error("LimitExceededException", "shard limit", "Limit: 4"):
        kinesis.create_stream(StreamName="two", ShardCount=2)
    with aws_error("LimitExceededException"):
        kinesis.update_shard_count(StreamName="three", TargetShardCount=5, ScalingType="UNIFORM_SCALING")
    kinesis.create_stream(StreamName="one", ShardCount=1)
    assert kinesis.describe_limits()["ShardLimit"] == 4
    assert kinesis.describe_limits()["OpenShardCount"] == 4
    with aws_error("LimitExceededException"):
        kinesis.split_shard(StreamName="one", ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127))
    kinesis.delete_stream(StreamName="one")
    assert kinesis.describe_limits()["OpenShardCount"] == 3
    kinesis.split_shard(StreamName="three", ShardToSplit="shardId-000000000000", NewStartingHashKey="1000")


# -- DescribeStream, DescribeStreamSummary, ListStreams ---------------------------------------


def test_describe_stream_pages_through_shards(kinesis, stream_factory):
    """API_DescribeStream: Limit shards per call, HasMoreShards, and ExclusiveStartShardId to go on."""
    name = stream_factory(shards=5)
    seen, start, calls = [], None, 0
    while True:
        page = kinesis.describe_stream(StreamName=name, Limit=2, **(
            {"ExclusiveStartShardId": start} if start else {}))["StreamDescription"]
        calls += 1
        seen += [s["ShardId"] for s in page["Shards"]]
        assert len(page["Shards"]) <= 2
        if not page["HasMoreShards"]:
            break
        start = page["Shards"][-1]["ShardId"]
    assert seen == [f"shardId-00000000000{i}" for i in range(5)] and calls == 3
    whole = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert len(whole["Shards"]) == 5 and whole["HasMoreShards"] is False


def test_describe_stream_summary(kinesis, stream_factory):
    """API_DescribeStreamSummary: the description without the shard list, with open shard and consumer counts."""
    name = stream_factory(shards=2)
    arn = summary(kinesis, name)["StreamARN"]
    kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="counted")
    stream = summary(kinesis, name)
    assert "Shards" not in stream
    assert stream["OpenShardCount"] == 2 and stream["ConsumerCount"] == 1
    assert stream["StreamStatus"] == "ACTIVE" and stream["RetentionPeriodHours"] == 24
    assert stream["EnhancedMonitoring"] == [{"ShardLevelMetrics": []}]
    assert stream["StreamCreationTimestamp"].timestamp() == pytest.approx(time.time(), abs=30)
    with aws_error("ResourceNotFoundException", "no-such-stream-summary"):
        kinesis.describe_stream_summary(StreamName="no-such-stream-summary")


def test_list_streams_paginates(kinesis, stream_factory):
    """API_ListStreams: Limit, HasMoreStreams and NextToken; boto3's paginator follows them."""
    names = [stream_factory() for _ in range(5)]
    pages = list(kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2}))
    listed = [n for page in pages for n in page["StreamNames"]]
    assert all(len(page["StreamNames"]) <= 2 for page in pages)
    assert listed == sorted(set(listed))  # each once, in name order
    assert set(names) <= set(listed)
    summaries = {s["StreamName"]: s for page in pages for s in page["StreamSummaries"]}
    assert summaries[names[0]]["StreamARN"].endswith(f":stream/{names[0]}")
    assert summaries[names[0]]["StreamStatus"] == "ACTIVE"

    first = kinesis.list_streams(Limit=2)
    assert len(first["StreamNames"]) == 2 and first["HasMoreStreams"] is True and first["NextToken"]
    names.sort()
    after = kinesis.list_streams(ExclusiveStartStreamName=names[0], Limit=10_000)
    assert names[0] not in after["StreamNames"] and set(names[1:]) <= set(after["StreamNames"])
    assert after["HasMoreStreams"] is False and "NextToken" not in after


# -- tags --------------------------------------------------------------------------------------


def test_stream_tags(kinesis, stream_factory):
    """API_AddTagsToStream overwrites existing keys; API_ListTagsForStream pages with Limit,
    ExclusiveStartTagKey and HasMoreTags; API_RemoveTagsFromStream removes."""
    name = stream_factory(Tags={"team": "data"})
    kinesis.add_tags_to_stream(StreamName=name, Tags={"env": "test", "cost": "42", "team": "platform"})
    page = kinesis.list_tags_for_stream(StreamName=name, Limit=2)
    assert page["Tags"] == [{"Key": "cost", "Value": "42"}, {"Key": "env", "Value": "test"}]
    assert page["HasMoreTags"] is True
    rest = kinesis.list_tags_for_stream(StreamName=name, ExclusiveStartTagKey="env")
    assert rest["Tags"] == [{"Key": "team", "Value": "platform"}] and rest["HasMoreTags"] is False
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["cost", "not-there"])
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [
        {"Key": "env", "Value": "test"}, {"Key": "team", "Value": "platform"}]


def test_resource_tags_by_arn(kinesis, stream_factory):
    """API_TagResource / API_UntagResource / API_ListTagsForResource address the stream by ARN."""
    name = stream_factory()
    arn = summary(kinesis, name)["StreamARN"]
    kinesis.tag_resource(ResourceARN=arn, Tags={"a": "1", "b": "2"})
    assert kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "a", "Value": "1"},
                                                                      {"Key": "b", "Value": "2"}]
    kinesis.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [{"Key": "b", "Value": "2"}]
    with aws_error("ResourceNotFoundException"):
        kinesis.list_tags_for_resource(ResourceARN=arn.replace(name, "no-such-tagged-stream"))


def test_consumer_tags_are_refused_not_put_on_the_stream(kinesis, stream_factory):
    """API_TagResource accepts consumer ARNs in AWS; tidelake does not keep consumer tags, and says so
    (501) rather than tagging the consumer's stream instead."""
    name = stream_factory()
    arn = summary(kinesis, name)["StreamARN"]
    consumer_arn = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="tagged")["Consumer"]["ConsumerARN"]
    for call in (lambda: kinesis.tag_resource(ResourceARN=consumer_arn, Tags={"k": "v"}),
                 lambda: kinesis.untag_resource(ResourceARN=consumer_arn, TagKeys=["k"]),
                 lambda: kinesis.list_tags_for_resource(ResourceARN=consumer_arn)):
        with aws_error("NotImplemented", "consumers"):
            call()
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == []


# -- retention, limits, monitoring, encryption, mode --------------------------------------------


def test_retention_period_rules(kinesis, stream_factory):
    """API_IncreaseStreamRetentionPeriod (max 8760 hours) and API_DecreaseStreamRetentionPeriod
    (min 24 hours); asking either one to move the other way is InvalidArgumentException."""
    name = stream_factory()
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    assert summary(kinesis, name)["RetentionPeriodHours"] == 48
    with aws_error("InvalidArgumentException", "can not be shorter", "DecreaseRetentionPeriod"):
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=36)
    with aws_error("InvalidArgumentException", "can not be longer", "IncreaseRetentionPeriod"):
        kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=72)
    with aws_error("InvalidArgumentException", "8760"):
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=8761)
    with aws_error("InvalidArgumentException", "24"):
        kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=23)
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=8760)
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
    assert summary(kinesis, name)["RetentionPeriodHours"] == 24


def test_describe_limits(kinesis, stream_factory):
    """API_DescribeLimits: the account's shard limit and its open shards."""
    before = kinesis.describe_limits()
    stream_factory(shards=2)
    after = kinesis.describe_limits()
    assert after["ShardLimit"] == 500
    assert after["OpenShardCount"] == before["OpenShardCount"] + 2
    assert after["OnDemandStreamCountLimit"] == 50


def test_enhanced_monitoring(raw_kinesis, stream_factory):
    """API_EnableEnhancedMonitoring / API_DisableEnhancedMonitoring: report the metrics before and after;
    ALL stands for all seven."""
    kinesis = raw_kinesis
    name = stream_factory()
    enabled = kinesis.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes", "OutgoingBytes"])
    assert enabled["CurrentShardLevelMetrics"] == []
    assert set(enabled["DesiredShardLevelMetrics"]) == {"IncomingBytes", "OutgoingBytes"}
    assert enabled["StreamName"] == name and enabled["StreamARN"].endswith(name)
    everything = kinesis.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    assert set(everything["DesiredShardLevelMetrics"]) == ALL_METRICS
    disabled = kinesis.disable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes"])
    assert set(disabled["CurrentShardLevelMetrics"]) == ALL_METRICS
    assert set(disabled["DesiredShardLevelMetrics"]) == ALL_METRICS - {"IncomingBytes"}
    assert set(summary(kinesis, name)["EnhancedMonitoring"][0]["ShardLevelMetrics"]) == ALL_METRICS - {"IncomingBytes"}
    with aws_error("ValidationException", "shardLevelMetrics"):
        kinesis.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["NotAMetric"])


def test_stream_encryption(kinesis, stream_factory):
    """API_StartStreamEncryption / API_StopStreamEncryption: EncryptionType and KeyId show in the
    description, and PutRecord reports the encryption it applied."""
    name = stream_factory()
    kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    wait_status(kinesis, name, "ACTIVE")
    stream = summary(kinesis, name)
    assert (stream["EncryptionType"], stream["KeyId"]) == ("KMS", "alias/aws/kinesis")
    assert kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")["EncryptionType"] == "KMS"
    batch = kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}])
    assert batch["EncryptionType"] == "KMS"
    kinesis.stop_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    wait_status(kinesis, name, "ACTIVE")
    assert summary(kinesis, name)["EncryptionType"] == "NONE" and "KeyId" not in summary(kinesis, name)
    assert kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")["EncryptionType"] == "NONE"


def test_update_stream_mode(kinesis, stream_factory):
    """API_UpdateStreamMode: switches between PROVISIONED and ON_DEMAND, addressed by StreamARN."""
    name = stream_factory(shards=2)
    arn = summary(kinesis, name)["StreamARN"]
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    wait_status(kinesis, name, "ACTIVE")
    assert summary(kinesis, name)["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"})
    wait_status(kinesis, name, "ACTIVE")
    assert summary(kinesis, name)["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}


def test_stream_arn_instead_of_stream_name(kinesis, stream_factory):
    """Every stream operation takes StreamARN as well as StreamName ("It is recommended that you use the
    StreamARN input parameter")."""
    name = stream_factory(shards=2)
    arn = summary(kinesis, name)["StreamARN"]
    assert kinesis.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]["StreamName"] == name
    assert kinesis.describe_stream(StreamARN=arn)["StreamDescription"]["StreamName"] == name
    put = kinesis.put_record(StreamARN=arn, Data=b"by-arn", PartitionKey="k")
    kinesis.put_records(StreamARN=arn, Records=[{"Data": b"batch", "PartitionKey": "k"}])
    shard_iterator = kinesis.get_shard_iterator(StreamARN=arn, ShardId=put["ShardId"],
                                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=shard_iterator, StreamARN=arn)["Records"]] == [
        b"by-arn", b"batch"]
    assert len(kinesis.list_shards(StreamARN=arn)["Shards"]) == 2
    kinesis.add_tags_to_stream(StreamARN=arn, Tags={"via": "arn"})
    assert kinesis.list_tags_for_stream(StreamARN=arn)["Tags"] == [{"Key": "via", "Value": "arn"}]
    kinesis.increase_stream_retention_period(StreamARN=arn, RetentionPeriodHours=30)
    kinesis.update_shard_count(StreamARN=arn, TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    wait_status(kinesis, name, "ACTIVE")
    assert summary(kinesis, name)["OpenShardCount"] == 3
    kinesis.delete_stream(StreamARN=arn)
    wait_gone(kinesis, name)


# -- enhanced fan-out consumers ----------------------------------------------------------------


def test_stream_consumers_register_describe_list_deregister(kinesis, stream_factory):
    """API_RegisterStreamConsumer, API_DescribeStreamConsumer (by ConsumerARN, or StreamARN and
    ConsumerName), API_ListStreamConsumers (MaxResults / NextToken), API_DeregisterStreamConsumer."""
    name = stream_factory()
    arn = summary(kinesis, name)["StreamARN"]
    registered = [kinesis.register_stream_consumer(StreamARN=arn, ConsumerName=f"app-{i}")["Consumer"]
                  for i in range(3)]
    for consumer in registered:
        assert consumer["ConsumerARN"].startswith(f"{arn}/consumer/{consumer['ConsumerName']}:")
        assert consumer["ConsumerStatus"] in ("CREATING", "ACTIVE")
    by_arn = kinesis.describe_stream_consumer(ConsumerARN=registered[0]["ConsumerARN"])["ConsumerDescription"]
    by_name = kinesis.describe_stream_consumer(StreamARN=arn, ConsumerName="app-0")["ConsumerDescription"]
    assert by_arn == by_name and by_arn["StreamARN"] == arn and by_arn["ConsumerStatus"] == "ACTIVE"

    first = kinesis.list_stream_consumers(StreamARN=arn, MaxResults=2)
    second = kinesis.list_stream_consumers(StreamARN=arn, NextToken=first["NextToken"], MaxResults=2)
    assert [c["ConsumerName"] for c in first["Consumers"] + second["Consumers"]] == ["app-0", "app-1", "app-2"]
    assert "NextToken" not in second
    paged = kinesis.get_paginator("list_stream_consumers").paginate(StreamARN=arn, PaginationConfig={"PageSize": 1})
    assert [c["ConsumerName"] for page in paged for c in page["Consumers"]] == ["app-0", "app-1", "app-2"]

    with aws_error("ResourceInUseException", "app-1"):
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="app-1")
    kinesis.deregister_stream_consumer(ConsumerARN=registered[1]["ConsumerARN"])
    kinesis.deregister_stream_consumer(StreamARN=arn, ConsumerName="app-2")
    with aws_error("ResourceNotFoundException"):
        kinesis.describe_stream_consumer(ConsumerARN=registered[1]["ConsumerARN"])
    with aws_error("ResourceNotFoundException"):
        kinesis.deregister_stream_consumer(StreamARN=arn, ConsumerName="app-2")
    assert [c["ConsumerName"] for c in kinesis.list_stream_consumers(StreamARN=arn)["Consumers"]] == ["app-0"]


def test_twenty_consumers_per_stream(kinesis, stream_factory):
    """API_RegisterStreamConsumer: "you can register up to 20 consumers per stream" (provisioned and
    on-demand standard streams); the 21st is LimitExceededException."""
    arn = summary(kinesis, stream_factory())["StreamARN"]
    for i in range(20):
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName=f"c{i:02d}")
    with aws_error("LimitExceededException", "20"):
        kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="one-too-many")
    kinesis.deregister_stream_consumer(StreamARN=arn, ConsumerName="c00")
    kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="one-too-many")


def test_delete_stream_with_consumers_needs_enforce_consumer_deletion(kinesis, stream_factory):
    """API_DeleteStream: "If this parameter is unset (null) or if you set it to false, and the stream has
    registered consumers, the call to DeleteStream fails with a ResourceInUseException"."""
    name = stream_factory()
    arn = summary(kinesis, name)["StreamARN"]
    kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="reader")
    with aws_error("ResourceInUseException", name, "EnforceConsumerDeletion"):
        kinesis.delete_stream(StreamName=name)
    with aws_error("ResourceInUseException"):
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=False)
    assert summary(kinesis, name)["StreamStatus"] == "ACTIVE"
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    wait_gone(kinesis, name)


def test_consumer_is_creating_then_active(slow_kinesis):
    """API_RegisterStreamConsumer: a new consumer is CREATING before it is ACTIVE."""
    kinesis = slow_kinesis
    kinesis.create_stream(StreamName="fanout", ShardCount=1)
    wait_status(kinesis, "fanout", "ACTIVE")
    arn = summary(kinesis, "fanout")["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="c")["Consumer"]
    assert consumer["ConsumerStatus"] == "CREATING"
    time.sleep(0.6)
    assert kinesis.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])[
        "ConsumerDescription"]["ConsumerStatus"] == "ACTIVE"


def test_subscribe_to_shard_answers_not_implemented(kinesis, stream_factory):
    """SubscribeToShard (an HTTP/2 event stream) is not served: a clear 501, not a hang or a 500."""
    name = stream_factory()
    arn = summary(kinesis, name)["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="push")["Consumer"]
    with aws_error("NotImplemented", "SubscribeToShard", "GetRecords") as info:
        kinesis.subscribe_to_shard(ConsumerARN=consumer["ConsumerARN"], ShardId="shardId-000000000000",
                                   StartingPosition={"Type": "LATEST"})
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


# -- the wire: malformed requests, unknown operations, SigV4 ------------------------------------


def raw_call(url: str, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url + "/", data=body, method="POST", headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'{"StreamName": "x"', b"[1, 2]", b'"text"'])
def test_body_that_is_not_a_json_object_is_a_serialization_exception(server, kinesis, body):
    """A JSON 1.1 body that cannot be read as the operation's input is SerializationException (400),
    as Kinesis answers it, and the server keeps answering."""
    status, answer = raw_call(server.url, "Kinesis_20131202.DescribeStreamSummary", body)
    assert (status, answer["__type"]) == (400, "SerializationException")
    assert answer["message"]
    assert isinstance(kinesis.list_streams()["StreamNames"], list)  # the server keeps answering


def test_wrong_member_types_are_serialization_exceptions(server):
    """A member of the wrong JSON type (a string for an integer) cannot be deserialized either."""
    status, answer = raw_call(server.url, "Kinesis_20131202.CreateStream",
                              json.dumps({"StreamName": "typed", "ShardCount": "two"}).encode())
    assert (status, answer["__type"]) == (400, "SerializationException")


def test_unknown_operation(server, kinesis):
    """An X-Amz-Target naming no operation of the service is UnknownOperationException (400)."""
    status, answer = raw_call(server.url, "Kinesis_20131202.FlyToTheMoon", b"{}")
    assert (status, answer["__type"]) == (400, "UnknownOperationException")
    assert "FlyToTheMoon" in answer["message"]
    status, answer = raw_call(server.url, "Kinesis_20131202.ListStreams", b"{}")
    assert status == 200 and isinstance(answer["StreamNames"], list)
    assert isinstance(kinesis.list_streams()["StreamNames"], list)


def test_sigv4_is_verified_when_credentials_are_configured(server_factory):
    """With credentials configured, a signature from a known key is required: a wrong secret is
    InvalidSignatureException, an unknown access key UnrecognizedClientException (AWS's codes)."""
    server = server_factory(credentials="AKIDTEST:secret1")

    def client(key: str, secret: str) -> Any:
        return boto3.client("kinesis", endpoint_url=server.url, region_name="eu-west-1", aws_access_key_id=key,
                            aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))

    good = client("AKIDTEST", "secret1")
    good.create_stream(StreamName="signed", ShardCount=1)
    good.put_record(StreamName="signed", Data=b"x" * 1000, PartitionKey="k")
    assert good.list_streams()["StreamNames"] == ["signed"]
    with aws_error("InvalidSignatureException", "signature"):
        client("AKIDTEST", "wrong-secret").list_streams()
    with aws_error("UnrecognizedClientException", "security token"):
        client("AKIDOTHER", "secret1").list_streams()
    status, answer = raw_call(server.url, "Kinesis_20131202.ListStreams", b"{}")  # not signed at all
    assert status == 400 and answer["__type"] == "MissingAuthenticationTokenException"


# -- docs/kinesis.md and the operations it says are not served -------------------------------


def documented_statuses() -> dict[str, str]:
    """Operation -> Status from the table in docs/kinesis.md."""
    rows = {}
    for line in (Path(__file__).parents[2] / "docs" / "kinesis.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isalnum() and cells[0][:1].isupper() and cells[1] != "Status":
            rows[cells[0]] = cells[1]
    return rows


def test_compatibility_table_covers_every_operation_as_served():
    """Every operation of botocore's Kinesis model has a row, and "supported" means a handler serves it."""
    statuses = documented_statuses()
    assert sorted(statuses) == sorted(botocore.session.get_session().get_service_model("kinesis").operation_names)
    for operation, status in statuses.items():
        assert status.startswith(("supported", "not supported")), (operation, status)
        served = hasattr(KinesisApi, xform_name(operation)) and operation != "SubscribeToShard"
        assert status.startswith("supported") == served, operation


def test_unsupported_operations_answer_not_implemented(kinesis, stream_factory):
    """Operations of the model that tidelake does not serve answer NotImplemented (501), as docs/kinesis.md says."""
    arn = summary(kinesis, stream_factory())["StreamARN"]
    for call in (kinesis.describe_account_settings, kinesis.list_channels, kinesis.list_queues,
                 lambda: kinesis.get_resource_policy(ResourceARN=arn),
                 lambda: kinesis.update_stream_warm_throughput(StreamARN=arn, WarmThroughputMiBps=10)):
        with aws_error("NotImplemented", "does not implement") as info:
            call()
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
