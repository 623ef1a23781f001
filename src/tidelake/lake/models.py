"""Value objects of the lake's object store. Attribute names follow the S3 shapes in snake_case."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from tidelake.errors import TidelakeError

DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 reports when PutObject named none
MAX_KEYS = 1000  # S3 caps one ListObjectsV2 page at 1,000 entries
MIN_PART_SIZE = 5 * 1024 * 1024  # every multipart part but the last (S3 EntityTooSmall)
MAX_PART_NUMBER = 10_000


@dataclass(frozen=True)
class BucketInfo:
    name: str
    creation_date: float  # epoch seconds


@dataclass(frozen=True)
class ObjectInfo:
    """What HeadObject tells: the whole object's size even when a range was read."""

    bucket: str
    key: str
    size: int
    etag: str  # quoted, as S3 sends it: '"<md5 hex>"' or '"<md5 of part md5s>-<parts>"'
    last_modified: float  # epoch seconds
    content_type: str = DEFAULT_CONTENT_TYPE
    # User metadata, keys lowercased as S3 returns them. Excluded from hash (dicts are unhashable).
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ObjectSummary:
    """One ``Contents`` entry of a listing: S3 lists no content type or user metadata."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: float


@dataclass(frozen=True)
class ListPage:
    objects: list[ObjectSummary]
    common_prefixes: list[str]
    is_truncated: bool
    next_continuation_token: str | None = None

    @property
    def key_count(self) -> int:
        return len(self.objects) + len(self.common_prefixes)


@dataclass(frozen=True)
class DeleteResult:
    """Per-key outcome of ``delete_objects``; ``error`` is None when the key is gone."""

    key: str
    error: TidelakeError | None = None

    @property
    def deleted(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class PartInfo:
    part_number: int
    etag: str
    size: int
    last_modified: float
