"""Errors of the delivery capability (stream -> lake)."""
from __future__ import annotations

from tidelake.errors import AlreadyExists, InUse, InvalidArgument, NotFound


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


class DeliveryStreamNotFound(NotFound):
    def __init__(self, name: str, account_id: str) -> None:
        self.delivery_stream_name = name
        super().__init__(f"Firehose {name} under account {account_id} not found.")


class DeliveryStreamAlreadyExists(AlreadyExists):
    def __init__(self, name: str, account_id: str) -> None:
        self.delivery_stream_name = name
        super().__init__(f"Firehose {name} under accountId {account_id} already exists")


class SourceStreamNotFound(InvalidArgument):
    """KinesisStreamSourceConfiguration names a stream that does not exist.

    CreateDeliveryStream's documented errors hold no ResourceNotFoundException (API_CreateDeliveryStream.html):
    a bad source is an invalid argument of the call.
    """

    def __init__(self, stream_name: str) -> None:
        self.stream_name = stream_name
        super().__init__(f"The source Kinesis stream {stream_name} does not exist; create it first "
                         "(KinesisStreamSourceConfiguration.KinesisStreamARN).")


class DeliveryStreamInUse(InUse):
    def __init__(self, name: str, status: str) -> None:
        self.delivery_stream_name = name
        super().__init__(f"Firehose {name} is in status {status}, which does not allow this operation.")


class ConcurrentModification(InUse):
    """UpdateDestination named a version that is no longer the current one."""

    def __init__(self, name: str, given: int, current: int) -> None:
        self.delivery_stream_name = name
        super().__init__(f"Firehose {name} is at version {current}, not {given}: describe it again and retry "
                         "with its current DeliveryStreamVersionId.")


class CompressionFormatUnknown(InvalidArgument):
    """A ``CompressionFormat`` (or ParquetSerDe ``Compression``) value Firehose does not define."""

    def __init__(self, value: str, allowed: tuple[str, ...]) -> None:
        self.value = value
        self.allowed = allowed
        super().__init__(f"Compression format '{value}' is not one of {', '.join(allowed)}.")


class CompressedDataCorrupt(InvalidArgument):
    """Bytes handed to ``compression.decompress`` are not valid data of the named format."""

    def __init__(self, fmt: str, reason: str) -> None:
        self.format = fmt
        super().__init__(f"Not valid {fmt} data: {reason}")


class ProcessorParameterInvalid(InvalidArgument):
    """A processor parameter (a jq query, a base64 delimiter) cannot be used."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


class TransformResponseInvalid(InvalidArgument):
    """The transform function answered in a way Firehose rejects; the whole invocation fails.

    ``code`` is the error code Firehose writes into each record's ``processing-failed`` entry
    (``Lambda.JsonProcessingException``, ``Lambda.MissingRecordId``, ...).
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class TableSchemaInvalid(InvalidArgument):
    """A format-conversion schema names a column type the converter cannot write."""

    def __init__(self, column: str, message: str) -> None:
        self.column = column
        super().__init__(message)

