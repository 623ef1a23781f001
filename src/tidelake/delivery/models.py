"""Delivery stream data model (Firehose). Attribute names follow the AWS members in snake_case."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from tidelake.delivery.convert import TableSchema

MIB = 1 << 20


class SourceType(str, enum.Enum):
    DIRECT_PUT = "DirectPut"
    KINESIS_STREAM = "KinesisStreamAsSource"


class DeliveryStreamStatus(str, enum.Enum):
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    DELETING = "DELETING"


@dataclass(slots=True)
class BufferingHints:
    size_in_mbs: int = 5
    interval_in_seconds: int = 300


@dataclass(slots=True)
class Processor:
    type: str  # RecordDeAggregation | Lambda | MetadataExtraction | AppendDelimiterToRecord
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class FormatConversion:
    """JSON -> Parquet with the OpenX JSON SerDe rules, driven by a table schema."""

    schema: TableSchema
    compression: str = "SNAPPY"
    case_insensitive: bool = True
    convert_dots_in_json_keys_to_underscores: bool = False
    column_to_json_key_mappings: dict[str, str] = field(default_factory=dict)
    # Where the schema came from, reported back by DescribeDeliveryStream.
    database_name: str | None = None
    table_name: str | None = None


@dataclass(slots=True)
class S3Destination:
    bucket: str
    prefix: str | None = None
    error_output_prefix: str | None = None
    buffering_hints: BufferingHints = field(default_factory=BufferingHints)
    compression_format: str = "UNCOMPRESSED"
    processing_enabled: bool = False
    processors: list[Processor] = field(default_factory=list)
    dynamic_partitioning: bool = False
    format_conversion: FormatConversion | None = None
    file_extension: str | None = None
    role_arn: str = ""

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"

    def processor(self, kind: str) -> Processor | None:
        if not self.processing_enabled:
            return None
        return next((p for p in self.processors if p.type == kind), None)


@dataclass(slots=True)
class DeliveryStream:
    delivery_stream_name: str
    delivery_stream_arn: str
    source_type: SourceType
    source_stream: str  # the stream read: the user's (Kinesis source) or an internal one (DirectPut)
    destination: S3Destination
    created_at: float
    version_id: int = 1
    last_update_at: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    settled_at: float = 0.0
    deleting: bool = False
    destination_id: str = "destinationId-000000000001"
    source_start_counter: int = 0  # the source's counter at creation: delivery starts there


@dataclass(slots=True)
class DeliveryMetrics:
    """Counters since start-up, plus gauges computed on demand."""

    incoming_records: int = 0
    incoming_bytes: int = 0
    delivered_records: int = 0
    delivered_bytes: int = 0
    delivered_objects: int = 0
    failed_records: dict[str, int] = field(default_factory=dict)  # error output type -> records
    write_failures: dict[str, int] = field(default_factory=dict)  # error class -> attempts
    last_error: str | None = None
    backlog_records: int = 0
    oldest_undelivered_age_seconds: float = 0.0
