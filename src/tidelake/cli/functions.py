"""``tidelake functions``: register, invoke and watch functions through the Lambda API of a running
tidelake; ``logs`` reads the function logs kept in the data dir."""
from __future__ import annotations

import base64
import sys
import time
from pathlib import Path

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


@functions.command()
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--since", type=float, default=None, metavar="SECONDS", help="Only lines of the last SECONDS.")
@click.option("--limit", type=int, default=200, show_default=True, help="Lines printed at first.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The server's data dir (default ./tidelake-data, or TIDELAKE_DATA_DIR).")
def logs(name: str, follow: bool, since: float | None, limit: int, data_dir: Path | None) -> None:
    """Print the log of function NAME: START/END/REPORT lines and what its handler printed."""
    from tidelake.cli.up import load_settings
    from tidelake.functions.logs import LogStore, log_path
    settings = load_settings(data_dir, None)
    path = log_path(settings.data_dir)
    if not path.is_file():
        raise click.ClickException(f"No function logs under {settings.data_dir.resolve()}: has a function run "
                                   "there? (Pass the server's --data-dir.)")
    store = LogStore(path, settings.function_log_max_bytes, read_only=True)
    try:
        last = store.last_invocation(name)  # what --follow has printed, or skipped by --since/--limit
        events = store.events(name, time.time() - since if since is not None else None, limit)
        while True:
            for event in events:
                click.echo(event.message)
            last = max([last] + [e.invocation_id for e in events])
            if not follow:
                return
            time.sleep(0.5)
            events = store.events_after(name, last)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
