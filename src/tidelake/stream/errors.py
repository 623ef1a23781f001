"""Errors of the stream capability. Messages follow the wording of Kinesis Data Streams."""
from __future__ import annotations

from tidelake.errors import (AlreadyExists, Expired, InUse, InvalidArgument, LimitExceeded, NotFound,
                             Throttled)


class StreamNotFound(NotFound):
    def __init__(self, stream_name: str, account_id: str) -> None:
        self.stream_name = stream_name
        super().__init__(f"Stream {stream_name} under account {account_id} not found.")


class StreamAlreadyExists(AlreadyExists):
    def __init__(self, stream_name: str, account_id: str) -> None:
        self.stream_name = stream_name
        super().__init__(f"Stream {stream_name} under account {account_id} already exists.")


class StreamNotActive(InUse):
    def __init__(self, stream_name: str, account_id: str, status: str) -> None:
        self.stream_name = stream_name
        self.status = status
        super().__init__(f"Stream {stream_name} under account {account_id} not ACTIVE, instead in state {status}")


class StreamHasConsumers(InUse):
    def __init__(self, stream_name: str, account_id: str, consumer_count: int) -> None:
        self.stream_name = stream_name
        self.consumer_count = consumer_count
        super().__init__(f"Stream {stream_name} under account {account_id} has {consumer_count} registered "
                         "consumer(s). Deregister them first, or delete with EnforceConsumerDeletion set to true.")


class ShardNotFound(NotFound):
    def __init__(self, shard_id: str, stream_name: str, account_id: str) -> None:
        self.shard_id = shard_id
        super().__init__(f"Shard {shard_id} in stream {stream_name} under account {account_id} does not exist")


class ShardClosed(InUse):
    def __init__(self, shard_id: str, stream_name: str, account_id: str) -> None:
        self.shard_id = shard_id
        super().__init__(f"Shard {shard_id} in stream {stream_name} under account {account_id} has already been "
                         "merged or split, and thus is not eligible for merging or splitting.")


class ConsumerNotFound(NotFound):
    def __init__(self, consumer: str, account_id: str) -> None:
        self.consumer = consumer
        super().__init__(f"Consumer {consumer} under account {account_id} not found.")


class ConsumerAlreadyExists(AlreadyExists):
    def __init__(self, consumer_name: str, stream_arn: str) -> None:
        self.consumer_name = consumer_name
        super().__init__(f"Consumer {consumer_name} already exists for stream {stream_arn}.")


class InvalidIterator(InvalidArgument):
    def __init__(self) -> None:
        super().__init__("Invalid ShardIterator.")


class IteratorExpired(Expired):
    def __init__(self, issued_ms: int, now_ms: int, ttl_ms: int) -> None:
        self.issued_ms = issued_ms
        super().__init__(f"Iterator expired. The iterator was created at time {issued_ms} while right now it is "
                         f"{now_ms} which is further in the future than the tolerated delay of {ttl_ms} milliseconds.")


class ShardLimitExceeded(LimitExceeded):
    pass


class ThroughputExceeded(Throttled):
    def __init__(self, shard_id: str, stream_name: str, account_id: str) -> None:
        self.shard_id = shard_id
        super().__init__(f"Rate exceeded for shard {shard_id} in stream {stream_name} under account {account_id}.")
