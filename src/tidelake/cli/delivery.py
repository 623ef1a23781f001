"""``tidelake delivery``: delivery streams into the lake, through the Firehose API of a running tidelake."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import click

from tidelake.cli.stream import aws_client, aws_errors, endpoint_option


@click.group()
def delivery() -> None:
    """Create, inspect, flush and delete delivery streams (Firehose API)."""


@delivery.command()
@click.argument("name")
@click.option("--bucket", required=True, help="Lake bucket to deliver into.")
@click.option("--source-stream", default=None, help="Read this stream (KinesisStreamAsSource); default DirectPut.")
@click.option("--prefix", default=None, help="S3 prefix, with !{timestamp:...} expressions.")
@click.option("--error-prefix", default=None, help="Error output prefix (required when --prefix has expressions).")
@click.option("--buffer-mb", type=click.IntRange(1, 128), default=5, show_default=True)
@click.option("--buffer-seconds", type=click.IntRange(0, 900), default=300, show_default=True)
@click.option("--compression", type=click.Choice(["UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY"]),
              default="UNCOMPRESSED", show_default=True)
@click.option("--append-newline", is_flag=True, help="Add the AppendDelimiterToRecord processor.")
@endpoint_option
def create(name: str, bucket: str, source_stream: str | None, prefix: str | None, error_prefix: str | None,
           buffer_mb: int, buffer_seconds: int, compression: str, append_newline: bool, endpoint_url: str) -> None:
    """Create a delivery stream into BUCKET."""
    config: dict = {"BucketARN": f"arn:aws:s3:::{bucket}", "RoleARN": "arn:aws:iam::000000000000:role/firehose",
                    "BufferingHints": {"SizeInMBs": buffer_mb, "IntervalInSeconds": buffer_seconds},
                    "CompressionFormat": compression}
    if prefix:
        config["Prefix"] = prefix
    if error_prefix:
        config["ErrorOutputPrefix"] = error_prefix
    if append_newline:
        config["ProcessingConfiguration"] = {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}
    args: dict = {"DeliveryStreamName": name, "ExtendedS3DestinationConfiguration": config}
    with aws_errors(endpoint_url):
        if source_stream:
            kinesis = aws_client("kinesis", endpoint_url)
            arn = kinesis.describe_stream_summary(StreamName=source_stream)["StreamDescriptionSummary"]["StreamARN"]
            args.update(DeliveryStreamType="KinesisStreamAsSource", KinesisStreamSourceConfiguration={
                "KinesisStreamARN": arn, "RoleARN": "arn:aws:iam::000000000000:role/firehose"})
        aws_client("firehose", endpoint_url).create_delivery_stream(**args)
    click.echo(f"delivery stream {name} -> s3://{bucket}/{prefix or ''}")


@delivery.command(name="list")
@endpoint_option
def list_(endpoint_url: str) -> None:
    """List delivery streams."""
    with aws_errors(endpoint_url):
        names = aws_client("firehose", endpoint_url).list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    for name in names:
        click.echo(name)


@delivery.command()
@click.argument("name")
@endpoint_option
def describe(name: str, endpoint_url: str) -> None:
    """Show a delivery stream's configuration and its delivery metrics."""
    with aws_errors(endpoint_url):
        d = aws_client("firehose", endpoint_url).describe_delivery_stream(DeliveryStreamName=name)
    d = d["DeliveryStreamDescription"]
    dest = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    click.echo(f"{d['DeliveryStreamName']}  {d['DeliveryStreamStatus']}  {d['DeliveryStreamType']}  "
               f"version {d['VersionId']}\n  -> {dest['BucketARN']} prefix {dest.get('Prefix', '')!r} "
               f"buffer {dest['BufferingHints']['SizeInMBs']} MiB / {dest['BufferingHints']['IntervalInSeconds']} s")
    if "FailureDescription" in d:
        click.echo(f"  failing: {d['FailureDescription']['Details']}")
    for line in _admin(endpoint_url, "GET", "/_tidelake/metrics").decode().splitlines():
        if f'delivery_stream="{name}"' in line:
            click.echo("  " + line.removeprefix("tidelake_delivery_"))


@delivery.command()
@click.argument("name")
@click.option("--timeout", type=float, default=60, show_default=True)
@endpoint_option
def flush(name: str, timeout: float, endpoint_url: str) -> None:
    """Force the buffers out now and wait until the lake has everything received so far."""
    _admin(endpoint_url, "POST", f"/_tidelake/delivery/{name}/flush?timeout={timeout}")
    click.echo(f"{name}: flushed")


@delivery.command()
@click.argument("name")
@endpoint_option
def delete(name: str, endpoint_url: str) -> None:
    """Delete a delivery stream (objects already delivered stay in the lake)."""
    with aws_errors(endpoint_url):
        aws_client("firehose", endpoint_url).delete_delivery_stream(DeliveryStreamName=name)
    click.echo(f"delivery stream {name} deleted")


@delivery.command()
@click.argument("table", metavar="DATABASE.TABLE")
@click.argument("columns", metavar="NAME:TYPE,...")
@endpoint_option
def schema(table: str, columns: str, endpoint_url: str) -> None:
    """Declare a table schema for record format conversion (SchemaConfiguration names it)."""
    database, _, name = table.partition(".")
    cols = [dict(zip(("name", "type"), c.split(":", 1))) for c in columns.split(",") if c]
    if not name or any(len(c) != 2 for c in cols):
        raise click.UsageError("Give DATABASE.TABLE and columns as name:type,name:type (Hive types).")
    _admin(endpoint_url, "PUT", f"/_tidelake/schemas/{database}/{name}", {"columns": cols})
    click.echo(f"schema {table}: {len(cols)} column(s)")


def _admin(endpoint_url: str, method: str, path: str, body: dict | None = None) -> bytes:
    request = urllib.request.Request(endpoint_url.rstrip("/") + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            return answer.read()
    except urllib.error.HTTPError as e:
        raise click.ClickException(json.loads(e.read() or b"{}").get("message", str(e))) from None
    except urllib.error.URLError:
        raise click.ClickException(f"Cannot reach tidelake at {endpoint_url}. Start it with `tidelake up`.") from None


