"""Amazon Data Firehose (JSON 1.1, ``Firehose_20150804.*``) over the DeliveryService.

Supported destination: Amazon S3 (``ExtendedS3DestinationConfiguration`` or the older
``S3DestinationConfiguration``) into the lake; sources: DirectPut and a Kinesis stream.
"""
from __future__ import annotations

from typing import Any, Callable

from tidelake.delivery.convert import TableSchema
from tidelake.delivery.models import (BufferingHints, DeliveryStream, FormatConversion, Processor, S3Destination,
                                      SourceType)
from tidelake.delivery.service import DeliveryService
from tidelake.errors import InvalidArgument, Unsupported

P = dict[str, Any]
UNSUPPORTED_DESTINATIONS = ("RedshiftDestinationConfiguration", "ElasticsearchDestinationConfiguration",
                            "AmazonopensearchserviceDestinationConfiguration", "SplunkDestinationConfiguration",
                            "HttpEndpointDestinationConfiguration", "AmazonOpenSearchServerlessDestinationConfiguration",
                            "SnowflakeDestinationConfiguration", "IcebergDestinationConfiguration")

SUPPORTED_PROCESSORS = ("RecordDeAggregation", "Lambda", "MetadataExtraction", "AppendDelimiterToRecord")


class FirehoseApi:
    def __init__(self, service: DeliveryService, streams_arn_to_name: Any) -> None:
        self.service = service
        self.stream_name_from_arn = streams_arn_to_name

    def create_delivery_stream(self, p: P) -> P:
        for member in UNSUPPORTED_DESTINATIONS + ("MSKSourceConfiguration", "DatabaseSourceConfiguration"):
            if member in p:
                raise Unsupported(f"tidelake delivers to Amazon S3 (the lake) only; {member} is not supported.")
        kind = SourceType(p.get("DeliveryStreamType", "DirectPut"))
        source = None
        if kind is SourceType.KINESIS_STREAM:
            config = p.get("KinesisStreamSourceConfiguration")
            if not config:
                raise InvalidArgument("KinesisStreamSourceConfiguration is required for KinesisStreamAsSource.")
            source = self.stream_name_from_arn(config["KinesisStreamARN"])
        elif kind is not SourceType.DIRECT_PUT:
            raise Unsupported(f"DeliveryStreamType {kind.value} is not supported.")
        stream = self.service.create_delivery_stream(p["DeliveryStreamName"], self._destination(p, "Configuration"),
                                                     source, {t["Key"]: t.get("Value", "") for t in p.get("Tags", [])})
        return {"DeliveryStreamARN": stream.delivery_stream_arn}

    def _destination(self, p: P, suffix: str) -> S3Destination:
        config = p.get(f"ExtendedS3Destination{suffix}") or p.get(f"S3Destination{suffix}")
        if config is None:
            raise InvalidArgument("An ExtendedS3DestinationConfiguration (or S3DestinationConfiguration) is required: "
                                  "tidelake delivers into the lake.")
        return destination_from(config, self.service.resolve_schema)

    def describe_delivery_stream(self, p: P) -> P:
        stream = self.service.describe_delivery_stream(p["DeliveryStreamName"])
        return {"DeliveryStreamDescription": self._description(stream)}

    def _description(self, stream: DeliveryStream) -> P:
        if stream.source_type is SourceType.KINESIS_STREAM:
            source = {"KinesisStreamSourceDescription": {
                "KinesisStreamARN": self.service.streams.stream_arn(stream.source_stream),
                "DeliveryStartTimestamp": stream.created_at}}
        else:
            source = {"DirectPutSourceDescription": {}}
        metrics = self.service.metrics(stream.delivery_stream_name)
        description: P = {
            "DeliveryStreamName": stream.delivery_stream_name, "DeliveryStreamARN": stream.delivery_stream_arn,
            "DeliveryStreamStatus": self.service.status(stream), "DeliveryStreamType": stream.source_type,
            "VersionId": str(stream.version_id), "CreateTimestamp": stream.created_at,
            "LastUpdateTimestamp": stream.last_update_at, "Source": source,
            "Destinations": [{"DestinationId": stream.destination_id,
                              "ExtendedS3DestinationDescription": destination_description(stream.destination),
                              "S3DestinationDescription": s3_description(stream.destination)}],
            "HasMoreDestinations": False,
            "DeliveryStreamEncryptionConfiguration": {"Status": "DISABLED"},
        }
        if metrics.last_error and metrics.write_failures:
            # The model's DeliveryStreamFailureType has no S3 member: UNKNOWN_ERROR is the one that fits.
            description["FailureDescription"] = {"Type": "UNKNOWN_ERROR", "Details": metrics.last_error}
        return description

    def list_delivery_streams(self, p: P) -> P:
        kind = SourceType(p["DeliveryStreamType"]) if p.get("DeliveryStreamType") else None
        names = [s.delivery_stream_name for s in self.service.list_delivery_streams(kind)]
        start = p.get("ExclusiveStartDeliveryStreamName")
        if start:
            names = [n for n in names if n > start]
        limit = p.get("Limit", 10)
        return {"DeliveryStreamNames": names[:limit], "HasMoreDeliveryStreams": len(names) > limit}

    def delete_delivery_stream(self, p: P) -> None:
        self.service.delete_delivery_stream(p["DeliveryStreamName"])

    def update_destination(self, p: P) -> None:
        stream = self.service.describe_delivery_stream(p["DeliveryStreamName"])
        if p["DestinationId"] != stream.destination_id:
            raise InvalidArgument(f"Destination {p['DestinationId']} does not exist in {stream.delivery_stream_name}; "
                                  f"it has {stream.destination_id}.")
        update = p.get("ExtendedS3DestinationUpdate") or p.get("S3DestinationUpdate")
        if update is None:
            raise Unsupported("tidelake delivers to Amazon S3 (the lake) only: give an ExtendedS3DestinationUpdate.")
        merged = {**destination_config(stream.destination), **update}
        self.service.update_destination(stream.delivery_stream_name, int(p["CurrentDeliveryStreamVersionId"]),
                                        destination_from(merged, self.service.resolve_schema))

    def put_record(self, p: P) -> P:
        ids = self.service.put_record_batch(p["DeliveryStreamName"], [p["Record"]["Data"]])
        return {"RecordId": ids[0], "Encrypted": False}

    def put_record_batch(self, p: P) -> P:
        ids = self.service.put_record_batch(p["DeliveryStreamName"], [r["Data"] for r in p["Records"]])
        return {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": [{"RecordId": i} for i in ids]}

    def tag_delivery_stream(self, p: P) -> None:
        self.service.tag(p["DeliveryStreamName"], {t["Key"]: t.get("Value", "") for t in p["Tags"]})

    def untag_delivery_stream(self, p: P) -> None:
        self.service.untag(p["DeliveryStreamName"], p["TagKeys"])

    def list_tags_for_delivery_stream(self, p: P) -> P:
        tags = sorted(self.service.describe_delivery_stream(p["DeliveryStreamName"]).tags.items())
        start = p.get("ExclusiveStartTagKey")
        if start:
            tags = [t for t in tags if t[0] > start]
        limit = p.get("Limit", 50)
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags[:limit]], "HasMoreTags": len(tags) > limit}


def destination_from(config: P, resolve_schema: Callable[[str, str], TableSchema]) -> S3Destination:
    """An ``ExtendedS3DestinationConfiguration`` (or its older S3 form) as the core's S3Destination."""
    bucket_arn = config.get("BucketARN", "")
    if not bucket_arn.startswith("arn:aws:s3:::") or len(bucket_arn) <= len("arn:aws:s3:::"):
        raise InvalidArgument(f"BucketARN {bucket_arn!r} is not an S3 bucket ARN (arn:aws:s3:::<bucket>).")
    hints = config.get("BufferingHints", {})
    processing = config.get("ProcessingConfiguration") or {}
    conversion = config.get("DataFormatConversionConfiguration") or {}
    # Refused rather than silently ignored: each would change what lands in the lake, or where.
    for member, honoured in (("CustomTimeZone", ("UTC",)), ("S3BackupMode", ("Disabled",))):
        if config.get(member, honoured[0]) not in honoured:
            raise Unsupported(f"{member} {config[member]!r} is not supported; tidelake supports {honoured[0]}.")
    unknown = sorted({p["Type"] for p in processing.get("Processors", [])} - set(SUPPORTED_PROCESSORS))
    if unknown and processing.get("Enabled", True):
        raise Unsupported(f"The {', '.join(unknown)} processor is not supported; tidelake runs "
                          f"{', '.join(SUPPORTED_PROCESSORS)}.")
    return S3Destination(
        bucket=bucket_arn[len("arn:aws:s3:::"):], prefix=config.get("Prefix"),
        error_output_prefix=config.get("ErrorOutputPrefix"),
        buffering_hints=BufferingHints(hints.get("SizeInMBs", 5), hints.get("IntervalInSeconds", 300)),
        compression_format=config.get("CompressionFormat", "UNCOMPRESSED"),
        processing_enabled=bool(processing.get("Enabled", bool(processing.get("Processors")))),
        processors=[Processor(p["Type"], {x["ParameterName"]: x["ParameterValue"] for x in p.get("Parameters", [])})
                    for p in processing.get("Processors", [])],
        dynamic_partitioning=bool((config.get("DynamicPartitioningConfiguration") or {}).get("Enabled")),
        format_conversion=(_conversion(conversion, resolve_schema)
                           if conversion.get("Enabled", bool(conversion)) else None),
        file_extension=config.get("FileExtension"), role_arn=config.get("RoleARN", ""))


def _conversion(config: P, resolve_schema: Callable[[str, str], TableSchema]) -> FormatConversion:
    schema_config = config.get("SchemaConfiguration") or {}
    database, table = schema_config.get("DatabaseName"), schema_config.get("TableName")
    if not database or not table:
        raise InvalidArgument("DataFormatConversionConfiguration.SchemaConfiguration needs DatabaseName and TableName.")
    output = (config.get("OutputFormatConfiguration") or {}).get("Serializer") or {}
    if "OrcSerDe" in output:
        raise Unsupported("ORC output is not supported; use ParquetSerDe.")
    deserializer = (config.get("InputFormatConfiguration") or {}).get("Deserializer") or {}
    if "HiveJsonSerDe" in deserializer:
        openx: P = {}
    else:
        openx = deserializer.get("OpenXJsonSerDe") or {}
    return FormatConversion(
        schema=resolve_schema(database, table),
        compression=(output.get("ParquetSerDe") or {}).get("Compression", "SNAPPY"),
        case_insensitive=openx.get("CaseInsensitive", True),
        convert_dots_in_json_keys_to_underscores=openx.get("ConvertDotsInJsonKeysToUnderscores", False),
        column_to_json_key_mappings=openx.get("ColumnToJsonKeyMappings") or {},
        database_name=database, table_name=table)


def destination_config(dest: S3Destination) -> P:
    """The configuration form of a destination (UpdateDestination merges an update into it)."""
    config: P = {"BucketARN": dest.bucket_arn, "RoleARN": dest.role_arn,
                 "BufferingHints": {"SizeInMBs": dest.buffering_hints.size_in_mbs,
                                    "IntervalInSeconds": dest.buffering_hints.interval_in_seconds},
                 "CompressionFormat": dest.compression_format,
                 "ProcessingConfiguration": {"Enabled": dest.processing_enabled, "Processors": [
                     {"Type": p.type, "Parameters": [{"ParameterName": k, "ParameterValue": v}
                                                     for k, v in p.parameters.items()]} for p in dest.processors]},
                 "DynamicPartitioningConfiguration": {"Enabled": dest.dynamic_partitioning}}
    for key, value in (("Prefix", dest.prefix), ("ErrorOutputPrefix", dest.error_output_prefix),
                       ("FileExtension", dest.file_extension)):
        if value is not None:
            config[key] = value
    if dest.format_conversion is not None:
        c = dest.format_conversion
        config["DataFormatConversionConfiguration"] = {
            "Enabled": True,
            "SchemaConfiguration": {"DatabaseName": c.database_name, "TableName": c.table_name},
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {
                "CaseInsensitive": c.case_insensitive,
                "ConvertDotsInJsonKeysToUnderscores": c.convert_dots_in_json_keys_to_underscores,
                "ColumnToJsonKeyMappings": c.column_to_json_key_mappings}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": c.compression}}}}
    return config


def destination_description(dest: S3Destination) -> P:
    return {**destination_config(dest), "S3BackupMode": "Disabled"}


def s3_description(dest: S3Destination) -> P:
    config = destination_config(dest)
    return {k: config[k] for k in ("BucketARN", "RoleARN", "BufferingHints", "CompressionFormat") if k in config} | \
        {k: config[k] for k in ("Prefix", "ErrorOutputPrefix") if k in config} | \
        {"EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"}}
