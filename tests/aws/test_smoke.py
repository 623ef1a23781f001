"""The server answers health checks and a first boto3 call (the rest of tests/aws goes deeper)."""
import json
import urllib.request


def test_health_reports_ok(server):
    with urllib.request.urlopen(f"{server.url}/_tidelake/health") as answer:
        body = json.loads(answer.read())
    assert body["status"] == "ok"
    assert "kinesis" in body["services"]


def test_boto3_round_trip(kinesis, stream_factory):
    name = stream_factory(shards=2)
    put = kinesis.put_record(StreamName=name, Data=b'{"Data":"1"}', PartitionKey="111")
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=put["ShardId"],
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          StartingSequenceNumber=put["SequenceNumber"])["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [(r["Data"], r["PartitionKey"], r["SequenceNumber"]) for r in records] == [
        (b'{"Data":"1"}', "111", put["SequenceNumber"])]
