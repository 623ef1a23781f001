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


def test_an_unexpected_failure_answers_an_aws_error_and_the_app_serves_on(tmp_path, monkeypatch):
    """AWS calls bypass Starlette's error middleware: the app's own net turns a bug into a 500 that
    botocore parses (InternalFailure), and the next call is served."""
    import asyncio

    import httpx

    from tidelake.aws.gateway import Gateway
    from tidelake.config import Settings
    from tidelake.platform import Platform
    from tidelake.server import create_app

    platform = Platform(Settings(data_dir=tmp_path / "data")).start()
    try:
        app = create_app(platform)
        original = Gateway.__call__
        calls = iter([RuntimeError("a bug"), None])

        async def flaky(self, request):  # type: ignore[no-untyped-def]
            error = next(calls)
            if error is not None:
                raise error
            return await original(self, request)
        monkeypatch.setattr(Gateway, "__call__", flaky)
        headers = {"X-Amz-Target": "Kinesis_20131202.ListStreams", "Content-Type": "application/x-amz-json-1.1",
                   "Authorization": "AWS4-HMAC-SHA256 Credential=t/20261123/us-east-1/kinesis/aws4_request, "
                                    "SignedHeaders=host, Signature=0"}

        async def two_calls() -> list[httpx.Response]:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                return [await client.post("/", content=b"{}", headers=headers) for _ in range(2)]
        failed, served = asyncio.run(two_calls())
        assert failed.status_code == 500 and failed.json()["__type"] == "InternalFailure"
        assert served.status_code == 200 and served.json()["StreamNames"] == []
    finally:
        platform.close()
