"""The ``tidelake`` command. Each command group lives in its own module and imports its
dependencies inside the command, so ``tidelake --help`` stays fast."""
from __future__ import annotations

import click

from tidelake import __version__
from tidelake.cli.compact import compact
from tidelake.cli.delivery import delivery
from tidelake.cli.demo import demo
from tidelake.cli.functions import functions
from tidelake.cli.lake import lake
from tidelake.cli.query import query
from tidelake.cli.schedules import schedules
from tidelake.cli.stream import stream
from tidelake.cli.tables import tables
from tidelake.cli.up import up


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tidelake")
def main() -> None:
    """tidelake: Kinesis, Firehose, S3, Glue, Athena, Lambda and DynamoDB on one machine."""


main.add_command(up)
main.add_command(stream)
main.add_command(demo)
main.add_command(delivery)
main.add_command(lake)
main.add_command(query)
main.add_command(compact)
main.add_command(functions)
main.add_command(tables)
main.add_command(schedules)
