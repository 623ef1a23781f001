"""``tidelake stream``: manage and watch streams through the Kinesis API of a running tidelake."""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator

import click

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
endpoint_option = click.option(
    "--endpoint-url", default=lambda: os.environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT), show_default=DEFAULT_ENDPOINT,
    help="The tidelake (or AWS) endpoint.")


def kinesis_client(endpoint_url: str) -> Any:
    return aws_client("kinesis", endpoint_url)


def aws_client(service: str, endpoint_url: str) -> Any:
    import boto3
    from botocore.config import Config
    return boto3.client(service, endpoint_url=endpoint_url,
                        region_name=os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")),
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "tidelake"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "tidelake"),
                        config=Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}))


@contextmanager
def aws_errors(endpoint_url: str) -> Iterator[None]:
    """Turn client errors into one line that says what happened and what to do."""
    from botocore.exceptions import ClientError, EndpointConnectionError
    try:
        yield
    except EndpointConnectionError:
        raise click.ClickException(f"Cannot reach tidelake at {endpoint_url}. Start it with `tidelake up` "
                                   "(or pass --endpoint-url).") from None
    except ClientError as e:
        error = e.response["Error"]
        raise click.ClickException(f"{error.get('Code')}: {error.get('Message')}") from None


@click.group()
def stream() -> None:
    """Create, inspect, write to and tail streams (Kinesis Data Streams API)."""


@stream.command()
@click.argument("name")
@click.option("--shards", type=int, default=1, show_default=True, help="Shard count (PROVISIONED mode).")
@click.option("--on-demand", is_flag=True, help="ON_DEMAND capacity mode instead of a shard count.")
@endpoint_option
def create(name: str, shards: int, on_demand: bool, endpoint_url: str) -> None:
    """Create a stream and wait until it is ACTIVE."""
    client = kinesis_client(endpoint_url)
    with aws_errors(endpoint_url):
        if on_demand:
            client.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        else:
            client.create_stream(StreamName=name, ShardCount=shards)
        wait_active(client, name)
    click.echo(f"stream {name} is ACTIVE")


def wait_active(client: Any, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise click.ClickException(f"stream {name} did not become ACTIVE within {timeout:.0f} s")
        time.sleep(0.05)


@stream.command(name="list")
@endpoint_option
def list_(endpoint_url: str) -> None:
    """List streams with their status and shard count."""
    from rich.console import Console
    from rich.table import Table
    client = kinesis_client(endpoint_url)
    table = Table("stream", "status", "mode", "open shards", "retention (h)")
    with aws_errors(endpoint_url):
        for page in client.get_paginator("list_streams").paginate():
            for summary in page.get("StreamSummaries", []):
                s = client.describe_stream_summary(StreamName=summary["StreamName"])["StreamDescriptionSummary"]
                table.add_row(s["StreamName"], s["StreamStatus"], s["StreamModeDetails"]["StreamMode"],
                              str(s["OpenShardCount"]), str(s["RetentionPeriodHours"]))
    Console().print(table)


@stream.command()
@click.argument("name")
@endpoint_option
def describe(name: str, endpoint_url: str) -> None:
    """Show a stream and its shards (with lineage after resharding)."""
    from rich.console import Console
    from rich.table import Table
    client = kinesis_client(endpoint_url)
    with aws_errors(endpoint_url):
        s = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        shards = [shard for page in client.get_paginator("list_shards").paginate(StreamName=name)
                  for shard in page["Shards"]]
    console = Console()
    console.print(f"[bold]{s['StreamName']}[/]  {s['StreamARN']}\n  status {s['StreamStatus']}, "
                  f"mode {s['StreamModeDetails']['StreamMode']}, retention {s['RetentionPeriodHours']} h, "
                  f"created {s['StreamCreationTimestamp']:%Y-%m-%d %H:%M:%S}")
    table = Table("shard", "state", "parents", "hash key range")
    for shard in shards:
        state = "closed" if "EndingSequenceNumber" in shard["SequenceNumberRange"] else "open"
        parents = ", ".join(p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p)
        keys = shard["HashKeyRange"]
        table.add_row(shard["ShardId"], state, parents or "-", f"{keys['StartingHashKey']} .. {keys['EndingHashKey']}")
    console.print(table)


@stream.command()
@click.argument("name")
@click.argument("records", nargs=-1)
@click.option("--partition-key", "-k", default=None, help="Partition key (default: a counter per record).")
@endpoint_option
def put(name: str, records: tuple[str, ...], partition_key: str | None, endpoint_url: str) -> None:
    """Put RECORDS (or one record per line of standard input) into a stream."""
    client = kinesis_client(endpoint_url)
    lines = records or tuple(line.rstrip("\n") for line in sys.stdin)
    sent = failed = 0
    with aws_errors(endpoint_url):
        for start in range(0, len(lines), 500):
            batch = lines[start:start + 500]
            answer = client.put_records(StreamName=name, Records=[
                {"Data": line.encode(), "PartitionKey": partition_key or str(start + i)} for i, line in enumerate(batch)])
            sent += len(batch)
            failed += answer["FailedRecordCount"]
    click.echo(f"put {sent - failed} record(s) into {name}" + (f", {failed} failed" if failed else ""))
    if failed:
        sys.exit(1)


@stream.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@endpoint_option
def delete(name: str, yes: bool, endpoint_url: str) -> None:
    """Delete a stream and its records."""
    if not yes:
        click.confirm(f"Delete stream {name} and all its records?", abort=True)
    client = kinesis_client(endpoint_url)
    with aws_errors(endpoint_url):
        client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    click.echo(f"stream {name} is being deleted")


START_TYPES = {"trim-horizon": "TRIM_HORIZON", "latest": "LATEST", "at-sequence": "AT_SEQUENCE_NUMBER",
               "after-sequence": "AFTER_SEQUENCE_NUMBER", "at-timestamp": "AT_TIMESTAMP"}


@stream.command()
@click.argument("name")
@click.option("--from", "start", type=click.Choice(list(START_TYPES)), default="latest", show_default=True,
              help="Where to start reading.")
@click.option("--sequence-number", default=None, help="With --from at-sequence/after-sequence.")
@click.option("--timestamp", type=click.DateTime(), default=None, help="With --from at-timestamp (local time).")
@click.option("--limit", type=int, default=None, help="Stop after this many records.")
@click.option("--follow/--no-follow", default=True, show_default=True,
              help="Keep waiting for new records, or stop once caught up.")
@click.option("--poll", type=float, default=0.2, show_default=True, help="Seconds between polls when idle.")
@endpoint_option
def tail(name: str, start: str, sequence_number: str | None, timestamp: datetime | None, limit: int | None,
         follow: bool, poll: float, endpoint_url: str) -> None:
    """Follow every shard of a stream live, across resharding, like the console's data viewer."""
    from rich.console import Console
    client = kinesis_client(endpoint_url)
    console = Console(highlight=False, soft_wrap=True)
    kind = START_TYPES[start]
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER") and not sequence_number:
        raise click.UsageError(f"--from {start} needs --sequence-number.")
    if kind == "AT_TIMESTAMP" and timestamp is None:
        raise click.UsageError("--from at-timestamp needs --timestamp.")
    shown = 0
    with aws_errors(endpoint_url):
        reader = ShardFollower(client, name, kind, sequence_number, timestamp)
        try:
            while limit is None or shown < limit:
                records, caught_up = reader.poll()
                for shard_id, record in records[:None if limit is None else limit - shown]:
                    console.print(_line(shard_id, record), markup=False)
                    shown += 1
                if not records:
                    if caught_up and not follow:
                        break
                    time.sleep(poll)
        except KeyboardInterrupt:
            pass
    console.print(f"-- {shown} record(s)", style="dim")


class ShardFollower:
    """Reads all shards of a stream; a child shard is read once its parents reach their end."""

    def __init__(self, client: Any, name: str, kind: str, sequence_number: str | None,
                 timestamp: datetime | None) -> None:
        self.client, self.name = client, name
        shards = [s for page in client.get_paginator("list_shards").paginate(StreamName=name) for s in page["Shards"]]
        self.finished: set[str] = set()
        self.waiting: dict[str, set[str]] = {}  # child shard -> parents not finished yet
        self.iterators: dict[str, str] = {}
        known = {s["ShardId"] for s in shards}
        for shard in shards:
            parents = {p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p in known}
            open_ = "EndingSequenceNumber" not in shard["SequenceNumberRange"]
            if kind == "LATEST" and not open_:
                continue  # only what arrives from now on
            if parents and kind in ("TRIM_HORIZON", "AT_TIMESTAMP"):
                self.waiting[shard["ShardId"]] = parents
                continue
            args: dict[str, Any] = {"ShardIteratorType": kind}
            if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
                args["StartingSequenceNumber"] = sequence_number
            if kind == "AT_TIMESTAMP":
                args["Timestamp"] = timestamp
            try:
                self.iterators[shard["ShardId"]] = self._iterator(shard["ShardId"], **args)
            except client.exceptions.InvalidArgumentException:
                if "StartingSequenceNumber" not in args:
                    raise
                # A sequence number belongs to one shard: read that one (and its children) only.
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER") and not self.iterators:
            raise click.ClickException(f"No shard of {name} holds sequence number {sequence_number}.")

    def _iterator(self, shard_id: str, **args: Any) -> str:
        return self.client.get_shard_iterator(StreamName=self.name, ShardId=shard_id, **args)["ShardIterator"]

    def poll(self) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
        """One round over the shards: the records read, and whether every shard is caught up."""
        out: list[tuple[str, dict[str, Any]]] = []
        caught_up = True
        for shard_id, iterator in list(self.iterators.items()):
            answer = self.client.get_records(ShardIterator=iterator, Limit=1000)
            out.extend((shard_id, r) for r in answer["Records"])
            caught_up = caught_up and answer.get("MillisBehindLatest", 0) == 0
            nxt = answer.get("NextShardIterator")
            if nxt:
                self.iterators[shard_id] = nxt
            else:
                del self.iterators[shard_id]
                self._finish(shard_id, answer.get("ChildShards", []))
        out.sort(key=lambda item: item[1]["ApproximateArrivalTimestamp"])
        return out, caught_up and not self.waiting

    def _finish(self, shard_id: str, children: list[dict[str, Any]]) -> None:
        self.finished.add(shard_id)
        for child in children:
            self.waiting.setdefault(child["ShardId"], set(child["ParentShards"]))
        for child_id, parents in list(self.waiting.items()):
            if parents <= self.finished:
                del self.waiting[child_id]
                self.iterators[child_id] = self._iterator(child_id, ShardIteratorType="TRIM_HORIZON")


def _line(shard_id: str, record: dict[str, Any]) -> str:
    data = record["Data"]
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = f"<{len(data)} bytes> {data[:48].hex()}"
    stamp = record["ApproximateArrivalTimestamp"].strftime("%H:%M:%S.%f")[:-3]
    return f"{stamp}  {shard_id[-4:]}  {record['PartitionKey']:<12}  {record['SequenceNumber'][-12:]}  {text}"
