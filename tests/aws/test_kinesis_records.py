"""Kinesis records through boto3: PutRecord/PutRecords, shard iterators, GetRecords, throughput limits.

Pages cited are under https://docs.aws.amazon.com/kinesis/latest/APIReference/ (API_<Operation>.html)
unless a test names another.
"""
from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest

from support import ServerProcess, aws_error

MAX_HASH_KEY = 2**128 - 1
MIB = 1 << 20


@pytest.fixture
def raw_kinesis(server: Any) -> Any:
    """A client without botocore's own parameter validation, so the server's checks are what answers."""
    return server.client("kinesis", parameter_validation=False)


@pytest.fixture(scope="module")
def throttled_kinesis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A client of one server (shared by this module's tests) that enforces the per-shard limits."""
    server = ServerProcess(tmp_path_factory.mktemp("throttled") / "data",
                           {"TIDELAKE_ENFORCE_THROUGHPUT": "true"}).start()
    yield server.client("kinesis")
    server.stop()


def shard_ranges(kinesis: Any, name: str) -> list[tuple[str, int, int]]:
    shards = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"]
    return [(s["ShardId"], int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
            for s in shards]


def expected_shard(ranges: list[tuple[str, int, int]], hash_key: int) -> str:
    [shard_id] = [shard_id for shard_id, low, high in ranges if low <= hash_key <= high]
    return shard_id


def md5_hash_key(partition_key: str) -> int:
    return int(hashlib.md5(partition_key.encode()).hexdigest(), 16)


def iterator(kinesis: Any, name: str, shard_id: str = "shardId-000000000000", kind: str = "TRIM_HORIZON",
             **kwargs: Any) -> str:
    return kinesis.get_shard_iterator(StreamName=name, ShardId=shard_id, ShardIteratorType=kind,
                                      **kwargs)["ShardIterator"]


def read_all(kinesis: Any, shard_iterator: str, limit: int = 10_000) -> list[dict[str, Any]]:
    """Follow NextShardIterator until a call returns no records."""
    records: list[dict[str, Any]] = []
    while shard_iterator:
        answer = kinesis.get_records(ShardIterator=shard_iterator, Limit=limit)
        records += answer["Records"]
        if not answer["Records"]:
            break
        shard_iterator = answer.get("NextShardIterator")
    return records


# -- PutRecord / PutRecords: routing and sequence numbers -------------------------------------


def test_partition_keys_route_by_md5_to_the_covering_shard(kinesis, stream_factory):
    """API_PutRecord: an MD5 hash maps the partition key to a 128-bit integer, and the record goes to
    the shard whose HashKeyRange holds it."""
    name = stream_factory(shards=4)
    ranges = shard_ranges(kinesis, name)
    keys = [f"customer-{i}" for i in range(40)]
    expected = [expected_shard(ranges, md5_hash_key(k)) for k in keys]
    assert len(set(expected)) == 4  # the keys exercise every shard

    singles = [kinesis.put_record(StreamName=name, Data=b"x", PartitionKey=k)["ShardId"] for k in keys]
    batch = kinesis.put_records(StreamName=name, Records=[{"Data": b"y", "PartitionKey": k} for k in keys])

    assert singles == expected
    assert batch["FailedRecordCount"] == 0
    assert [r["ShardId"] for r in batch["Records"]] == expected


def test_explicit_hash_key_overrides_the_partition_key(kinesis, stream_factory):
    """API_PutRecord: ExplicitHashKey "overrides the partition key to shard mapping"."""
    name = stream_factory(shards=4)
    ranges = shard_ranges(kinesis, name)
    key = "always-the-same-key"
    natural = expected_shard(ranges, md5_hash_key(key))
    for shard_id, low, high in ranges:
        for hash_key in (low, high):
            put = kinesis.put_record(StreamName=name, Data=b"x", PartitionKey=key, ExplicitHashKey=str(hash_key))
            assert put["ShardId"] == shard_id
    batch = kinesis.put_records(StreamName=name, Records=[
        {"Data": b"x", "PartitionKey": key, "ExplicitHashKey": str(low)} for _, low, _ in ranges
    ] + [{"Data": b"x", "PartitionKey": key}])
    assert [r["ShardId"] for r in batch["Records"]] == [shard_id for shard_id, _, _ in ranges] + [natural]


@pytest.mark.parametrize("shards", [1, 2])
def test_explicit_hash_key_outside_the_key_space_is_invalid(kinesis, stream_factory, shards):
    """API_PutRecord: ExplicitHashKey is a 128-bit integer; 2^128 is out of range (InvalidArgumentException).
    Checked with one shard too, where no routing decision is needed."""
    name = stream_factory(shards=shards)
    with aws_error("InvalidArgumentException", "ExplicitHashKey"):
        kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k", ExplicitHashKey=str(2**128))
    with aws_error("InvalidArgumentException", "ExplicitHashKey"):
        kinesis.put_records(StreamName=name, Records=[
            {"Data": b"x", "PartitionKey": "k"},
            {"Data": b"x", "PartitionKey": "k", "ExplicitHashKey": str(2**128)}])
    kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k", ExplicitHashKey=str(MAX_HASH_KEY))
    assert read_all(kinesis, iterator(kinesis, name, shard_ranges(kinesis, name)[-1][0]))[-1]["Data"] == b"x"


def test_explicit_hash_key_that_is_not_a_number_fails_validation(raw_kinesis, stream_factory):
    """The model's HashKey pattern is 0|([1-9]\\d{0,38})."""
    name = stream_factory()
    with aws_error("ValidationException", "explicitHashKey"):
        raw_kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k", ExplicitHashKey="12abc")


def test_sequence_numbers_are_56_digit_decimals_increasing_per_shard(kinesis, stream_factory):
    """API_PutRecord: sequence numbers are unique per partition key within a shard and generally
    increase over time; GetRecords returns them in that order."""
    name = stream_factory(shards=2)
    puts = [kinesis.put_record(StreamName=name, Data=str(i).encode(), PartitionKey=f"pk{i % 7}") for i in range(30)]
    puts += kinesis.put_records(StreamName=name, Records=[
        {"Data": str(i).encode(), "PartitionKey": f"pk{i % 7}"} for i in range(30, 60)])["Records"]
    by_shard: dict[str, list[str]] = {}
    for put in puts:
        number = put["SequenceNumber"]
        assert len(number) == 56 and number.isdigit(), number
        by_shard.setdefault(put["ShardId"], []).append(number)
    assert set(by_shard) == {"shardId-000000000000", "shardId-000000000001"}
    for shard_id, numbers in by_shard.items():
        assert [int(n) for n in numbers] == sorted({int(n) for n in numbers})  # strictly increasing
        read = read_all(kinesis, iterator(kinesis, name, shard_id))
        assert [r["SequenceNumber"] for r in read] == numbers


def test_sequence_number_for_ordering_gives_a_larger_sequence_number(kinesis, stream_factory):
    """API_PutRecord: SequenceNumberForOrdering set to the previous record's sequence number guarantees
    strictly increasing sequence numbers for the same client and partition key."""
    name = stream_factory(shards=2)
    previous = kinesis.put_record(StreamName=name, Data=b"0", PartitionKey="ordered")["SequenceNumber"]
    for i in range(1, 6):
        put = kinesis.put_record(StreamName=name, Data=str(i).encode(), PartitionKey="ordered",
                                 SequenceNumberForOrdering=previous)
        assert int(put["SequenceNumber"]) > int(previous)
        previous = put["SequenceNumber"]
    # Across shards too: the next record (another key, possibly another shard) still sorts after it.
    other = kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="another-key",
                               SequenceNumberForOrdering=previous)
    assert int(other["SequenceNumber"]) > int(previous)


# -- PutRecord / PutRecords: limits ------------------------------------------------------------


def test_record_size_counts_data_plus_partition_key_against_one_mib(raw_kinesis, stream_factory):
    """API_PutRecords: "Each record in the request can be as large as 1 MiB ... The record size limit
    applies to the total size of the partition key and data blob." (InvalidArgumentException)."""
    name = stream_factory()
    raw_kinesis.put_record(StreamName=name, Data=b"a" * (MIB - 3), PartitionKey="key")  # exactly 1 MiB
    with aws_error("InvalidArgumentException"):
        raw_kinesis.put_record(StreamName=name, Data=b"a" * (MIB - 2), PartitionKey="key")
    with aws_error("InvalidArgumentException"):
        raw_kinesis.put_records(StreamName=name, Records=[{"Data": b"b", "PartitionKey": "k"},
                                                          {"Data": b"b" * MIB, "PartitionKey": "k"}])
    # Nothing of the rejected batch was written.
    assert [len(r["Data"]) for r in read_all(raw_kinesis, iterator(raw_kinesis, name))] == [MIB - 3]


def test_stream_max_record_size_raises_the_per_record_limit(raw_kinesis, stream_factory):
    """API_CreateStream MaxRecordSizeInKiB (1024..10240): records up to the stream's maximum are accepted."""
    name = stream_factory(MaxRecordSizeInKiB=2048)
    summary = raw_kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["MaxRecordSizeInKiB"] == 2048
    raw_kinesis.put_record(StreamName=name, Data=b"a" * (MIB + MIB // 2), PartitionKey="k")
    with aws_error("InvalidArgumentException"):
        raw_kinesis.put_record(StreamName=name, Data=b"a" * (2 * MIB), PartitionKey="k")


def test_data_over_the_model_maximum_fails_validation(raw_kinesis, stream_factory):
    """The botocore model caps Data at 10 MiB (10485760 bytes): ValidationException before any stream rule."""
    name = stream_factory()
    with aws_error("ValidationException", "data", "10485760"):
        raw_kinesis.put_record(StreamName=name, Data=b"z" * (10 * MIB + 1), PartitionKey="k")


def test_put_records_takes_1_to_500_records(raw_kinesis, stream_factory):
    """API_PutRecords: Records has 1..500 members (ValidationException outside)."""
    name = stream_factory()
    with aws_error("ValidationException", "records", "500"):
        raw_kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}] * 501)
    with aws_error("ValidationException", "records"):
        raw_kinesis.put_records(StreamName=name, Records=[])
    answer = raw_kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}] * 500)
    assert answer["FailedRecordCount"] == 0 and len(answer["Records"]) == 500


def test_put_records_request_over_10_mib_is_invalid(raw_kinesis, stream_factory):
    """API_PutRecords: "Each record in the request can be as large as 10 MiB, up to a limit of 10 MiB for
    the entire request, including partition keys" (raised from 5 MiB when records of up to 10 MiB came:
    "Amazon Kinesis Data Streams now supports 10x larger record sizes", AWS Big Data Blog)."""
    name = stream_factory()
    records = [{"Data": b"d" * 1_000_000, "PartitionKey": f"k{i:02d}"} for i in range(11)]  # each < 1 MiB
    with aws_error("InvalidArgumentException", "10"):
        raw_kinesis.put_records(StreamName=name, Records=records)  # 11,000,033 bytes > 10 MiB
    assert raw_kinesis.put_records(StreamName=name, Records=records[:10])["FailedRecordCount"] == 0  # 10 MB


def test_partition_key_is_1_to_256_characters(raw_kinesis, stream_factory):
    """API_PutRecord: PartitionKey length 1..256 (ValidationException)."""
    name = stream_factory()
    raw_kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="p" * 256)
    with aws_error("ValidationException", "partitionKey", "256"):
        raw_kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="p" * 257)
    with aws_error("ValidationException", "partitionKey"):
        raw_kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "p" * 257}])
    with aws_error("ValidationException", "partitionKey"):
        raw_kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="")


def test_partition_key_is_required_on_a_user_partition_key_stream(raw_kinesis, stream_factory):
    """API_PutRecord: with the USER_PARTITION_KEY distribution strategy (the default and the only one
    tidelake has) a partition key is required, although the model marks it optional for AUTO streams."""
    name = stream_factory()
    with aws_error("ValidationException", "partitionKey", "must not be null"):
        raw_kinesis.put_record(StreamName=name, Data=b"x")
    with aws_error("ValidationException", "partitionKey", "must not be null"):
        raw_kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}, {"Data": b"y"}])
    assert read_all(raw_kinesis, iterator(raw_kinesis, name)) == []


def test_dry_run_checks_without_acting(kinesis, stream_factory):
    """API_PutRecord / API_PutRecords / API_GetShardIterator / API_GetRecords: DryRun "checks if your
    request will succeed"; the answer is DryRunOperationException ("The request was rejected because the
    DryRun parameter was specified") and nothing is written."""
    name = stream_factory()
    for call in (lambda: kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k", DryRun=True),
                 lambda: kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}],
                                             DryRun=True),
                 lambda: iterator(kinesis, name, DryRun=True),
                 lambda: kinesis.get_records(ShardIterator=iterator(kinesis, name), DryRun=True)):
        with aws_error("DryRunOperationException", "DryRun"):
            call()
    with aws_error("ResourceNotFoundException"):
        kinesis.put_record(StreamName="no-such-stream-dry-run", Data=b"x", PartitionKey="k", DryRun=True)
    assert read_all(kinesis, iterator(kinesis, name)) == []
    kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k", DryRun=False)
    assert len(read_all(kinesis, iterator(kinesis, name))) == 1


def test_put_to_a_missing_stream_is_resource_not_found(kinesis):
    with aws_error("ResourceNotFoundException", "no-such-stream-anywhere", "not found"):
        kinesis.put_record(StreamName="no-such-stream-anywhere", Data=b"x", PartitionKey="k")


# -- GetShardIterator --------------------------------------------------------------------------


def test_all_five_iterator_types(kinesis, stream_factory):
    """API_GetShardIterator: TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP."""
    name = stream_factory()
    first = [kinesis.put_record(StreamName=name, Data=f"r{i}".encode(), PartitionKey="k") for i in range(2)]
    time.sleep(0.05)
    between = datetime.now(timezone.utc)
    time.sleep(0.05)
    second = [kinesis.put_record(StreamName=name, Data=f"r{i}".encode(), PartitionKey="k") for i in range(2, 4)]
    latest = iterator(kinesis, name, kind="LATEST")

    def data(shard_iterator: str) -> list[bytes]:
        return [r["Data"] for r in read_all(kinesis, shard_iterator)]

    assert data(iterator(kinesis, name)) == [b"r0", b"r1", b"r2", b"r3"]
    assert data(iterator(kinesis, name, kind="AT_SEQUENCE_NUMBER",
                         StartingSequenceNumber=first[1]["SequenceNumber"])) == [b"r1", b"r2", b"r3"]
    assert data(iterator(kinesis, name, kind="AFTER_SEQUENCE_NUMBER",
                         StartingSequenceNumber=first[1]["SequenceNumber"])) == [b"r2", b"r3"]
    assert data(iterator(kinesis, name, kind="AT_TIMESTAMP", Timestamp=between)) == [b"r2", b"r3"]
    assert data(iterator(kinesis, name, kind="AT_TIMESTAMP", Timestamp=time.time() + 60)) == []
    assert kinesis.get_records(ShardIterator=latest)["Records"] == []
    kinesis.put_record(StreamName=name, Data=b"r4", PartitionKey="k")
    assert data(latest) == [b"r4"]
    assert int(kinesis.get_records(ShardIterator=latest)["Records"][0]["SequenceNumber"]) > int(
        second[-1]["SequenceNumber"])


def test_get_shard_iterator_errors(kinesis, stream_factory):
    """API_GetShardIterator: an unknown shard is ResourceNotFoundException; a sequence number from
    another shard, or a missing StartingSequenceNumber / Timestamp, is InvalidArgumentException."""
    name = stream_factory(shards=2)
    ranges = shard_ranges(kinesis, name)
    put = kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k", ExplicitHashKey=str(ranges[1][1]))
    assert put["ShardId"] == "shardId-000000000001"

    with aws_error("ResourceNotFoundException", "shardId-000000000009"):
        iterator(kinesis, name, "shardId-000000000009")
    with aws_error("ResourceNotFoundException"):
        iterator(kinesis, "no-such-stream-for-iterators")
    with aws_error("InvalidArgumentException", "shardId-000000000000"):
        iterator(kinesis, name, "shardId-000000000000", "AT_SEQUENCE_NUMBER",
                 StartingSequenceNumber=put["SequenceNumber"])
    with aws_error("InvalidArgumentException"):
        iterator(kinesis, name, "shardId-000000000001", "AFTER_SEQUENCE_NUMBER")
    with aws_error("InvalidArgumentException"):
        iterator(kinesis, name, "shardId-000000000001", "AT_TIMESTAMP")
    with aws_error("InvalidArgumentException"):  # well formed, but not a number this stream handed out
        iterator(kinesis, name, "shardId-000000000001", "AT_SEQUENCE_NUMBER", StartingSequenceNumber="12345")


def test_garbage_and_tampered_iterators_are_invalid(kinesis, stream_factory):
    """API_GetRecords: an iterator the service did not issue is InvalidArgumentException."""
    name = stream_factory()
    kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")
    good = iterator(kinesis, name)
    middle = len(good) // 2
    tampered = good[:middle] + ("B" if good[middle] != "B" else "C") + good[middle + 1:]
    for bad in ("garbage", "not base64 at all!", tampered, good[:-4]):
        with aws_error("InvalidArgumentException", "ShardIterator"):
            kinesis.get_records(ShardIterator=bad)
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=good)["Records"]] == [b"x"]


def test_expired_iterator(server_factory):
    """API_GetShardIterator: "A shard iterator expires 5 minutes after it is returned to the requester"
    (here the TTL is set to 1 s); API_GetRecords answers ExpiredIteratorException."""
    kinesis = server_factory(iterator_ttl_seconds="1").client("kinesis")
    kinesis.create_stream(StreamName="expiring", ShardCount=1)
    kinesis.put_record(StreamName="expiring", Data=b"x", PartitionKey="k")
    old = iterator(kinesis, "expiring")
    chained = kinesis.get_records(ShardIterator=iterator(kinesis, "expiring"))["NextShardIterator"]
    time.sleep(1.5)
    for stale in (old, chained):
        with aws_error("ExpiredIteratorException", "expired"):
            kinesis.get_records(ShardIterator=stale)
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator(kinesis, "expiring"))["Records"]] == [b"x"]


# -- GetRecords --------------------------------------------------------------------------------


def test_get_records_limit_and_millis_behind_latest(raw_kinesis, stream_factory):
    """API_GetRecords: Limit is 1..10000; MillisBehindLatest is 0 once caught up, "indicating how far
    behind current time the consumer is" otherwise."""
    kinesis = raw_kinesis
    name = stream_factory()
    kinesis.put_records(StreamName=name, Records=[{"Data": str(i).encode(), "PartitionKey": "k"} for i in range(5)])
    time.sleep(0.05)
    with aws_error("ValidationException", "limit", "10000"):
        kinesis.get_records(ShardIterator=iterator(kinesis, name), Limit=10001)
    with aws_error("ValidationException", "limit"):
        kinesis.get_records(ShardIterator=iterator(kinesis, name), Limit=0)

    page = kinesis.get_records(ShardIterator=iterator(kinesis, name), Limit=2)
    assert [r["Data"] for r in page["Records"]] == [b"0", b"1"]
    assert page["MillisBehindLatest"] >= 50
    rest = kinesis.get_records(ShardIterator=page["NextShardIterator"], Limit=10000)
    assert [r["Data"] for r in rest["Records"]] == [b"2", b"3", b"4"]
    assert rest["MillisBehindLatest"] == 0
    tail = kinesis.get_records(ShardIterator=rest["NextShardIterator"])
    assert tail["Records"] == [] and tail["MillisBehindLatest"] == 0 and tail["NextShardIterator"]


def test_next_shard_iterator_chains_through_the_shard(kinesis, stream_factory):
    """API_GetRecords: NextShardIterator continues where the call stopped; on an open shard it is
    always returned, even when there is nothing new."""
    name = stream_factory()
    for i in range(10):
        kinesis.put_record(StreamName=name, Data=str(i).encode(), PartitionKey=f"k{i}")
    shard_iterator, seen, calls = iterator(kinesis, name), [], 0
    while True:
        answer = kinesis.get_records(ShardIterator=shard_iterator, Limit=3)
        calls += 1
        assert answer["NextShardIterator"]
        if not answer["Records"]:
            break
        seen += [r["Data"] for r in answer["Records"]]
        shard_iterator = answer["NextShardIterator"]
    assert seen == [str(i).encode() for i in range(10)] and calls == 5
    kinesis.put_record(StreamName=name, Data=b"late", PartitionKey="k")
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=answer["NextShardIterator"])["Records"]] == [b"late"]


def test_a_backlog_and_the_tip_read_alike(kinesis, stream_factory):
    """The server reads a consumer near the stream's tip on its event loop and a backlog (over 1,000
    records behind) in a thread: both give the same records, order, iterators and errors."""
    name = stream_factory()
    for batch in range(3):
        kinesis.put_records(StreamName=name, Records=[{"Data": f"{batch}-{i}".encode(), "PartitionKey": "k"}
                                                      for i in range(500)])
    backlog = kinesis.get_records(ShardIterator=iterator(kinesis, name), Limit=10_000)
    assert [r["Data"] for r in backlog["Records"]] == [f"{b}-{i}".encode() for b in range(3) for i in range(500)]
    assert backlog["MillisBehindLatest"] == 0
    kinesis.put_record(StreamName=name, Data=b"tip", PartitionKey="k")
    tip = kinesis.get_records(ShardIterator=backlog["NextShardIterator"])
    assert [r["Data"] for r in tip["Records"]] == [b"tip"]
    assert int(tip["Records"][0]["SequenceNumber"]) > int(backlog["Records"][-1]["SequenceNumber"])
    with aws_error("InvalidArgumentException"):
        kinesis.get_records(ShardIterator="AAAA" + tip["NextShardIterator"][4:])


def test_data_round_trips_byte_for_byte(kinesis, stream_factory):
    """Blobs are base64 on the wire; every byte value, empty data (the model's minimum length is 0) and
    non-ASCII partition keys come back exactly, with an ApproximateArrivalTimestamp."""
    name = stream_factory()
    payloads = [bytes(range(256)), b"", os.urandom(4096), b"\x00" * 10, "héllo ✓".encode()]
    keys = ["bin", "empty", "random", "zeros", "ключ-🔑"]
    before = time.time()
    kinesis.put_records(StreamName=name, Records=[{"Data": d, "PartitionKey": k} for d, k in zip(payloads, keys)])
    kinesis.put_record(StreamName=name, Data=payloads[0][::-1], PartitionKey="single")
    records = read_all(kinesis, iterator(kinesis, name))
    assert [(r["Data"], r["PartitionKey"]) for r in records] == list(zip(payloads, keys)) + [
        (payloads[0][::-1], "single")]
    for record in records:
        arrival = record["ApproximateArrivalTimestamp"].timestamp()
        assert before - 1 <= arrival <= time.time() + 1


# -- throughput limits -------------------------------------------------------------------------


def test_write_throughput_is_enforced_per_shard(throttled_kinesis):
    """Kinesis Data Streams quotas: a shard takes 1,000 records/s and 1 MiB/s. API_PutRecords reports
    throttled records one by one (ErrorCode ProvisionedThroughputExceededException, FailedRecordCount);
    API_PutRecord fails as a whole with the same code."""
    kinesis = throttled_kinesis
    kinesis.create_stream(StreamName="busy", ShardCount=1)
    # 2,000 records: some are throttled unless the four calls took over a second.
    answers = [kinesis.put_records(StreamName="busy", Records=[{"Data": b"r", "PartitionKey": f"k{i}"}
                                                               for i in range(500)]) for _ in range(4)]
    assert answers[0]["FailedRecordCount"] == 0
    throttled = [r for a in answers for r in a["Records"] if "ErrorCode" in r]
    assert len(throttled) == sum(a["FailedRecordCount"] for a in answers) > 0
    assert {r["ErrorCode"] for r in throttled} == {"ProvisionedThroughputExceededException"}
    assert all("shardId-000000000000" in r["ErrorMessage"] and "SequenceNumber" not in r for r in throttled)
    accepted = [r for a in answers for r in a["Records"] if "SequenceNumber" in r]
    assert len(accepted) == 2000 - len(throttled)

    kinesis.create_stream(StreamName="heavy", ShardCount=1)
    chunk = b"b" * (400 * 1024)
    first = kinesis.put_records(StreamName="heavy", Records=[{"Data": chunk, "PartitionKey": k} for k in "abc"])
    assert [("ErrorCode" in r) for r in first["Records"]] == [False, False, True]  # 1.2 MiB > 1 MiB/s
    with aws_error("ProvisionedThroughputExceededException", "shardId-000000000000"):  # needs ~0.8 s of refill
        kinesis.put_record(StreamName="heavy", Data=b"b" * (1000 * 1024), PartitionKey="c")

    # "Handle large records" (developer guide): a shard bursts to take an intermittent record above
    # 1 MiB, then averages back to 1 MiB/s, so the next large record waits.
    kinesis.create_stream(StreamName="large", ShardCount=1, MaxRecordSizeInKiB=2048)
    kinesis.put_record(StreamName="large", Data=b"L" * (3 * MIB // 2), PartitionKey="a")
    with aws_error("ProvisionedThroughputExceededException"):
        kinesis.put_record(StreamName="large", Data=b"L" * (3 * MIB // 2), PartitionKey="a")


def test_read_throughput_is_enforced_per_shard(throttled_kinesis):
    """Kinesis Data Streams quotas: each shard supports up to five GetRecords calls per second."""
    kinesis = throttled_kinesis
    kinesis.create_stream(StreamName="polled", ShardCount=1)
    shard_iterator = iterator(kinesis, "polled")
    with aws_error("ProvisionedThroughputExceededException", "shardId-000000000000"):
        for _ in range(20):  # back to back: throttled unless the calls took over three seconds
            shard_iterator = kinesis.get_records(ShardIterator=shard_iterator)["NextShardIterator"]
