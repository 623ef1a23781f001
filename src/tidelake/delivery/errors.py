"""Errors of the delivery capability (stream -> lake)."""
from __future__ import annotations

from tidelake.errors import InvalidArgument


class PrefixInvalid(InvalidArgument):
    """A ``Prefix`` or ``ErrorOutputPrefix`` breaks one of Firehose's prefix rules."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class PrefixEvaluationFailed(InvalidArgument):
    """A valid prefix could not be evaluated for a batch of records.

    Firehose delivers such records under the error prefix instead of failing the stream, so the
    delivery engine catches this class (and only this one) to reroute a batch.
    """


class PartitionKeyMissing(PrefixEvaluationFailed):
    """The prefix names a partition key the record did not produce."""

    def __init__(self, key: str, namespace: str = "partitionKeyFromQuery") -> None:
        self.key = key
        self.namespace = namespace
        super().__init__(f"Partition key '{key}' used by !{{{namespace}:{key}}} is missing from the record.")


class EvaluatedPrefixTooLong(PrefixEvaluationFailed):
    """The evaluated prefix is longer than Firehose allows."""

    def __init__(self, evaluated: str, limit: int) -> None:
        self.evaluated = evaluated
        self.limit = limit
        super().__init__(f"The evaluated prefix is {len(evaluated)} characters long; the limit is {limit}.")
