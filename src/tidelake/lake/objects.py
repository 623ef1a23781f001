"""The lake's object store: one interface, a local folder or any S3-compatible service behind it.

    from tidelake.lake.objects import LocalObjectStore
    store = LocalObjectStore(data_dir / "lake")
    store.create_bucket("raw")
    store.put_object("raw", "json-data/year=2026/month=11/part-0001.json", b'{"a": 1}\\n')

Semantics follow S3 (ListObjectsV2 order and roll-up, idempotent deletes, quoted MD5 ETags,
multipart ETags, 5 MiB minimum part size, ranges as in RFC 9110). Keys that are unsafe as file
paths (``..`` or ``.`` segments, a leading ``/``, NUL) are refused by every implementation, so a
pipeline that runs on one runs on the other. Errors are the classes in ``tidelake.lake.errors``.
"""
from __future__ import annotations

from typing import BinaryIO, Protocol, Sequence, runtime_checkable

from tidelake.lake.rules import ByteRange, Data
from tidelake.lake.local_store import LocalObjectStore
from tidelake.lake.models import (
    MAX_KEYS,
    BucketInfo,
    DeleteResult,
    ListPage,
    ObjectInfo,
    PartInfo,
)
from tidelake.lake.s3_store import S3ObjectStore

__all__ = ["ObjectStore", "LocalObjectStore", "S3ObjectStore"]


@runtime_checkable
class ObjectStore(Protocol):
    # -- buckets -----------------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> BucketInfo:
        """Create a bucket (InvalidBucketName, BucketAlreadyExists)."""
        ...

    def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket (BucketNotFound, BucketNotEmpty)."""
        ...

    def list_buckets(self) -> list[BucketInfo]:
        """Every bucket, sorted by name."""
        ...

    def head_bucket(self, bucket: str) -> BucketInfo:
        """The bucket's info (BucketNotFound)."""
        ...

    # -- objects -----------------------------------------------------------------------------

    def put_object(self, bucket: str, key: str, data: Data,
                   metadata: dict[str, str] | None = None,
                   content_type: str | None = None) -> ObjectInfo:
        """Store ``data`` (bytes, a binary file, or an iterator of byte chunks) at ``key``,
        replacing any object there. Readers see the old object or the new one, never a part;
        if ``data`` raises, nothing is stored. Metadata keys are lowercased as S3 does."""
        ...

    def get_object(self, bucket: str, key: str,
                   byte_range: ByteRange | None = None) -> tuple[ObjectInfo, bytes]:
        """The object's info (whole-object size) and its bytes, or the bytes of ``byte_range``:
        ``(first, last_inclusive | None)``, or ``(-n, None)`` for the last n bytes
        (ObjectNotFound, InvalidRange). ``rules.content_range`` gives the Content-Range."""
        ...

    def open_object(self, bucket: str, key: str,
                    byte_range: ByteRange | None = None) -> tuple[ObjectInfo, BinaryIO]:
        """Like ``get_object`` but streaming; close the reader (it is a context manager)."""
        ...

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """The object's info (ObjectNotFound)."""
        ...

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete ``key``; deleting a missing key succeeds, as in S3 (BucketNotFound)."""
        ...

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[DeleteResult]:
        """Delete many keys; one result per key, in order, with the error of any that failed."""
        ...

    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str, *,
                    metadata: dict[str, str] | None = None,
                    content_type: str | None = None) -> ObjectInfo:
        """Copy an object. Metadata and content type are copied unless given (S3's
        ``MetadataDirective`` COPY / REPLACE)."""
        ...

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str | None = None,
                     start_after: str | None = None, max_keys: int = MAX_KEYS,
                     continuation_token: str | None = None) -> ListPage:
        """One ListObjectsV2 page: keys in UTF-8 byte order; with a delimiter, keys sharing
        ``prefix + ... + delimiter`` roll up into one common prefix; ``max_keys`` (capped at
        1,000) counts keys and prefixes; entries not greater than ``start_after`` (or the
        token's position) are skipped after the roll-up, as S3 does."""
        ...

    # -- multipart ---------------------------------------------------------------------------

    def create_multipart_upload(self, bucket: str, key: str,
                                metadata: dict[str, str] | None = None,
                                content_type: str | None = None) -> str:
        """Start a multipart upload; returns its upload id."""
        ...

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    data: Data) -> str:
        """Store part ``part_number`` (1..10,000); returns its quoted ETag (UploadNotFound)."""
        ...

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: Sequence[tuple[int, str]]) -> ObjectInfo:
        """Join the listed ``(part_number, etag)`` parts, ascending; every part but the last
        must be at least 5 MiB. ETag: md5 of the part md5s + ``-<count>`` (InvalidPart,
        InvalidPartOrder, PartTooSmall, PartListEmpty, UploadNotFound)."""
        ...

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop an upload and its parts (UploadNotFound)."""
        ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        """The parts uploaded so far, by part number (UploadNotFound)."""
        ...
