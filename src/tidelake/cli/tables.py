"""``tidelake tables``: key-value tables through the DynamoDB API of a running tidelake."""
from __future__ import annotations

import base64
import csv
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import click

from tidelake.cli.stream import aws_client, aws_errors, endpoint_option

BATCH = 25  # BatchWriteItem's limit


@click.group()
def tables() -> None:
    """Load, list and read key-value tables (DynamoDB API)."""


@tables.command()
@click.argument("table")
@click.argument("csv_file", metavar="CSV", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", required=True, help="Column holding the hash (partition) key.")
@click.option("--sort-key", default=None, help="Column holding the range (sort) key, if the table has one.")
@click.option("--key-type", type=click.Choice(["S", "N", "B"]), default="S", show_default=True,
              help="Type of the hash key when the table is created.")
@click.option("--sort-key-type", type=click.Choice(["S", "N", "B"]), default="S", show_default=True,
              help="Type of the sort key when the table is created.")
@click.option("--number", "numbers", multiple=True, metavar="COLUMN",
              help="Read this column as a number (N); repeatable. Other non-key columns stay strings.")
@click.option("--create/--no-create", default=True, show_default=True,
              help="Create the table (on-demand billing) if it does not exist.")
@endpoint_option
def load(table: str, csv_file: Path, key: str, sort_key: str | None, key_type: str, sort_key_type: str,
         numbers: tuple[str, ...], create: bool, endpoint_url: str) -> None:
    """Load CSV rows into TABLE with BatchWriteItem, one item per row.

    As DynamoDB's import from S3 does, every column is a string except the key columns, which take
    the table's key types (and the --number columns). Empty cells are left out of the item."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tidelake.errors import InvalidArgument
    from tidelake.tables.load import read_items

    client = aws_client("dynamodb", endpoint_url)
    with aws_errors(endpoint_url):
        key_types = _key_types(client, table, key, sort_key, key_type, sort_key_type, create)
        total = _rows(csv_file)
        written = 0
        with Progress(TextColumn(f"loading {table}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(table, total=total)
            try:
                for batch in _batches(read_items(csv_file, key_types, numbers), list(key_types)):
                    _write(client, table, batch)
                    written += len(batch)
                    progress.update(task, completed=written)
            except InvalidArgument as error:
                raise click.ClickException(error.message) from None
    click.echo(f"loaded {written} items into {table}")


def _key_types(client: Any, table: str, key: str, sort_key: str | None, key_type: str, sort_key_type: str,
               create: bool) -> dict[str, str]:
    """The key columns and their types: the existing table's, or those of the table created now."""
    try:
        described = client.describe_table(TableName=table)["Table"]
    except client.exceptions.ResourceNotFoundException:
        if not create:
            raise click.ClickException(f"Table {table} does not exist (and --no-create was given).") from None
        schema = [{"AttributeName": key, "KeyType": "HASH"}]
        definitions = [{"AttributeName": key, "AttributeType": key_type}]
        if sort_key:
            schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
            definitions.append({"AttributeName": sort_key, "AttributeType": sort_key_type})
        client.create_table(TableName=table, KeySchema=schema, AttributeDefinitions=definitions,
                            BillingMode="PAY_PER_REQUEST")
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
        return {d["AttributeName"]: d["AttributeType"] for d in definitions}
    types = {d["AttributeName"]: d["AttributeType"] for d in described["AttributeDefinitions"]}
    keys = [k["AttributeName"] for k in described["KeySchema"]]
    if keys != [key] + ([sort_key] if sort_key else []):
        raise click.ClickException(f"Table {table} has the key {', '.join(keys)}; pass --key"
                                   f"{' and --sort-key' if len(keys) > 1 else ''} to match it.")
    return {k: types[k] for k in keys}


def _rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def _batches(items: Iterator[dict[str, Any]], keys: list[str]) -> Iterator[list[dict[str, Any]]]:
    """Groups of at most 25 items; a repeated key starts a new group (BatchWriteItem refuses a key
    twice in one call), so the later row wins."""
    batch: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for item in items:
        key = tuple(item[k] for k in keys)
        if len(batch) == BATCH or key in seen:
            yield batch
            batch, seen = [], set()
        batch.append(item)
        seen.add(key)
    if batch:
        yield batch


def _write(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    from boto3.dynamodb.types import TypeSerializer
    serialize = TypeSerializer().serialize
    requests = {table: [{"PutRequest": {"Item": {k: serialize(v) for k, v in item.items()}}} for item in items]}
    while requests:
        requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


@tables.command(name="list")
@endpoint_option
def list_(endpoint_url: str) -> None:
    """List tables with their key, item count and size."""
    from rich.console import Console
    from rich.table import Table
    client = aws_client("dynamodb", endpoint_url)
    view = Table("table", "status", "key", "items", "size (bytes)", "billing")
    with aws_errors(endpoint_url):
        for page in client.get_paginator("list_tables").paginate():
            for name in page["TableNames"]:
                t = client.describe_table(TableName=name)["Table"]
                key = ", ".join(f"{k['AttributeName']} ({k['KeyType'].lower()})" for k in t["KeySchema"])
                view.add_row(name, t["TableStatus"], key, str(t["ItemCount"]), str(t["TableSizeBytes"]),
                             t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"))
    Console().print(view)


@tables.command()
@click.argument("table")
@click.argument("key")
@click.option("--sort", "sort_value", default=None, help="Value of the sort key, for a table that has one.")
@endpoint_option
def get(table: str, key: str, sort_value: str | None, endpoint_url: str) -> None:
    """Print the item of TABLE whose hash key is KEY, as JSON."""
    import json

    from boto3.dynamodb.types import TypeDeserializer
    client = aws_client("dynamodb", endpoint_url)
    with aws_errors(endpoint_url):
        described = client.describe_table(TableName=table)["Table"]
        types = {d["AttributeName"]: d["AttributeType"] for d in described["AttributeDefinitions"]}
        names = [k["AttributeName"] for k in described["KeySchema"]]
        if len(names) > 1 and sort_value is None:
            raise click.ClickException(f"Table {table} has the sort key {names[1]}: pass --sort VALUE.")
        values = [key, sort_value][:len(names)]
        answer = client.get_item(TableName=table, Key={n: {types[n]: v} for n, v in zip(names, values)})
    if "Item" not in answer:
        raise click.ClickException(f"No item with {', '.join(f'{n} = {v}' for n, v in zip(names, values))} "
                                   f"in {table}.")
    deserialize = TypeDeserializer().deserialize
    item = {k: deserialize(v) for k, v in answer["Item"].items()}
    click.echo(json.dumps(item, default=_json, ensure_ascii=False, indent=2, sort_keys=True))


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):  # a JSON number when a float holds it exactly, else its text
        if value == value.to_integral_value():
            return int(value)
        return float(value) if Decimal(repr(float(value))) == value else str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if hasattr(value, "value"):  # boto3's Binary
        return base64.b64encode(value.value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
