"""``tidelake schedules``: scheduled rules (EventBridge API) of a running tidelake."""
from __future__ import annotations

import click

from tidelake.cli.stream import aws_client, aws_errors, endpoint_option


@click.group()
def schedules() -> None:
    """List, create, delete, enable and disable scheduled rules (EventBridge API)."""


@schedules.command("list")
@click.option("--prefix", default=None, help="Only rules whose name starts with this.")
@endpoint_option
def list_(prefix: str | None, endpoint_url: str) -> None:
    """The rules, their schedules and targets."""
    from rich.console import Console
    from rich.table import Table
    client = aws_client("events", endpoint_url)
    table = Table("rule", "schedule", "state", "targets", "description")
    with aws_errors(endpoint_url):
        pages = client.get_paginator("list_rules").paginate(**({"NamePrefix": prefix} if prefix else {}))
        for rule in (r for page in pages for r in page["Rules"]):
            targets = client.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            table.add_row(rule["Name"], rule.get("ScheduleExpression") or "(event pattern)", rule["State"],
                          "\n".join(t["Arn"] for t in targets) or "-", rule.get("Description", ""))
    Console().print(table)


@schedules.command()
@click.argument("name")
@click.argument("expression")
@click.option("--target", "target_arn", default=None, help="ARN of a Lambda function, Kinesis stream or Firehose "
              "delivery stream to send each fire to.")
@click.option("--input", "input_", default=None, help="JSON the target receives instead of the Scheduled Event.")
@click.option("--description", default=None)
@click.option("--disabled", is_flag=True, help="Create the rule disabled.")
@endpoint_option
def put(name: str, expression: str, target_arn: str | None, input_: str | None, description: str | None,
        disabled: bool, endpoint_url: str) -> None:
    """Create or update rule NAME firing on EXPRESSION, e.g. "cron(5 * * * ? *)" or "rate(1 hour)"."""
    client = aws_client("events", endpoint_url)
    params = {"Name": name, "ScheduleExpression": expression, "State": "DISABLED" if disabled else "ENABLED"}
    with aws_errors(endpoint_url):
        arn = client.put_rule(**params, **({"Description": description} if description else {}))["RuleArn"]
        if target_arn:
            target = {"Id": "target", "Arn": target_arn, **({"Input": input_} if input_ else {})}
            failed = client.put_targets(Rule=name, Targets=[target])["FailedEntries"]
            if failed:
                raise click.ClickException(f"{failed[0]['ErrorCode']}: {failed[0]['ErrorMessage']}")
    click.echo(arn)


@schedules.command()
@click.argument("name")
@endpoint_option
def delete(name: str, endpoint_url: str) -> None:
    """Remove rule NAME's targets, then the rule."""
    client = aws_client("events", endpoint_url)
    with aws_errors(endpoint_url):
        ids = [t["Id"] for t in client.list_targets_by_rule(Rule=name)["Targets"]]
        if ids:
            client.remove_targets(Rule=name, Ids=ids)
        client.delete_rule(Name=name)


@schedules.command()
@click.argument("name")
@endpoint_option
def enable(name: str, endpoint_url: str) -> None:
    """Enable rule NAME: its next slot counts from now."""
    with aws_errors(endpoint_url):
        aws_client("events", endpoint_url).enable_rule(Name=name)


@schedules.command()
@click.argument("name")
@endpoint_option
def disable(name: str, endpoint_url: str) -> None:
    """Disable rule NAME: it fires no more until enabled."""
    with aws_errors(endpoint_url):
        aws_client("events", endpoint_url).disable_rule(Name=name)
