"""Records -> lake objects: Firehose's processing chain for one flush of a delivery stream.

    deaggregate -> transform (Lambda) -> partition keys (jq / Lambda metadata)
        -> group by partition -> Parquet conversion or newline join -> compression -> object keys

Everything is a pure function of the records, the configuration and the batch id, so the worker can
redo a flush after a crash and produce the very same objects under the very same keys (that is what
makes delivery exactly-once). Records that fail a step become error records under the error
prefix, with the error output type of the step, never dropped.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Protocol

from tidelake.delivery import compression, processors, prefix
from tidelake.delivery.convert import to_parquet
from tidelake.delivery.errors import PrefixEvaluationFailed
from tidelake.delivery.models import DeliveryStream

PROCESSING_FAILED = "processing-failed"
CONVERSION_FAILED = "format-conversion-failed"
PARTITIONING_FAILED = processors.METADATA_EXTRACTION_OUTPUT_TYPE  # dynamic partitioning failures
PARTITION_LIMIT_EXCEEDED = "activePartitionExceeded"
ACTIVE_PARTITION_LIMIT = 500  # per delivery stream; records of further partitions go to the error prefix
TRANSFORM_BATCH = 1000  # records per transform invocation


class TransformInvoker(Protocol):
    """Runs a Firehose transform function (a Lambda ARN) on one event and returns its answer."""

    def __call__(self, function_arn: str, event: dict) -> object: ...


@dataclass(slots=True)
class LakeObject:
    key: str
    body: bytes
    records: int
    error_type: str | None = None  # None: delivered data; else the error output type


@dataclass
class _Failures:
    """Error records per error output type, with the arrival time of each (for the prefix)."""

    by_type: dict[str, list[tuple[bytes, float]]] = field(default_factory=dict)

    def add(self, error_type: str, record: bytes, arrival: float) -> None:
        self.by_type.setdefault(error_type, []).append((record, arrival))


def assemble(stream: DeliveryStream, data: list[bytes], arrivals: list[float], batch_id: str, now: float,
             transform: TransformInvoker | None = None) -> list[LakeObject]:
    """The objects one flush writes: delivered data first, then error outputs."""
    dest = stream.destination
    failures = _Failures()
    step = dest.processor("RecordDeAggregation")
    if step is not None:
        data, sources = processors.deaggregate(data, step.parameters.get("SubRecordType", "JSON"),
                                               step.parameters.get("Delimiter"))
        arrivals = [arrivals[i] for i in sources]
    lambda_keys: list[dict[str, str] | None] | None = None
    step = dest.processor("Lambda")
    if step is not None:
        data, arrivals, lambda_keys = _transform(stream, step.parameters, data, arrivals, batch_id, now,
                                                 transform, failures)
    partition_keys = _partition_keys(stream, data, arrivals, lambda_keys, now, failures) \
        if dest.dynamic_partitioning else None
    naming = _Naming(stream, batch_id)
    objects: list[LakeObject] = []
    for number, (keys, indexes) in enumerate(_groups(partition_keys, len(data))):
        if number >= ACTIVE_PARTITION_LIMIT:  # "Buffer data for dynamic partitioning": the 500 quota
            for i in indexes:
                failures.add(PARTITION_LIMIT_EXCEEDED, processors.partitioning_error_record(
                    data[i], arrivals[i], f"The delivery stream has more than {ACTIVE_PARTITION_LIMIT} active "
                    "partitions.", now, code="DynamicPartitioning.ActivePartitionsLimitExceeded"), arrivals[i])
            continue
        group = [data[i] for i in indexes]
        oldest = min(arrivals[i] for i in indexes)
        try:
            location = naming.data_prefix(oldest, keys)
        except PrefixEvaluationFailed as e:
            for i in indexes:
                failures.add(PARTITIONING_FAILED, processors.partitioning_error_record(
                    data[i], arrivals[i], e.message, now), arrivals[i])
            continue
        name = naming.name(oldest, len(objects))
        body, converted = _body(stream, group, [arrivals[i] for i in indexes], now, failures,
                                zip_entry=name.removesuffix(naming.extension))
        if body is not None:
            objects.append(LakeObject(location + name, body, converted))
    for error_type, records in failures.by_type.items():
        oldest = min(arrival for _, arrival in records)
        body = b"".join(record + b"\n" for record, _ in records)
        name = naming.name(oldest, len(objects))
        objects.append(LakeObject(naming.error_prefix(oldest, error_type) + name,
                                  compression.compress(body, dest.compression_format,
                                                       zip_entry=name.removesuffix(naming.extension)),
                                  len(records), error_type))
    return objects


def _groups(partition_keys: list[dict[str, str] | None] | None, count: int) -> list[tuple[dict[str, str], list[int]]]:
    if partition_keys is None:
        return [({}, list(range(count)))] if count else []
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, keys in enumerate(partition_keys):
        if keys is not None:
            groups.setdefault(tuple(sorted(keys.items())), []).append(i)
    return [(dict(k), v) for k, v in groups.items()]


def _body(stream: DeliveryStream, records: list[bytes], arrivals: list[float], now: float,
          failures: _Failures, zip_entry: str) -> tuple[bytes | None, int]:
    dest = stream.destination
    conversion = dest.format_conversion
    if conversion is not None:
        result = to_parquet(records, conversion.schema, compression=conversion.compression,
                            case_insensitive=conversion.case_insensitive,
                            convert_dots_to_underscores=conversion.convert_dots_in_json_keys_to_underscores,
                            column_to_json_key_mappings=conversion.column_to_json_key_mappings or None)
        for (index, message), code in zip(result.failures, result.failure_codes):
            failures.add(CONVERSION_FAILED, processors.format_conversion_error_record(
                records[index], arrivals[index], code, message, now,
                data_catalog_table={"databaseName": conversion.database_name or "",
                                    "tableName": conversion.table_name or ""}), arrivals[index])
        return result.parquet, result.converted
    delimited = dest.processor("AppendDelimiterToRecord") is not None
    body = processors.append_delimiter(records) if delimited else b"".join(records)
    return compression.compress(body, dest.compression_format, zip_entry=zip_entry), len(records)


def _transform(stream: DeliveryStream, parameters: dict[str, str], data: list[bytes], arrivals: list[float],
               batch_id: str, now: float, transform: TransformInvoker | None, failures: _Failures,
               ) -> tuple[list[bytes], list[float], list[dict[str, str] | None]]:
    arn = parameters.get("LambdaArn", "")
    attempts = 1 + int(parameters.get("NumberOfRetries", "3"))
    out_data: list[bytes] = []
    out_arrivals: list[float] = []
    out_keys: list[dict[str, str] | None] = []
    for start in range(0, len(data), TRANSFORM_BATCH):
        chunk, chunk_arrivals = data[start:start + TRANSFORM_BATCH], arrivals[start:start + TRANSFORM_BATCH]
        ids = [f"{batch_id}-{start + i}" for i in range(len(chunk))]
        event = processors.transform_event(chunk, chunk_arrivals, invocation_id=f"{batch_id}-{start}",
                                           delivery_stream_arn=stream.delivery_stream_arn,
                                           region=stream.delivery_stream_arn.split(":")[3], record_ids=ids)
        outcome, error = None, ("Lambda.FunctionNotFound", f"Function not found: {arn}")
        for _ in range(attempts if transform is not None else 0):
            try:
                outcome = processors.parse_transform_response(transform(arn, event), ids)  # type: ignore[misc]
                break
            except Exception as e:  # the function failed or answered badly: retry, then fail the records
                error = (getattr(e, "code", "Lambda.FunctionError"), str(e))
        if outcome is None:
            for raw, arrival in zip(chunk, chunk_arrivals):
                failures.add(PROCESSING_FAILED, processors.error_record(raw, arrival, attempts, error[0], error[1],
                                                                         now, arn), arrival)
            continue
        for i, result in enumerate(outcome.records):
            if result.result == "Ok":
                out_data.append(result.data)
                out_arrivals.append(chunk_arrivals[i])
                out_keys.append(result.partition_keys)
            elif result.result == "ProcessingFailed":
                failures.add(PROCESSING_FAILED, processors.error_record(
                    chunk[i], chunk_arrivals[i], 1, "Lambda.ProcessingFailedStatus",
                    "ProcessingFailed status set for record", now, arn), chunk_arrivals[i])
    return out_data, out_arrivals, out_keys


def _partition_keys(stream: DeliveryStream, data: list[bytes], arrivals: list[float],
                    lambda_keys: list[dict[str, str] | None] | None, now: float,
                    failures: _Failures) -> list[dict[str, str] | None]:
    keys: list[dict[str, str] | None] = [{} for _ in data]
    if lambda_keys is not None:
        keys = [{f"partitionKeyFromLambda:{k}": v for k, v in (found or {}).items()} for found in lambda_keys]
    step = stream.destination.processor("MetadataExtraction")
    if step is not None:
        extracted, errors = processors.extract_partition_keys(data, step.parameters["MetadataExtractionQuery"])
        for i, (found, error) in enumerate(zip(extracted, errors)):
            if error is not None or found is None:
                failures.add(PARTITIONING_FAILED, processors.partitioning_error_record(
                    data[i], arrivals[i], error or "The query produced no partition keys.", now), arrivals[i])
                keys[i] = None
            elif keys[i] is not None:
                keys[i].update({f"partitionKeyFromQuery:{k}": v for k, v in found.items()})
    return keys


class _Naming:
    """Object keys derived from the batch id only, so a redone flush overwrites its own objects."""

    def __init__(self, stream: DeliveryStream, batch_id: str) -> None:
        self.stream = stream
        self.seed = f"{stream.delivery_stream_arn}|{stream.version_id}|{batch_id}"
        self._draws = itertools.count()
        dest = stream.destination
        self._data_template = prefix.effective_prefix(dest.prefix, dest.dynamic_partitioning)
        self._error_template = prefix.effective_error_prefix(dest.prefix, dest.error_output_prefix)
        parquet = dest.format_conversion is not None
        self.extension = dest.file_extension if dest.file_extension is not None else \
            compression.extension(dest.compression_format, parquet=parquet)

    def _random(self, length: int) -> str:
        digest = hashlib.sha256(f"{self.seed}|{next(self._draws)}".encode()).hexdigest()
        return digest[:length]

    def data_prefix(self, oldest: float, keys: dict[str, str]) -> str:
        return prefix.evaluate(self._data_template, timestamp=oldest, partition_keys=keys,
                               random_string=lambda: self._random(prefix.RANDOM_STRING_LENGTH))

    def error_prefix(self, oldest: float, error_type: str) -> str:
        return prefix.evaluate(self._error_template, timestamp=oldest, error_output_type=error_type,
                               random_string=lambda: self._random(prefix.RANDOM_STRING_LENGTH))

    def name(self, oldest: float, index: int) -> str:
        digest = hashlib.sha256(f"{self.seed}|object-{index}".encode()).hexdigest()
        uuid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        return prefix.object_name(self.stream.delivery_stream_name, self.stream.version_id, oldest, uuid,
                                  file_extension=self.extension)

