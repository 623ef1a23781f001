"""Errors of the data catalog. Messages follow the wording of the Glue Data Catalog."""
from __future__ import annotations

from tidelake.errors import AlreadyExists, InUse, InvalidArgument, NotFound


class DatabaseNotFound(NotFound):
    def __init__(self, database: str) -> None:
        self.database = database
        super().__init__(f"Database {database} not found.")


class TableNotFound(NotFound):
    def __init__(self, database: str, table: str) -> None:
        self.database = database
        self.table = table
        super().__init__(f"Table {table} not found.")


class PartitionNotFound(NotFound):
    def __init__(self, database: str, table: str, values: list[str]) -> None:
        self.database = database
        self.table = table
        self.values = values
        super().__init__("Cannot find partition.")


class DatabaseAlreadyExists(AlreadyExists):
    def __init__(self, database: str) -> None:
        self.database = database
        super().__init__("Database already exists.")


class TableAlreadyExists(AlreadyExists):
    def __init__(self, database: str, table: str) -> None:
        self.database = database
        self.table = table
        super().__init__("Table already exists.")


class PartitionAlreadyExists(AlreadyExists):
    def __init__(self, database: str, table: str, values: list[str]) -> None:
        self.database = database
        self.table = table
        self.values = values
        super().__init__("Partition already exists.")


class PartitionValuesMismatch(InvalidArgument):
    """A partition gives a different number of values than its table has partition keys."""

    def __init__(self, table: str, values: list[str], key_count: int) -> None:
        self.table = table
        self.values = values
        self.key_count = key_count
        super().__init__("The number of partition keys do not match the number of partition values")


class InvalidPartitionExpression(InvalidArgument):
    """A GetPartitions filter expression that cannot be parsed or evaluated against the table's keys."""

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__(f"Unsupported expression '{expression}': {reason}")


class InvalidNamePattern(InvalidArgument):
    """A GetTables Expression that is not a valid pattern."""

    def __init__(self, pattern: str, reason: str) -> None:
        self.pattern = pattern
        self.reason = reason
        super().__init__(f"Invalid expression '{pattern}': {reason}")




# -- crawlers (messages after Glue's) ---------------------------------------------------------------

class CrawlerNotFound(NotFound):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Crawler entry with name {name} does not exist")


class CrawlerAlreadyExists(AlreadyExists):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name} already exists")


class CrawlerRunning(InUse):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Crawler with name {name} has already started")


class CrawlerNotRunning(InUse):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Crawler with name {name} isn't running")


class CrawlerStopping(InUse):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Crawler with name {name} is stopping")


class InvalidCrawler(InvalidArgument):
    """A crawler definition Glue would refuse (targets, policies, schedule, configuration)."""
