"""``tidelake functions``: register, invoke and watch functions through the Lambda API of a running
tidelake; ``logs`` reads their logs through its CloudWatch Logs API."""
from __future__ import annotations

import base64
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import click

from tidelake.cli.stream import aws_client, aws_errors, endpoint_option

ROLE = "arn:aws:iam::000000000000:role/tidelake-function"


@click.group()
def functions() -> None:
    """Create, invoke, update and delete functions (Lambda API); read their logs."""


def _code(code: Path | None) -> bytes:
    """A zip file as is, a directory zipped; nothing: an empty archive (the handler is on the server's path)."""
    from tidelake.functions.code import zip_directory
    from tidelake.functions.service import EMPTY_ZIP
    if code is None:
        return EMPTY_ZIP
    if code.is_dir():
        return zip_directory(code)
    return code.read_bytes()


def _variables(pairs: tuple[str, ...]) -> dict[str, str]:
    bad = [p for p in pairs if "=" not in p]
    if bad:
        raise click.BadParameter(f"expected KEY=VALUE, got {bad[0]!r}", param_hint="--env")
    return dict(p.split("=", 1) for p in pairs)


code_option = click.option(
    "--code", type=click.Path(exists=True, path_type=Path), default=None,
    help="A directory (zipped and uploaded) or a .zip file. Without it, HANDLER is imported from the server's "
         "Python path (an installed package).")


@functions.command()
@click.argument("name")
@click.option("--handler", required=True, help="module.function, e.g. handler.lambda_handler or pkg.jobs.merge.")
@code_option
@click.option("--runtime", default="python3.12", show_default=True)
@click.option("--timeout", type=click.IntRange(1, 900), default=3, show_default=True, help="Seconds.")
@click.option("--memory", type=click.IntRange(128, 10240), default=128, show_default=True, help="MemorySize, MB.")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="An environment variable (repeatable).")
@click.option("--description", default="")
@click.option("--role", default=ROLE, show_default=True, help="Recorded, as Lambda requires one.")
@endpoint_option
def create(name: str, handler: str, code: Path | None, runtime: str, timeout: int, memory: int, env: tuple[str, ...],
           description: str, role: str, endpoint_url: str) -> None:
    """Register function NAME (CreateFunction)."""
    args = dict(FunctionName=name, Runtime=runtime, Role=role, Handler=handler, Code={"ZipFile": _code(code)},
                Timeout=timeout, MemorySize=memory, Description=description)
    if env:
        args["Environment"] = {"Variables": _variables(env)}
    with aws_errors(endpoint_url):
        config = aws_client("lambda", endpoint_url).create_function(**args)
    click.echo(f"{config['FunctionArn']}  {config['Handler']}  {config['CodeSize']} bytes  sha256 {config['CodeSha256']}")


@functions.command()
@click.argument("name")
@code_option
@click.option("--handler", default=None)
@click.option("--timeout", type=click.IntRange(1, 900), default=None)
@click.option("--memory", type=click.IntRange(128, 10240), default=None)
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="Replaces all the variables (repeatable).")
@endpoint_option
def update(name: str, code: Path | None, handler: str | None, timeout: int | None, memory: int | None,
           env: tuple[str, ...], endpoint_url: str) -> None:
    """Upload new code (--code) and/or change settings of function NAME."""
    client = aws_client("lambda", endpoint_url)
    changes = {k: v for k, v in dict(Handler=handler, Timeout=timeout, MemorySize=memory).items() if v is not None}
    if env:
        changes["Environment"] = {"Variables": _variables(env)}
    if code is None and not changes:
        raise click.UsageError("Nothing to update: give --code or a setting.")
    with aws_errors(endpoint_url):
        if code is not None:
            config = client.update_function_code(FunctionName=name, ZipFile=_code(code))
        if changes:
            config = client.update_function_configuration(FunctionName=name, **changes)
    click.echo(f"{config['FunctionName']} updated: revision {config['RevisionId']}")


@functions.command(name="list")
@endpoint_option
def list_(endpoint_url: str) -> None:
    """List functions."""
    with aws_errors(endpoint_url):
        pages = aws_client("lambda", endpoint_url).get_paginator("list_functions").paginate()
        for page in pages:
            for f in page["Functions"]:
                click.echo(f"{f['FunctionName']}  {f['Runtime']}  {f['Handler']}  {f['Timeout']} s  "
                           f"{f['MemorySize']} MB  {f['LastModified']}")


@functions.command()
@click.argument("name")
@click.option("--payload", default="{}", show_default=True, help="The event as JSON; '-' reads it from stdin.")
@click.option("--async", "asynchronous", is_flag=True, help="InvocationType Event: queue it and return.")
@click.option("--log", is_flag=True, help="Print the end of the invocation's log to stderr.")
@endpoint_option
def invoke(name: str, payload: str, asynchronous: bool, log: bool, endpoint_url: str) -> None:
    """Invoke function NAME and print its result (exit status 1 if the function failed)."""
    data = sys.stdin.buffer.read() if payload == "-" else payload.encode()
    with aws_errors(endpoint_url):
        answer = aws_client("lambda", endpoint_url).invoke(
            FunctionName=name, Payload=data, InvocationType="Event" if asynchronous else "RequestResponse",
            LogType="Tail" if log else "None")
    if log and answer.get("LogResult"):
        click.echo(base64.b64decode(answer["LogResult"]).decode(errors="replace"), err=True, nl=False)
    if asynchronous:
        click.echo(f"queued: {answer['ResponseMetadata']['RequestId']}")
        return
    click.echo(answer["Payload"].read().decode(errors="replace"))
    if answer.get("FunctionError"):
        sys.exit(1)


@functions.command()
@click.argument("name")
@endpoint_option
def delete(name: str, endpoint_url: str) -> None:
    """Delete function NAME (its logs stay until pushed out)."""
    with aws_errors(endpoint_url):
        aws_client("lambda", endpoint_url).delete_function(FunctionName=name)
    click.echo(f"deleted {name}")


INIT_SECONDS = 10  # Lambda's init phase limit: with the timeout, the longest an invocation's log waits
MAX_TIMEOUT_SECONDS = 900
POLL_SECONDS = 1.0


@functions.command()
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--since", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Only lines of the last SECONDS.")
@click.option("--limit", type=click.IntRange(min=0), default=200, show_default=True,
              help="Lines printed at first: the latest ones.")
@endpoint_option
def logs(name: str, follow: bool, since: float | None, limit: int, endpoint_url: str) -> None:
    """Print the log of function NAME: START/END/REPORT lines and what its handler printed (CloudWatch
    Logs FilterLogEvents on the log group /aws/lambda/NAME)."""
    client = aws_client("logs", endpoint_url)
    group = f"/aws/lambda/{name}"
    with aws_errors(endpoint_url):
        try:
            # tidelake's eventIds grow in the order lines were stored: past the newest one, a line is new.
            last = max((int(e["eventId"]) for e in _latest(client, group, 1, None)), default=-1) if follow else -1
            latest = _latest(client, group, limit, None if since is None else int((time.time() - since) * 1000))
        except client.exceptions.ResourceNotFoundException:
            if not follow:
                raise click.ClickException(f"No log for function {name}: log group {group} does not exist "
                                           "until the function runs.") from None
            if _timeout(endpoint_url, name) is None:
                raise click.ClickException(f"No function {name}, and no log of one.") from None
            last, latest = -1, []  # the first invocation creates the group
        for event in reversed(latest):  # they come newest first
            click.echo(event["message"])
            last = max(last, int(event["eventId"]))
        if not follow:
            return
        # An invocation's lines are stored when it ends, stamped from its start: polls look back that far.
        lookback = ((_timeout(endpoint_url, name) or MAX_TIMEOUT_SECONDS) + INIT_SECONDS + 1) * 1000
        try:
            while True:
                time.sleep(POLL_SECONDS)
                for event in _since(client, group, int(time.time() * 1000) - lookback):
                    if int(event["eventId"]) > last:
                        click.echo(event["message"])
                        last = int(event["eventId"])
        except KeyboardInterrupt:
            pass


def _latest(client: Any, group: str, count: int, start_ms: int | None) -> list[dict[str, Any]]:
    """The newest ``count`` events of the group (from ``start_ms`` on), newest first."""
    events: list[dict[str, Any]] = []
    args: dict[str, Any] = {"logGroupName": group, "startFromHead": False}
    if start_ms is not None:
        args["startTime"] = start_ms
    while len(events) < count:
        page = client.filter_log_events(**args, limit=min(count - len(events), 10_000))
        events += page["events"]
        if "nextToken" not in page:
            break
        args["nextToken"] = page["nextToken"]
    return events


def _since(client: Any, group: str, start_ms: int) -> Iterator[dict[str, Any]]:
    """Every event of the group stamped from ``start_ms`` on, in the order stored; none while the group
    does not exist yet."""
    try:
        for page in client.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=start_ms):
            yield from page["events"]
    except client.exceptions.ResourceNotFoundException:
        return


def _timeout(endpoint_url: str, name: str) -> int | None:
    """The function's timeout in seconds; None if there is no such function (its log may remain)."""
    client = aws_client("lambda", endpoint_url)
    try:
        return client.get_function_configuration(FunctionName=name)["Timeout"]
    except client.exceptions.ResourceNotFoundException:
        return None
