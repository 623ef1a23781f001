"""S3 rules every ObjectStore applies: bucket names, object keys, metadata, byte ranges, ETags,
part lists; and the shapes of object data (bytes, files, chunk iterators).

Both backends check these before touching storage, so a pipeline that works on the local lake
behaves the same on S3 (and the reverse).
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import IO, Iterable, Iterator, Mapping, Sequence, Union

from tidelake.lake.errors import (
    InvalidBucketName,
    InvalidObjectKey,
    InvalidPartNumber,
    InvalidPartOrder,
    PartListEmpty,
    InvalidRange,
    MetadataTooLarge,
)
from tidelake.lake.models import MAX_PART_NUMBER

BytesLike = Union[bytes, bytearray, memoryview]
# What put_object and upload_part accept: bytes, a binary file, or an iterator of byte chunks.
Data = Union[BytesLike, IO[bytes], Iterable[BytesLike]]
ByteRange = tuple[int, "int | None"]

MAX_KEY_BYTES = 1024  # S3 KeyTooLongError
MAX_METADATA_BYTES = 2048  # S3: sum of UTF-8 bytes of user metadata keys and values
CHUNK = 1024 * 1024

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_bucket_name(bucket: str) -> None:
    """S3 general purpose bucket naming rules (docs: "General purpose bucket naming rules")."""
    reason = _bucket_name_problem(bucket)
    if reason:
        raise InvalidBucketName(bucket, reason)


def _bucket_name_problem(bucket: str) -> str | None:
    if not isinstance(bucket, str) or not 3 <= len(bucket) <= 63:
        return "must be 3 to 63 characters long"
    if not _BUCKET_RE.match(bucket):
        return "only lowercase letters, digits, dots and hyphens; begin and end with a letter or digit"
    if ".." in bucket:
        return "must not contain two adjacent periods"
    if bucket.startswith(_RESERVED_PREFIXES) or bucket.endswith(_RESERVED_SUFFIXES):
        return "uses a reserved prefix or suffix"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        return None
    return "must not be formatted as an IP address"


def is_valid_bucket_name(bucket: str) -> bool:
    return _bucket_name_problem(bucket) is None


def validate_key(bucket: str, key: str) -> None:
    """Reject keys that are unsafe as paths, whatever the backend.

    S3 itself accepts ``a/../b``; the lake does not, because the same keys become file paths
    (local store, DuckDB, Hive-style readers) where such segments would escape or alias.
    """
    reason = key_problem(key)
    if reason:
        raise InvalidObjectKey(bucket, key, reason)


def key_problem(key: str) -> str | None:
    if not isinstance(key, str) or not key:
        return "must be a non-empty string"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "must be valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    if "\x00" in key:
        return "contains NUL"
    if key[0] in "/\\":
        return "must not be an absolute path"
    for segment in key.split("/"):
        problem = segment_problem(segment)
        if problem:
            return problem
    return None


def segment_problem(segment: str) -> str | None:
    # Backslash is a separator on Windows and to some tools: "a\..\b" must not sneak through.
    if any(part in (".", "..") for part in segment.split("\\")):
        return "'.' and '..' path segments are not allowed"
    return None


def normalize_metadata(bucket: str, key: str,
                       metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Lowercase the keys as S3 does (they travel as case-insensitive x-amz-meta-* headers)."""
    if not metadata:
        return {}
    result = {str(k).lower(): str(v) for k, v in metadata.items()}
    size = sum(len(k.encode()) + len(v.encode()) for k, v in result.items())
    if size > MAX_METADATA_BYTES:
        raise MetadataTooLarge(bucket, key, size, MAX_METADATA_BYTES)
    return result


def validate_part_number(bucket: str, key: str, part_number: int) -> None:
    if not isinstance(part_number, int) or not 1 <= part_number <= MAX_PART_NUMBER:
        raise InvalidPartNumber(bucket, key, part_number)


def check_part_list(bucket: str, key: str, upload_id: str,
                    parts: Sequence[tuple[int, str]]) -> None:
    """CompleteMultipartUpload needs at least one part, in strictly ascending order."""
    if not parts:
        raise PartListEmpty(bucket, key, upload_id)
    numbers = [number for number, _ in parts]
    if any(b <= a for a, b in zip(numbers, numbers[1:])):
        raise InvalidPartOrder(bucket, key, upload_id)


def check_range(bucket: str, key: str, byte_range: ByteRange | None) -> None:
    """Ranges are ``(start, end_inclusive | None)`` like HTTP, or ``(-n, None)`` for the last n bytes."""
    if byte_range is None:
        return
    start, end = byte_range
    if start < 0 and end is None:
        return
    if start < 0 or (end is not None and end < start):
        raise InvalidRange(bucket, key, byte_range, None)


def resolve_range(byte_range: ByteRange | None, size: int) -> tuple[int, int] | None:
    """Return ``(first, last)`` inclusive byte offsets, or None when the range is unsatisfiable.

    Follows RFC 9110 as S3 does: an end past the object is clamped, a start at or past the end
    is an error, a suffix longer than the object returns the whole object.
    """
    if byte_range is None:
        return (0, size - 1)
    start, end = byte_range
    if size == 0:
        return None
    if start < 0:
        return (max(0, size + start), size - 1)
    if start >= size:
        return None
    return (start, size - 1 if end is None or end >= size else end)


def content_range(byte_range: ByteRange | None, size: int) -> str | None:
    """The ``Content-Range`` header value for a satisfiable range (None when no range was asked)."""
    if byte_range is None:
        return None
    first_last = resolve_range(byte_range, size)
    return None if first_last is None else f"bytes {first_last[0]}-{first_last[1]}/{size}"


def quote_etag(md5_hex: str) -> str:
    return f'"{md5_hex}"'


def unquote_etag(etag: str) -> str:
    return etag.strip().strip('"')


def multipart_etag(part_digests: list[bytes]) -> str:
    """S3's multipart ETag: md5 of the concatenated binary part md5s, then ``-<part count>``."""
    joined = hashlib.md5(b"".join(part_digests)).hexdigest()
    return quote_etag(f"{joined}-{len(part_digests)}")


def iter_chunks(data: Data) -> Iterator[BytesLike]:
    """Yield the bytes of ``data`` in chunks without reading a file into memory at once."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B")
        for offset in range(0, len(view), CHUNK):
            yield view[offset:offset + CHUNK]
        return
    if isinstance(data, str):
        raise TypeError("object data must be bytes, not str")
    read = getattr(data, "read", None)
    if read is not None:
        while chunk := read(CHUNK):
            if isinstance(chunk, str):
                raise TypeError("object data file must be opened in binary mode")
            yield chunk
        return
    for chunk in data:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"object data chunks must be bytes, got {type(chunk).__name__}")
        yield chunk
