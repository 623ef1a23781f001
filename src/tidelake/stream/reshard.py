"""Resharding on a Stream's shard list: split, merge, and uniform scaling built from them.

These functions only change the in-memory model; the store persists the result and reports the
stream as UPDATING. Every new shard opens at the stream's current counter, and every closed shard
ends there, so children always hold larger sequence numbers than their parents.
"""
from __future__ import annotations

from tidelake.stream.keys import uniform_ranges
from tidelake.stream.models import Shard, Stream


def _open_child(stream: Stream, start: int, end: int, now: float, parent: str, adjacent: str | None = None) -> Shard:
    shard = Shard(stream.next_shard_index, start, end, stream.next_counter, now, parent, adjacent)
    stream.next_shard_index += 1
    stream.shards.append(shard)
    return shard


def _close(stream: Stream, shard: Shard, now: float) -> None:
    shard.end_counter = stream.next_counter
    shard.closed_at = now


def split(stream: Stream, shard: Shard, new_starting_hash_key: int, now: float) -> tuple[Shard, Shard]:
    _close(stream, shard, now)
    left = _open_child(stream, shard.starting_hash_key, new_starting_hash_key - 1, now, shard.shard_id)
    right = _open_child(stream, new_starting_hash_key, shard.ending_hash_key, now, shard.shard_id)
    return left, right


def merge(stream: Stream, shard: Shard, adjacent: Shard, now: float) -> Shard:
    _close(stream, shard, now)
    _close(stream, adjacent, now)
    start = min(shard.starting_hash_key, adjacent.starting_hash_key)
    end = max(shard.ending_hash_key, adjacent.ending_hash_key)
    return _open_child(stream, start, end, now, shard.shard_id, adjacent.shard_id)


def are_adjacent(a: Shard, b: Shard) -> bool:
    return a.ending_hash_key + 1 == b.starting_hash_key or b.ending_hash_key + 1 == a.starting_hash_key


def scale_uniformly(stream: Stream, target: int, now: float) -> None:
    """Reach ``target`` open shards with uniform ranges, as UpdateShardCount does: first split every
    open shard at the target boundaries inside it, then merge the pieces of each target range.
    Each step is a real split or merge, so lineage keeps at most two parents per shard."""
    targets = uniform_ranges(target)
    boundaries = [start for start, _ in targets[1:]]
    for shard in sorted(stream.open_shards, key=lambda s: s.starting_hash_key):
        current = shard
        for boundary in boundaries:
            if current.starting_hash_key < boundary <= current.ending_hash_key:
                current = split(stream, current, boundary, now)[1]
    for start, end in targets:
        pieces = sorted((s for s in stream.open_shards if start <= s.starting_hash_key and s.ending_hash_key <= end),
                        key=lambda s: s.starting_hash_key)
        merged = pieces[0]
        for piece in pieces[1:]:
            merged = merge(stream, merged, piece, now)
