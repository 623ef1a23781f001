"""Lambda's event source mapping operations (REST-JSON) over ``EventSourceMappings``.

Kinesis streams are the supported event source; the members that configure other sources (Kafka,
MQ, DocumentDB, SQS scaling), filters, KMS, metrics and tags are refused by name rather than ignored.
"""
from __future__ import annotations

from typing import Any

from tidelake.errors import InvalidArgument, Unsupported
from tidelake.functions.mappings import (DestinationConfig, EventSourceMapping, EventSourceMappings, OnFailure,
                                         StartingPosition)

P = dict[str, Any]

UNSUPPORTED = ("FilterCriteria", "KMSKeyArn", "MetricsConfig", "LoggingConfig", "ScalingConfig", "Tags", "Topics",
               "Queues", "SourceAccessConfigurations", "SelfManagedEventSource",
               "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig",
               "DocumentDBEventSourceConfig", "ProvisionedPollerConfig")

# Request member -> keyword of the core call, for the members create and update share.
SETTINGS = {"Enabled": "enabled", "BatchSize": "batch_size",
            "MaximumBatchingWindowInSeconds": "maximum_batching_window_in_seconds",
            "ParallelizationFactor": "parallelization_factor",
            "BisectBatchOnFunctionError": "bisect_batch_on_function_error",
            "MaximumRetryAttempts": "maximum_retry_attempts",
            "MaximumRecordAgeInSeconds": "maximum_record_age_in_seconds",
            "TumblingWindowInSeconds": "tumbling_window_in_seconds",
            "FunctionResponseTypes": "function_response_types"}


class EventSourceMappingApi:
    def __init__(self, mappings: EventSourceMappings) -> None:
        self.mappings = mappings

    def create_event_source_mapping(self, p: P) -> EventSourceMapping:
        _refuse_unsupported(p)
        if not p.get("EventSourceArn"):
            raise InvalidArgument("EventSourceArn is required: the ARN of the Kinesis stream to read.")
        position = p.get("StartingPosition")
        return self.mappings.create_event_source_mapping(
            p["EventSourceArn"], p["FunctionName"],
            starting_position=StartingPosition(position) if position else None,
            starting_position_timestamp=p.get("StartingPositionTimestamp"),
            destination_config=_destination(p.get("DestinationConfig")),
            **{keyword: p[member] for member, keyword in SETTINGS.items() if member in p})

    def get_event_source_mapping(self, p: P) -> EventSourceMapping:
        return self.mappings.get_event_source_mapping(p["UUID"])

    def list_event_source_mappings(self, p: P) -> P:
        page, marker = self.mappings.list_event_source_mappings(p.get("EventSourceArn"), p.get("FunctionName"),
                                                                p.get("Marker"), p.get("MaxItems"))
        return {"EventSourceMappings": page, "NextMarker": marker}

    def update_event_source_mapping(self, p: P) -> EventSourceMapping:
        _refuse_unsupported(p)
        changes = {keyword: p[member] for member, keyword in SETTINGS.items() if member in p}
        if "FunctionName" in p:
            changes["function_name"] = p["FunctionName"]
        if "DestinationConfig" in p:
            changes["destination_config"] = _destination(p["DestinationConfig"])
        return self.mappings.update_event_source_mapping(p["UUID"], **changes)

    def delete_event_source_mapping(self, p: P) -> EventSourceMapping:
        return self.mappings.delete_event_source_mapping(p["UUID"])


def _refuse_unsupported(p: P) -> None:
    for member in UNSUPPORTED:
        if member in p:
            raise Unsupported(f"tidelake's event source mappings read Kinesis streams; {member} is not supported.")


def _destination(config: P | None) -> DestinationConfig | None:
    if config is None:
        return None
    if config.get("OnSuccess", {}).get("Destination"):
        raise InvalidArgument("Unsupported DestinationConfig parameter for given event source mapping type: "
                              "a Kinesis event source mapping has an OnFailure destination only.")
    destination = config.get("OnFailure", {}).get("Destination")
    return DestinationConfig(OnFailure(destination) if destination else None)
