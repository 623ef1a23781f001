"""``tidelake compact``: rewrite a table's small files as one Parquet object per partition, through
the admin endpoint ``POST /_tidelake/compact`` of a running tidelake."""
from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from typing import Any, Iterator

import click

from tidelake.cli.stream import endpoint_option


@click.command()
@click.argument("source", metavar="SOURCE_DB.TABLE")
@click.argument("target", metavar="TARGET_DB.TABLE")
@click.option("--location", default=None, help="s3:// location of the target table when it is created "
              "(default: the database's LOCATION, else s3://<source bucket>/<target table>/).")
@click.option("--partition", "expression", default=None,
              help='Only partitions matching this Glue expression, e.g. "year=2026 AND month=11".')
@click.option("--closed/--all", "closed", default=True, show_default=True,
              help="Only partitions whose hour (day, month...) has ended, or every chosen partition.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--schedule", default=None, metavar="EXPR",
              help='Do not compact now: run this compaction on a schedule, e.g. "cron(5 * * * ? *)" (hourly at :05, '
                   'UTC), as an EventBridge rule firing the built-in compaction function.')
@endpoint_option
def compact(source: str, target: str, location: str | None, expression: str | None, closed: bool, as_json: bool,
            schedule: str | None, endpoint_url: str) -> None:
    """Compact SOURCE_DB.TABLE into TARGET_DB.TABLE: each partition's files become one snappy Parquet
    object at the same year=/month=/day=/hour= path, registered in the catalog. Idempotent: partitions
    whose source files did not change are left alone; the source files are kept."""
    body = {"source": source, "target": target, "location": location, "partition": expression, "all": not closed}
    if schedule:
        rule, function_arn = schedule_compaction(body, schedule, endpoint_url)
        click.echo(f"Scheduled: rule {rule} ({schedule}, UTC) runs {function_arn.rsplit(':', 1)[-1]} to compact "
                   f"{source} into {target}. See `tidelake schedules list`.")
        return
    report: dict[str, Any] = {}
    if as_json:
        for event in _events(endpoint_url, body):
            if event["event"] == "report":
                report = event
        click.echo(json.dumps({k: v for k, v in report.items() if k != "event"}, indent=2))
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    events = _events(endpoint_url, body)
    first = next(events)  # planning errors surface here, before any progress bar is drawn
    with Progress(TextColumn("compacting {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(source, total=None)
        for event in itertools.chain([first], events):
            if event["event"] == "progress":
                progress.update(task, completed=event["done"], total=event["total"])
            elif event["event"] == "report":
                report = event
    _summary(report)


def schedule_compaction(body: dict[str, Any], expression: str, endpoint_url: str) -> tuple[str, str]:
    """Register (or refresh) the built-in compaction function, then a rule firing it with ``body``
    (the input of ``POST /_tidelake/compact``); returns the rule's name and the function's ARN."""
    import hashlib

    from tidelake.cli.stream import aws_client, aws_errors
    from tidelake.functions.builtin import COMPACTION_FUNCTION, COMPACTION_HANDLER, zip_code
    lambda_, events = aws_client("lambda", endpoint_url), aws_client("events", endpoint_url)
    rule = f"compact-{body['source']}-{body['target']}"
    if len(rule) > 64:  # EventBridge's limit on rule names
        rule = f"compact-{body['source'][:30]}-{hashlib.sha1(rule.encode()).hexdigest()[:12]}"
    with aws_errors(endpoint_url):
        try:
            arn = lambda_.create_function(
                FunctionName=COMPACTION_FUNCTION, Runtime="python3.12", Handler=COMPACTION_HANDLER, Timeout=900,
                Role="arn:aws:iam::000000000000:role/tidelake-compaction", Code={"ZipFile": zip_code()},
                Description="tidelake: compacts the tables named in its input")["FunctionArn"]
        except lambda_.exceptions.ResourceConflictException:  # registered before: bring its code up to date
            arn = lambda_.update_function_code(FunctionName=COMPACTION_FUNCTION, ZipFile=zip_code())["FunctionArn"]
        events.put_rule(Name=rule, ScheduleExpression=expression,
                        Description=f"tidelake compact {body['source']} {body['target']}")
        failed = events.put_targets(Rule=rule, Targets=[{"Id": "compaction", "Arn": arn,
                                                         "Input": json.dumps(body)}])["FailedEntries"]
    if failed:
        raise click.ClickException(f"{failed[0]['ErrorCode']}: {failed[0]['ErrorMessage']}")
    return rule, arn


def _summary(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    parts = report.get("partitions", [])
    table = Table("partition", "action", "files in", "bytes in", "rows", "object out",
                  title=f"{report['source']} -> {report['target']} ({report['target_location']})")
    for p in parts:
        table.add_row(p["spec"], p["action"], f"{p['files_in']:,}", f"{p['bytes_in']:,}", f"{p['rows']:,}",
                      p["object_out"] or "-")
    console = Console()
    if parts:
        console.print(table)
    counts: dict[str, int] = {}
    for p in parts:
        counts[p["action"]] = counts.get(p["action"], 0) + 1
    done = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "no partitions"
    files = sum(p["files_in"] for p in parts if p["action"] in ("compacted", "rewritten"))
    line = f"{report['target']}: {done}"
    if report.get("created_target"):
        line += " (table created)"
    if report.get("not_closed"):
        line += f"; {len(report['not_closed'])} not closed yet"
    console.print(line + f"; {files:,} source file(s) rewritten, all kept in place", highlight=False)


def _events(endpoint_url: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The endpoint's NDJSON lines: progress events, then the report (or an error)."""
    request = urllib.request.Request(endpoint_url.rstrip("/") + "/_tidelake/compact", method="POST",
                                     data=json.dumps(body).encode(), headers={"Accept": "application/x-ndjson",
                                                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=3600) as answer:
            for line in answer:
                event = json.loads(line)
                if event["event"] == "error":
                    raise click.ClickException(f"{event['error']}: {event['message']}")
                yield event
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            message = json.loads(text or b"{}").get("message", str(e))
        except ValueError:  # an unexpected server error answers in plain text
            message = f"{e}: {text.decode(errors='replace')[:500]}"
        raise click.ClickException(message) from None
    except urllib.error.URLError:
        raise click.ClickException(f"Cannot reach tidelake at {endpoint_url}. Start it with `tidelake up`.") from None
