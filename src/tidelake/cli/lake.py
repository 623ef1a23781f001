"""``tidelake lake``: look at the lake through the S3 API of a running tidelake."""
from __future__ import annotations

import sys

import click

from tidelake.cli.stream import aws_client, aws_errors, endpoint_option


@click.group()
def lake() -> None:
    """List and read lake objects (S3 API)."""


@lake.command()
@click.argument("location", required=False, default="", metavar="[BUCKET[/PREFIX]]")
@endpoint_option
def ls(location: str, endpoint_url: str) -> None:
    """List buckets, or every object under BUCKET/PREFIX with its size."""
    s3 = aws_client("s3", endpoint_url)
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    with aws_errors(endpoint_url):
        if not bucket:
            for b in s3.list_buckets()["Buckets"]:
                click.echo(b["Name"])
            return
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                click.echo(f"{item['LastModified']:%Y-%m-%d %H:%M:%S} {item['Size']:>12,}  {item['Key']}")


@lake.command()
@click.argument("location", metavar="BUCKET/KEY")
@endpoint_option
def cat(location: str, endpoint_url: str) -> None:
    """Write an object to standard output."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    if not key:
        raise click.UsageError("Give BUCKET/KEY.")
    with aws_errors(endpoint_url):
        body = aws_client("s3", endpoint_url).get_object(Bucket=bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(1 << 20), b""):
            sys.stdout.buffer.write(chunk)
