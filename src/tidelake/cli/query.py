"""``tidelake query``: run Athena SQL through the Athena API of a running tidelake and print the rows."""
from __future__ import annotations

import csv
import json
import sys
import time
from typing import Any

import click

from tidelake.cli.stream import aws_client, aws_errors, endpoint_option

RESULTS = "s3://tidelake-query-results/"


def run_query(endpoint_url: str, sql: str, database: str | None = None, output: str = RESULTS,
              timeout: float = 600) -> tuple[list[str], list[list[str | None]], dict[str, Any]]:
    """Start a query, wait for it, and return (column names, rows as text, the execution)."""
    athena = aws_client("athena", endpoint_url)
    bucket = output.removeprefix("s3://").split("/", 1)[0]
    s3 = aws_client("s3", endpoint_url)
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    args: dict[str, Any] = {"QueryString": sql, "ResultConfiguration": {"OutputLocation": output}}
    if database:
        args["QueryExecutionContext"] = {"Database": database}
    query_id = athena.start_query_execution(**args)["QueryExecutionId"]
    deadline = time.monotonic() + timeout
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise click.ClickException(f"Query {query_id} did not finish within {timeout:.0f} s; stopped it.")
        time.sleep(0.02)
    if state != "SUCCEEDED":
        reason = execution["Status"].get("StateChangeReason", "")
        raise click.ClickException(f"Query {state}: {reason}")
    columns: list[str] = []
    rows: list[list[str | None]] = []
    first = True
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        if not columns:
            columns = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
        page_rows = [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
        if first and execution.get("StatementType") == "DML" and page_rows:
            page_rows = page_rows[1:]  # Athena's first row of a SELECT repeats the header
        first = False
        rows.extend(page_rows)
    return columns, rows, execution


@click.command()
@click.argument("sql")
@click.option("--database", "-d", default=None, help="Database the query runs in (QueryExecutionContext).")
@click.option("--output", default=RESULTS, show_default=True, help="Result location (s3://bucket/prefix/).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@endpoint_option
def query(sql: str, database: str | None, output: str, fmt: str, endpoint_url: str) -> None:
    """Run SQL (Athena / Trino dialect) over the lake and print the result."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    with aws_errors(endpoint_url), console.status("running ..."):
        columns, rows, execution = run_query(endpoint_url, sql, database, output)
    stats = execution.get("Statistics", {})
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        for row in rows:
            click.echo(json.dumps(dict(zip(columns, row)), ensure_ascii=False))
    else:
        table = Table(*columns) if columns else Table("result")
        for row in rows:
            table.add_row(*["NULL" if v is None else v for v in row])
        Console().print(table)
    console.print(f"{len(rows)} row(s); {stats.get('DataScannedInBytes', 0):,} bytes scanned in "
                  f"{stats.get('EngineExecutionTimeInMillis', 0)} ms; results in "
                  f"{execution['ResultConfiguration']['OutputLocation']}", style="dim")
