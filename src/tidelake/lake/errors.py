"""Errors of the lake's object store.

Each error carries the bucket and key (when there is one) as attributes so that the S3 edge can
build ``<BucketName>`` / ``<Key>`` elements without parsing the message.
"""
from __future__ import annotations

from tidelake.errors import (
    AccessDenied,
    AlreadyExists,
    InUse,
    InvalidArgument,
    NotFound,
    TidelakeError,
    Transient,
)


class BucketNotFound(NotFound):
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        super().__init__(f"The specified bucket does not exist: {bucket}")


class BucketAlreadyExists(AlreadyExists):
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        super().__init__(f"The bucket already exists: {bucket}")


class BucketNotEmpty(InUse):
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        super().__init__(f"The bucket you tried to delete is not empty: {bucket}")


class InvalidBucketName(InvalidArgument):
    def __init__(self, bucket: str, reason: str) -> None:
        self.bucket = bucket
        self.reason = reason
        super().__init__(f"The specified bucket is not valid: {bucket!r} ({reason})")


class ObjectNotFound(NotFound):
    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(f"The specified key does not exist: {bucket}/{key}")


class InvalidObjectKey(InvalidArgument):
    def __init__(self, bucket: str, key: str, reason: str) -> None:
        self.bucket = bucket
        self.key = key
        self.reason = reason
        super().__init__(f"Invalid object key {key!r} in bucket {bucket}: {reason}")


class InvalidRange(InvalidArgument):
    """The byte range cannot be satisfied (S3: 416 ``InvalidRange``)."""

    def __init__(self, bucket: str, key: str, byte_range: tuple[int, int | None],
                 size: int | None) -> None:
        self.bucket = bucket
        self.key = key
        self.byte_range = byte_range
        self.size = size
        super().__init__(f"The requested range {byte_range} is not satisfiable "
                         f"for {bucket}/{key} (size {size})")


class MetadataTooLarge(InvalidArgument):
    def __init__(self, bucket: str, key: str, size: int, limit: int) -> None:
        self.bucket = bucket
        self.key = key
        self.size = size
        self.limit = limit
        super().__init__(f"User metadata of {bucket}/{key} is {size} bytes; the limit is {limit}")


class InvalidContinuationToken(InvalidArgument):
    def __init__(self, bucket: str, token: str) -> None:
        self.bucket = bucket
        self.key = None
        self.token = token
        super().__init__("The continuation token provided is incorrect")


class UploadNotFound(NotFound):
    def __init__(self, bucket: str, key: str, upload_id: str) -> None:
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        super().__init__(f"The specified multipart upload does not exist: {upload_id}")


class InvalidPartNumber(InvalidArgument):
    def __init__(self, bucket: str, key: str, part_number: int) -> None:
        self.bucket = bucket
        self.key = key
        self.part_number = part_number
        super().__init__(f"Part number must be an integer between 1 and 10000: {part_number}")


class InvalidPart(InvalidArgument):
    """A listed part was not uploaded or its ETag does not match (S3 ``InvalidPart``)."""

    def __init__(self, bucket: str, key: str, upload_id: str, part_number: int) -> None:
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.part_number = part_number
        super().__init__(f"Part {part_number} of upload {upload_id} was not found "
                         "or its ETag does not match")


class InvalidPartOrder(InvalidArgument):
    def __init__(self, bucket: str, key: str, upload_id: str) -> None:
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        super().__init__("The list of parts was not in ascending order")


class PartTooSmall(InvalidArgument):
    """A part other than the last is below the 5 MiB minimum (S3 ``EntityTooSmall``).

    ``part_number`` and ``size`` are None when the backing S3 service did not tell them.
    """

    def __init__(self, bucket: str, key: str, upload_id: str, part_number: int | None,
                 size: int | None, minimum: int) -> None:
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.part_number = part_number
        self.size = size
        self.minimum = minimum
        which = f"Part {part_number}" if part_number is not None else "A part"
        told = f" is {size} bytes;" if size is not None else " is too small:"
        super().__init__(f"{which}{told} every part but the last must be at least "
                         f"{minimum} bytes")


class ObjectStoreAccessDenied(AccessDenied):
    """The backing S3 service refused the credentials."""

    def __init__(self, message: str, bucket: str | None = None, key: str | None = None) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(message)


class ObjectStoreRequestFailed(TidelakeError):
    """The backing S3 service answered with an error this module does not map."""

    def __init__(self, code: str, message: str, bucket: str | None = None,
                 key: str | None = None) -> None:
        self.bucket = bucket
        self.key = key
        self.code = code
        super().__init__(f"{code}: {message}")


class ObjectStoreUnavailable(Transient, TidelakeError):
    """The backing store cannot be reached or answered 5xx / SlowDown; a retry may succeed."""

    def __init__(self, reason: str, bucket: str | None = None, key: str | None = None) -> None:
        self.bucket = bucket
        self.key = key
        self.reason = reason
        super().__init__(f"Object store unavailable: {reason}")


class PartListEmpty(InvalidArgument):
    """CompleteMultipartUpload named no parts (S3 answers ``MalformedXML``)."""

    def __init__(self, bucket: str, key: str, upload_id: str) -> None:
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        super().__init__("You must specify at least one part")
