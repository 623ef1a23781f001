"""Kinesis Data Streams (JSON 1.1, ``Kinesis_20131202.*``): translate, call the StreamStore, answer.

Inputs arrive validated against botocore's model, with blobs already decoded and timestamps as
epoch seconds. Outputs are dicts keyed by member name or core objects picked by attribute name.
"""
from __future__ import annotations

import asyncio
from binascii import b2a_base64
from itertools import repeat
from operator import itemgetter
from typing import Any

from starlette.concurrency import run_in_threadpool

from tidelake.aws.protocol.serialize import Wire
from tidelake.errors import DryRunRequested, InvalidArgument, Unsupported, ValidationFailed
from tidelake.stream.keys import encode
from tidelake.stream.models import IteratorType, Shard, ShardFilterType, Stream, StreamMode
from tidelake.stream.store import StreamStore

P = dict[str, Any]
_SMALL_READ = 1_000  # records behind the stream's tip: read on the event loop (1-2 ms for 200-byte records)
ALL_METRICS = ["IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords", "WriteProvisionedThroughputExceeded",
               "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds"]


class KinesisApi:
    def __init__(self, store: StreamStore) -> None:
        self.store = store

    def _name(self, p: P) -> str:
        if p.get("StreamName"):
            return p["StreamName"]
        if p.get("StreamARN"):
            return self.store.stream_name_from_arn(p["StreamARN"])
        raise ValidationFailed("Either StreamName or StreamARN must be provided.")

    # -- streams -----------------------------------------------------------------------------

    def create_stream(self, p: P) -> None:
        mode = StreamMode(p.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED"))
        self.store.create_stream(p["StreamName"], p.get("ShardCount"), mode, p.get("Tags"),
                                 p.get("MaxRecordSizeInKiB"))

    def delete_stream(self, p: P) -> None:
        self.store.delete_stream(self._name(p), p.get("EnforceConsumerDeletion", False))

    def describe_stream(self, p: P) -> P:
        stream = self.store.describe_stream(self._name(p))
        shards = _after(stream.shards, p.get("ExclusiveStartShardId"))
        limit = p.get("Limit", 100)
        description = self._summary(stream)
        description.update(Shards=[self._shard(stream, s) for s in shards[:limit]],
                           HasMoreShards=len(shards) > limit)
        return {"StreamDescription": description}

    def describe_stream_summary(self, p: P) -> P:
        stream = self.store.describe_stream(self._name(p))
        summary = self._summary(stream)
        summary.update(OpenShardCount=len(stream.open_shards), ConsumerCount=len(stream.consumers))
        return {"StreamDescriptionSummary": summary}

    def _summary(self, stream: Stream) -> P:
        return {
            "StreamName": stream.stream_name, "StreamARN": stream.stream_arn,
            "StreamStatus": self.store.status(stream), "StreamModeDetails": {"StreamMode": stream.stream_mode},
            "RetentionPeriodHours": stream.retention_period_hours, "StreamCreationTimestamp": stream.created_at,
            "EnhancedMonitoring": [{"ShardLevelMetrics": stream.shard_level_metrics}],
            "EncryptionType": stream.encryption_type, "KeyId": stream.key_id,
            "MaxRecordSizeInKiB": stream.max_record_size_in_kib,
        }

    def _shard(self, stream: Stream, shard: Shard) -> P:
        sequence_range = {"StartingSequenceNumber": encode(shard.start_counter, shard.index, stream.key)}
        if shard.end_counter is not None:
            sequence_range["EndingSequenceNumber"] = encode(max(shard.end_counter - 1, shard.start_counter),
                                                            shard.index, stream.key)
        return {"ShardId": shard.shard_id, "ParentShardId": shard.parent_shard_id,
                "AdjacentParentShardId": shard.adjacent_parent_shard_id,
                "HashKeyRange": {"StartingHashKey": str(shard.starting_hash_key),
                                 "EndingHashKey": str(shard.ending_hash_key)},
                "SequenceNumberRange": sequence_range}

    def list_streams(self, p: P) -> P:
        streams = self.store.list_streams()
        start = p.get("ExclusiveStartStreamName") or p.get("NextToken")
        if start:
            streams = [s for s in streams if s.stream_name > start]
        limit = p.get("Limit", 100)
        page, more = streams[:limit], len(streams) > limit
        return {"StreamNames": [s.stream_name for s in page], "HasMoreStreams": more,
                "NextToken": page[-1].stream_name if more else None,
                "StreamSummaries": [{"StreamName": s.stream_name, "StreamARN": s.stream_arn,
                                     "StreamStatus": self.store.status(s),
                                     "StreamModeDetails": {"StreamMode": s.stream_mode},
                                     "StreamCreationTimestamp": s.created_at} for s in page]}

    def list_shards(self, p: P) -> P:
        token = p.get("NextToken")
        if token and (p.get("StreamName") or p.get("StreamARN")):
            raise InvalidArgument("NextToken and StreamName cannot be provided together.")
        if token:
            name, after = _split_token(token)
        else:
            name, after = self._name(p), p.get("ExclusiveStartShardId")
        shard_filter = p.get("ShardFilter") or {}
        stream = self.store.describe_stream(name)
        shards = self.store.list_shards(
            name, ShardFilterType(shard_filter["Type"]) if shard_filter else None,
            shard_filter.get("ShardId"), shard_filter.get("Timestamp"))
        shards = _after(shards, after)
        limit = p.get("MaxResults", 1000)
        page = shards[:limit]
        more = len(shards) > limit
        return {"Shards": [self._shard(stream, s) for s in page],
                "NextToken": f"{name}|{page[-1].shard_id}" if more else None}

    def list_tags_for_stream(self, p: P) -> P:
        tags = sorted(self.store.describe_stream(self._name(p)).tags.items())
        start = p.get("ExclusiveStartTagKey")
        if start:
            tags = [t for t in tags if t[0] > start]
        limit = p.get("Limit", 50)
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags[:limit]], "HasMoreTags": len(tags) > limit}

    def add_tags_to_stream(self, p: P) -> None:
        self.store.add_tags(self._name(p), p["Tags"])

    def remove_tags_from_stream(self, p: P) -> None:
        self.store.remove_tags(self._name(p), p["TagKeys"])

    def list_tags_for_resource(self, p: P) -> P:
        tags = self.store.describe_stream(self._tagged_stream(p["ResourceARN"])).tags
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    def tag_resource(self, p: P) -> None:
        self.store.add_tags(self._tagged_stream(p["ResourceARN"]), p["Tags"])

    def untag_resource(self, p: P) -> None:
        self.store.remove_tags(self._tagged_stream(p["ResourceARN"]), p["TagKeys"])

    def _tagged_stream(self, arn: str) -> str:
        # A consumer ARN (stream/<name>/consumer/<consumer>:<time>) would otherwise resolve to its stream.
        if "/consumer/" in arn:
            raise Unsupported("Tags on enhanced fan-out consumers are not supported by tidelake yet; only "
                              "streams can be tagged.")
        return self.store.stream_name_from_arn(arn)

    def increase_stream_retention_period(self, p: P) -> None:
        self.store.increase_stream_retention_period(self._name(p), p["RetentionPeriodHours"])

    def decrease_stream_retention_period(self, p: P) -> None:
        self.store.decrease_stream_retention_period(self._name(p), p["RetentionPeriodHours"])

    def update_stream_mode(self, p: P) -> None:
        self.store.update_stream_mode(self.store.stream_name_from_arn(p["StreamARN"]),
                                      StreamMode(p["StreamModeDetails"]["StreamMode"]))

    def update_max_record_size(self, p: P) -> None:
        self.store.update_max_record_size(self.store.stream_name_from_arn(p["StreamARN"]), p["MaxRecordSizeInKiB"])

    def start_stream_encryption(self, p: P) -> None:
        self.store.start_stream_encryption(self._name(p), p["EncryptionType"], p["KeyId"])

    def stop_stream_encryption(self, p: P) -> None:
        self.store.stop_stream_encryption(self._name(p))

    def enable_enhanced_monitoring(self, p: P) -> P:
        return self._monitoring(p, add=True)

    def disable_enhanced_monitoring(self, p: P) -> P:
        return self._monitoring(p, add=False)

    def _monitoring(self, p: P, add: bool) -> P:
        name = self._name(p)
        wanted = set(ALL_METRICS if "ALL" in p["ShardLevelMetrics"] else p["ShardLevelMetrics"])
        existing = set(self.store.describe_stream(name).shard_level_metrics)
        current, desired = self.store.set_shard_level_metrics(
            name, sorted(existing | wanted if add else existing - wanted))
        stream = self.store.describe_stream(name)
        return {"StreamName": name, "StreamARN": stream.stream_arn,
                "CurrentShardLevelMetrics": current, "DesiredShardLevelMetrics": desired}

    def describe_limits(self, p: P) -> P:
        on_demand = sum(1 for s in self.store.list_streams() if s.stream_mode is StreamMode.ON_DEMAND)
        return {"ShardLimit": self.store.settings.shard_limit, "OpenShardCount": self.store.open_shard_count(),
                "OnDemandStreamCount": on_demand, "OnDemandStreamCountLimit": 50}

    # -- resharding --------------------------------------------------------------------------

    def split_shard(self, p: P) -> None:
        self.store.split_shard(self._name(p), p["ShardToSplit"], p["NewStartingHashKey"])

    def merge_shards(self, p: P) -> None:
        self.store.merge_shards(self._name(p), p["ShardToMerge"], p["AdjacentShardToMerge"])

    def update_shard_count(self, p: P) -> P:
        name = self._name(p)
        current = self.store.update_shard_count(name, p["TargetShardCount"])
        return {"StreamName": name, "StreamARN": self.store.stream_arn(name),
                "CurrentShardCount": current, "TargetShardCount": p["TargetShardCount"]}

    # -- records -----------------------------------------------------------------------------

    async def put_record(self, p: P) -> P:
        """On the event loop, like PutRecords."""
        key = _partition_key(p.get("PartitionKey"), "partitionKey")
        self._dry_run(p)
        shard_id, sequence_number, durable = self.store.submit_record(
            self._name(p), p["Data"], key, p.get("ExplicitHashKey"), p.get("SequenceNumberForOrdering"))
        await asyncio.wrap_future(durable)
        return {"ShardId": shard_id, "SequenceNumber": sequence_number, "EncryptionType": self._encryption(p)}

    async def put_records(self, p: P) -> P:
        """On the event loop: numbering 500 records is cheaper than handing them to a thread, and
        the loop awaits the group commit instead of parking a thread on it."""
        entries = p["Records"]
        explicit = list(map(dict.get, entries, repeat("ExplicitHashKey")))
        keys = list(map(dict.get, entries, repeat("PartitionKey")))
        if None in keys:
            _partition_key(None, f"records.{keys.index(None) + 1}.member.partitionKey")
        self._dry_run(p)
        result, durable = self.store.submit_records(self._name(p), list(map(itemgetter("Data"), entries)), keys,
                                                    explicit if any(explicit) else None)
        await asyncio.wrap_future(durable)
        out: list[P] = [{"SequenceNumber": n, "ShardId": s} for n, s in zip(result.sequence_numbers, result.shard_ids)]
        for i, (code, message) in result.errors.items():
            out[i] = {"ErrorCode": code, "ErrorMessage": message}
        return {"FailedRecordCount": len(result.errors), "Records": out, "EncryptionType": self._encryption(p)}

    def _encryption(self, p: P) -> str:
        return self.store.describe_stream(self._name(p)).encryption_type

    def _dry_run(self, p: P) -> None:
        """DryRun asks whether the request would succeed: check the stream, then answer
        DryRunOperationException instead of acting."""
        if p.get("DryRun"):
            if p.get("StreamName") or p.get("StreamARN"):
                self.store.describe_stream(self._name(p))
            raise DryRunRequested("The request would have succeeded, but the DryRun flag was set.")

    def get_shard_iterator(self, p: P) -> P:
        self._dry_run(p)
        iterator = self.store.get_shard_iterator(self._name(p), p["ShardId"], IteratorType(p["ShardIteratorType"]),
                                                 p.get("StartingSequenceNumber"), p.get("Timestamp"))
        return {"ShardIterator": iterator}

    async def get_records(self, p: P) -> P:
        """A consumer keeping up reads a few records: cheaper on the event loop than two thread hops,
        each of which can wait ~1 ms for an idle core to wake. A backlog is read in a thread."""
        if self.store.near_tip(p["ShardIterator"], _SMALL_READ):
            return self._get_records(p)
        return await run_in_threadpool(self._get_records, p)

    def _get_records(self, p: P) -> P:
        self._dry_run(p)
        result = self.store.get_records(p["ShardIterator"], p.get("Limit", 10000))
        columns = result.columns
        records = Wire({"SequenceNumber": number, "ApproximateArrivalTimestamp": arrival,
                        "Data": b2a_base64(data, newline=False).decode(), "PartitionKey": key.decode()}
                       for number, arrival, data, key in zip(result.sequence_numbers(), columns.arrivals,
                                                             columns.data, columns.partition_keys))
        out: P = {"Records": records, "NextShardIterator": result.next_shard_iterator,
                  "MillisBehindLatest": result.millis_behind_latest}
        if result.child_shards is not None:
            out["ChildShards"] = [{"ShardId": c.shard_id, "ParentShards": list(c.parent_shards),
                                   "HashKeyRange": {"StartingHashKey": str(c.starting_hash_key),
                                                    "EndingHashKey": str(c.ending_hash_key)}}
                                  for c in result.child_shards]
        return out

    # -- enhanced fan-out --------------------------------------------------------------------

    def register_stream_consumer(self, p: P) -> P:
        consumer = self.store.register_stream_consumer(p["StreamARN"], p["ConsumerName"])
        return {"Consumer": self._consumer(consumer)}

    def describe_stream_consumer(self, p: P) -> P:
        stream, consumer = self.store.find_consumer(p.get("StreamARN"), p.get("ConsumerName"), p.get("ConsumerARN"))
        return {"ConsumerDescription": {**self._consumer(consumer), "StreamARN": stream.stream_arn}}

    def list_stream_consumers(self, p: P) -> P:
        consumers = self.store.list_stream_consumers(p["StreamARN"])
        after = p.get("NextToken")
        if after:
            consumers = [c for c in consumers if c.consumer_name > after]
        limit = p.get("MaxResults", 100)
        page = consumers[:limit]
        return {"Consumers": [self._consumer(c) for c in page],
                "NextToken": page[-1].consumer_name if len(consumers) > limit else None}

    def deregister_stream_consumer(self, p: P) -> None:
        self.store.deregister_stream_consumer(p.get("StreamARN"), p.get("ConsumerName"), p.get("ConsumerARN"))

    def _consumer(self, consumer: Any) -> P:
        return {"ConsumerName": consumer.consumer_name, "ConsumerARN": consumer.consumer_arn,
                "ConsumerStatus": self.store.consumer_status(consumer),
                "ConsumerCreationTimestamp": consumer.created_at}

    def subscribe_to_shard(self, p: P) -> None:
        raise Unsupported("SubscribeToShard (HTTP/2 event stream) is not supported by tidelake yet. Read with "
                          "GetShardIterator and GetRecords; registered consumers can poll the same way.")


def _partition_key(value: str | None, path: str) -> str:
    # The model makes PartitionKey optional for streams with the AUTO record distribution strategy;
    # tidelake streams all use USER_PARTITION_KEY, where AWS requires it.
    if value is None:
        raise ValidationFailed(f"1 validation error detected: Value null at '{path}' failed to satisfy constraint: "
                               "Member must not be null")
    return value


def _after(shards: list[Shard], shard_id: str | None) -> list[Shard]:
    return [s for s in shards if s.shard_id > shard_id] if shard_id else shards


def _split_token(token: str) -> tuple[str, str]:
    name, sep, after = token.partition("|")
    if not sep:
        raise InvalidArgument("Invalid NextToken.")
    return name, after
