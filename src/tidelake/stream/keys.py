"""Partition keys -> hash keys, uniform hash ranges, and sequence numbers.

Sequence numbers are 56-digit decimals like AWS's. They encode, from most to least significant,
a stream-wide counter, the shard index and a tag of the stream's identity::

    49 | counter (38 digits) | shard index (8 digits) | stream tag (8 digits)

The counter is shared by all shards of a stream and only grows, so a record put later than another
has a larger sequence number even across resharding (what ``SequenceNumberForOrdering`` promises),
and the shard and stream a sequence number belongs to can be checked without a lookup.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import methodcaller
from typing import Sequence

try:  # CPython's built-in MD5 costs half of OpenSSL's per call on 10-byte keys (hashlib.md5)
    from _md5 import md5
except ImportError:  # pragma: no cover -- interpreters built without it
    from hashlib import md5

from tidelake.stream.models import MAX_HASH_KEY

_digest = methodcaller("digest")
_BASE = 49 * 10**54
_COUNTER = 10**16
_SHARD = 10**8


def hash_key(partition_key: bytes) -> int:
    """The 128-bit hash key Kinesis derives from a partition key: MD5, big-endian."""
    return int.from_bytes(md5(partition_key).digest(), "big")


def hash_digests(partition_keys: Sequence[bytes]) -> list[bytes]:
    """Hash keys as 16-byte big-endian digests: they compare like the integers, without converting."""
    return list(map(_digest, map(md5, partition_keys)))


def as_digest(hash_key_value: int) -> bytes:
    return hash_key_value.to_bytes(16, "big")


def uniform_ranges(count: int) -> list[tuple[int, int]]:
    """Split the hash key space into ``count`` ranges, with AWS's boundaries (floor(i * 2^128 / n))."""
    space = MAX_HASH_KEY + 1
    starts = [i * space // count for i in range(count)]
    return [(start, (starts[i + 1] - 1) if i + 1 < count else MAX_HASH_KEY) for i, start in enumerate(starts)]


@dataclass(frozen=True, slots=True)
class SequencePosition:
    counter: int
    shard_index: int
    stream_tag: int


def stream_tag(stream_key: int) -> int:
    return stream_key % _SHARD


def encode(counter: int, shard_index: int, stream_key: int) -> str:
    return str(_BASE + counter * _COUNTER + shard_index * _SHARD + stream_tag(stream_key))


def encode_range(first: int, count: int, shard_index: int, stream_key: int) -> list[str]:
    """Sequence numbers of ``count`` consecutive counters of one shard."""
    suffix = f"{shard_index:08d}{stream_tag(stream_key):08d}"  # == encode(), without big-int arithmetic
    return [f"49{counter:038d}{suffix}" for counter in range(first, first + count)]


def decode(sequence_number: str) -> SequencePosition | None:
    """The position a sequence number encodes, or None if it is not one of ours."""
    if not sequence_number.isdigit() or len(sequence_number) != 56:
        return None
    value = int(sequence_number) - _BASE
    if value < 0:
        return None
    counter, rest = divmod(value, _COUNTER)
    shard_index, tag = divmod(rest, _SHARD)
    return SequencePosition(counter, shard_index, tag)
