"""Errors of the SQL engine. Messages read like Athena's StateChangeReason: an error name, then
``line L:C:`` where the statement pins a place, e.g.
``COLUMN_NOT_FOUND: line 1:8: Column 'x' cannot be resolved``."""
from __future__ import annotations

from tidelake.errors import InvalidArgument, TidelakeError

USER, SYSTEM = "USER", "SYSTEM"  # AthenaError.ErrorCategory 2 and 1


class QueryFailed(InvalidArgument):
    """The statement cannot run: bad syntax, unknown table or column, a broken rule of the
    statement (CTAS target not empty, too many partitions), or bad data."""

    def __init__(self, message: str, *, error_name: str = "", category: str = USER,
                 line: int | None = None, column: int | None = None) -> None:
        self.error_name = error_name  # Trino's error name: SYNTAX_ERROR, TABLE_NOT_FOUND, ...
        self.category = category
        self.line, self.column = line, column
        where = f"line {line}:{column}: " if line is not None else ""
        prefix = f"{error_name}: " if error_name else ""
        super().__init__(f"{prefix}{where}{message}")


class QueryCancelled(TidelakeError):
    """The statement was interrupted by ``QueryEngine.cancel`` or its own time limit."""

    def __init__(self, reason: str = "Query cancelled by user", *, timed_out: bool = False) -> None:
        self.timed_out = timed_out
        self.category = SYSTEM if timed_out else USER
        super().__init__(reason)


class InvalidCompaction(InvalidArgument):
    """A compaction that cannot run as asked: no partitions, a target of another shape or place."""
