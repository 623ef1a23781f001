"""S3ObjectStore: the ObjectStore interface on any S3-compatible service (AWS S3, MinIO, ...).

boto3 is imported on first use, so the local lake never pays for it. Path-style addressing
works with every S3-compatible server and with bucket names that contain dots. Lake bucket
names map to real ones through ``bucket_map`` (``{"raw": "acme-prod-raw"}``); errors name the
lake bucket. Connection failures, 5xx answers and throttling raise ``ObjectStoreUnavailable``
(Transient), after botocore's own retries.
"""
from __future__ import annotations

import io
import tempfile
import threading
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator, Mapping, Sequence, cast

from tidelake.clock import Clock, SystemClock
from tidelake.errors import TidelakeError, ValidationFailed
from tidelake.lake.errors import (
    BucketAlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    InvalidBucketName,
    InvalidObjectKey,
    InvalidPart,
    InvalidPartOrder,
    InvalidRange,
    MetadataTooLarge,
    ObjectNotFound,
    ObjectStoreAccessDenied,
    ObjectStoreRequestFailed,
    ObjectStoreUnavailable,
    PartTooSmall,
    UploadNotFound,
)
from tidelake.lake.rules import (
    CHUNK,
    ByteRange,
    Data,
    check_part_list,
    check_range,
    iter_chunks,
    normalize_metadata,
    quote_etag,
    unquote_etag,
    validate_bucket_name,
    validate_key,
    validate_part_number,
)
from tidelake.lake.models import (
    DEFAULT_CONTENT_TYPE,
    MAX_KEYS,
    MIN_PART_SIZE,
    BucketInfo,
    DeleteResult,
    ListPage,
    ObjectInfo,
    ObjectSummary,
    PartInfo,
)

SPOOL_BYTES = 8 * 1024 * 1024  # streamed bodies above this spill to a temp file before the PUT
_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
                    "Throttling", "ThrottlingException", "RequestLimitExceeded"}
_DENIED_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                 "InvalidToken", "ExpiredToken"}


class S3ObjectStore:
    def __init__(self, endpoint_url: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, region: str = "us-east-1",
                 bucket_map: Mapping[str, str] | None = None, *,
                 connect_timeout: float = 5.0, read_timeout: float = 60.0,
                 max_attempts: int = 3, clock: Clock | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.bucket_map = dict(bucket_map or {})
        self._lake_names = {real: lake for lake, real in self.bucket_map.items()}
        self._access = (access_key, secret_key)
        self._client_options = (connect_timeout, read_timeout, max_attempts)
        self._clock = clock or SystemClock()
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created on first use (boto3 clients are thread-safe)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as error:  # pragma: no cover - boto3 is a dependency of tidelake
            raise ImportError("S3ObjectStore needs boto3: pip install boto3") from error
        connect_timeout, read_timeout, max_attempts = self._client_options
        config = Config(
            s3={"addressing_style": "path"}, signature_version="s3v4",
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout, read_timeout=read_timeout,
            # Checksums only where S3 requires them: many S3-compatible servers reject the rest.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required")
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=self._access[0], aws_secret_access_key=self._access[1],
            config=config)

    # -- buckets -----------------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> BucketInfo:
        real = self._real(bucket)
        # us-east-1 answers 200 when the caller already owns the bucket; the lake says so.
        if self._bucket_exists(bucket, real):
            raise BucketAlreadyExists(bucket)
        options: dict[str, Any] = {}
        if self.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with self._calling(bucket):
            self.client.create_bucket(Bucket=real, **options)
        return BucketInfo(bucket, self._clock.now())

    def delete_bucket(self, bucket: str) -> None:
        with self._calling(bucket):
            self.client.delete_bucket(Bucket=self._real(bucket))

    def list_buckets(self) -> list[BucketInfo]:
        with self._calling():
            answer = self.client.list_buckets()
        found = []
        for entry in answer.get("Buckets", []):
            lake = self._lake_name(entry["Name"])
            if lake is not None:
                found.append(BucketInfo(lake, entry["CreationDate"].timestamp()))
        return sorted(found, key=lambda info: info.name)

    def head_bucket(self, bucket: str) -> BucketInfo:
        real = self._real(bucket)
        if not self._bucket_exists(bucket, real):
            raise BucketNotFound(bucket)
        # HeadBucket tells no creation date; ListBuckets does, when the credentials allow it.
        try:
            dates = {b.name: b.creation_date for b in self.list_buckets()}
        except ObjectStoreAccessDenied:
            dates = {}
        return BucketInfo(bucket, dates.get(bucket, 0.0))

    def _bucket_exists(self, bucket: str, real: str) -> bool:
        try:
            with self._calling(bucket):
                self.client.head_bucket(Bucket=real)
        except BucketNotFound:
            return False
        return True

    # -- objects -----------------------------------------------------------------------------

    def put_object(self, bucket: str, key: str, data: Data,
                   metadata: dict[str, str] | None = None,
                   content_type: str | None = None) -> ObjectInfo:
        real = self._real(bucket)
        validate_key(bucket, key)
        clean = normalize_metadata(bucket, key, metadata)
        with _body(data) as (body, size):  # read all of data before sending: all or nothing
            options = {"ContentType": content_type} if content_type else {}
            with self._calling(bucket, key):
                answer = self.client.put_object(Bucket=real, Key=key, Body=body,
                                                ContentLength=size, Metadata=clean, **options)
        # PutObject returns no Last-Modified; the local clock stands in for it.
        return ObjectInfo(bucket, key, size, answer["ETag"], self._clock.now(),
                          content_type or DEFAULT_CONTENT_TYPE, clean)

    def get_object(self, bucket: str, key: str,
                   byte_range: ByteRange | None = None) -> tuple[ObjectInfo, bytes]:
        info, stream = self.open_object(bucket, key, byte_range)
        with stream:
            return info, stream.read()

    def open_object(self, bucket: str, key: str,
                    byte_range: ByteRange | None = None) -> tuple[ObjectInfo, BinaryIO]:
        real = self._real(bucket)
        validate_key(bucket, key)
        check_range(bucket, key, byte_range)
        options = {"Range": _range_header(byte_range)} if byte_range else {}
        with self._calling(bucket, key, byte_range=byte_range):
            answer = self.client.get_object(Bucket=real, Key=key, **options)
        size = answer["ContentLength"]
        if answer.get("ContentRange"):  # "bytes 0-9/100": the whole object's size follows "/"
            size = int(answer["ContentRange"].rsplit("/", 1)[1])
        stream = io.BufferedReader(_BodyReader(answer["Body"], bucket, key), buffer_size=CHUNK)
        return _info(bucket, key, answer, size), cast(BinaryIO, stream)

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        real = self._real(bucket)
        validate_key(bucket, key)
        try:
            with self._calling(bucket, key):
                answer = self.client.head_object(Bucket=real, Key=key)
        except ObjectNotFound:
            # A HEAD 404 has no body to say whether the bucket or the key is missing.
            if not self._bucket_exists(bucket, real):
                raise BucketNotFound(bucket) from None
            raise
        return _info(bucket, key, answer, answer["ContentLength"])

    def delete_object(self, bucket: str, key: str) -> None:
        real = self._real(bucket)
        validate_key(bucket, key)
        with self._calling(bucket, key):
            self.client.delete_object(Bucket=real, Key=key)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> list[DeleteResult]:
        real = self._real(bucket)
        outcome: dict[str, TidelakeError | None] = {}
        valid = []
        for key in keys:
            try:
                validate_key(bucket, key)
                valid.append(key)
            except InvalidObjectKey as error:
                outcome[key] = error
        for start in range(0, len(valid), 1000):  # S3 takes at most 1,000 keys per request
            batch = valid[start:start + 1000]
            with self._calling(bucket):
                answer = self.client.delete_objects(
                    Bucket=real, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": False})
            outcome.update({d["Key"]: None for d in answer.get("Deleted", [])})
            for failed in answer.get("Errors", []):
                outcome[failed["Key"]] = self._error(failed.get("Code", ""), failed.get(
                    "Message", ""), 0, {}, bucket, failed["Key"])
        return [DeleteResult(key, outcome.get(key)) for key in keys]

    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str, *,
                    metadata: dict[str, str] | None = None,
                    content_type: str | None = None) -> ObjectInfo:
        """Copy with CopyObject (server side; sources up to 5 GiB)."""
        source = {"Bucket": self._real(src_bucket), "Key": src_key}
        validate_key(src_bucket, src_key)
        validate_key(dst_bucket, dst_key)
        options: dict[str, Any] = {}
        if metadata is not None or content_type is not None:
            current = self.head_object(src_bucket, src_key)
            options = {"MetadataDirective": "REPLACE",
                       "ContentType": content_type or current.content_type,
                       "Metadata": (normalize_metadata(dst_bucket, dst_key, metadata)
                                    if metadata is not None else dict(current.metadata))}
        with self._calling(src_bucket, src_key):
            self.client.copy_object(CopySource=source, Bucket=self._real(dst_bucket),
                                    Key=dst_key, **options)
        return self.head_object(dst_bucket, dst_key)

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str | None = None,
                     start_after: str | None = None, max_keys: int = MAX_KEYS,
                     continuation_token: str | None = None) -> ListPage:
        if max_keys < 0:
            raise ValidationFailed("max_keys must not be negative")
        options: dict[str, Any] = {"Bucket": self._real(bucket), "Prefix": prefix or "",
                                   "MaxKeys": min(max_keys, MAX_KEYS)}
        if delimiter:
            options["Delimiter"] = delimiter
        if continuation_token:
            options["ContinuationToken"] = continuation_token
        elif start_after:
            options["StartAfter"] = start_after
        with self._calling(bucket):
            answer = self.client.list_objects_v2(**options)
        objects = [ObjectSummary(bucket, o["Key"], o["Size"], o["ETag"],
                                 o["LastModified"].timestamp()) for o in answer.get("Contents", [])]
        prefixes = [p["Prefix"] for p in answer.get("CommonPrefixes", [])]
        truncated = bool(answer.get("IsTruncated"))
        return ListPage(objects, prefixes, truncated,
                        answer.get("NextContinuationToken") if truncated else None)

    # -- multipart ---------------------------------------------------------------------------

    def create_multipart_upload(self, bucket: str, key: str,
                                metadata: dict[str, str] | None = None,
                                content_type: str | None = None) -> str:
        real = self._real(bucket)
        validate_key(bucket, key)
        options: dict[str, Any] = {"Metadata": normalize_metadata(bucket, key, metadata)}
        if content_type:
            options["ContentType"] = content_type
        with self._calling(bucket, key):
            return self.client.create_multipart_upload(Bucket=real, Key=key, **options)["UploadId"]

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    data: Data) -> str:
        real = self._real(bucket)
        validate_key(bucket, key)
        validate_part_number(bucket, key, part_number)
        with _body(data) as (body, size), self._calling(bucket, key, upload_id):
            answer = self.client.upload_part(Bucket=real, Key=key, UploadId=upload_id,
                                             PartNumber=part_number, Body=body,
                                             ContentLength=size)
        return answer["ETag"]

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: Sequence[tuple[int, str]]) -> ObjectInfo:
        real = self._real(bucket)
        validate_key(bucket, key)
        check_part_list(bucket, key, upload_id, parts)  # here too: not every S3 clone checks
        listed = [{"PartNumber": n, "ETag": quote_etag(unquote_etag(etag))} for n, etag in parts]
        with self._calling(bucket, key, upload_id):
            self.client.complete_multipart_upload(Bucket=real, Key=key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": listed})
        return self.head_object(bucket, key)

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        real = self._real(bucket)
        validate_key(bucket, key)
        with self._calling(bucket, key, upload_id):
            self.client.abort_multipart_upload(Bucket=real, Key=key, UploadId=upload_id)

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        real = self._real(bucket)
        validate_key(bucket, key)
        with self._calling(bucket, key, upload_id):
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=real, Key=key, UploadId=upload_id)
            return [PartInfo(p["PartNumber"], p["ETag"], p["Size"], p["LastModified"].timestamp())
                    for page in pages for p in page.get("Parts", [])]

    # -- names and errors --------------------------------------------------------------------

    def _real(self, bucket: str) -> str:
        validate_bucket_name(bucket)
        return self.bucket_map.get(bucket, bucket)

    def _lake_name(self, real: str) -> str | None:
        """The lake name of a real bucket; None if a mapping hides it (or it is not lake-valid)."""
        if real in self._lake_names:
            return self._lake_names[real]
        if real in self.bucket_map:
            return None  # the lake name "raw" points elsewhere; this real "raw" is unreachable
        try:
            validate_bucket_name(real)
        except InvalidBucketName:
            return None
        return real

    @contextmanager
    def _calling(self, bucket: str | None = None, key: str | None = None,
                 upload_id: str | None = None,
                 byte_range: ByteRange | None = None) -> Iterator[None]:
        """Translate botocore's exceptions into the lake's, once, for every call."""
        from botocore.exceptions import ClientError

        try:
            yield
        except ClientError as error:
            details = error.response.get("Error", {})
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            told = details.get("BucketName")  # CopyObject: source or destination?
            named = self._lake_names.get(told, told) if told else bucket
            raise self._error(details.get("Code", ""), details.get("Message", str(error)),
                              status, details, named, key, upload_id, byte_range) from error
        except _transient_errors() as error:
            raise ObjectStoreUnavailable(str(error), bucket, key) from error

    def _error(self, code: str, message: str, status: int, details: Mapping[str, Any],
               bucket: str | None, key: str | None, upload_id: str | None = None,
               byte_range: ByteRange | None = None) -> TidelakeError:
        b, k, u = bucket or "", key or "", upload_id or ""
        simple = {
            "NoSuchBucket": lambda: BucketNotFound(b),
            "NoSuchKey": lambda: ObjectNotFound(b, k),
            "BucketAlreadyExists": lambda: BucketAlreadyExists(b),
            "BucketAlreadyOwnedByYou": lambda: BucketAlreadyExists(b),
            "BucketNotEmpty": lambda: BucketNotEmpty(b),
            "InvalidBucketName": lambda: InvalidBucketName(b, message),
            "NoSuchUpload": lambda: UploadNotFound(b, k, u),
            "InvalidPart": lambda: InvalidPart(b, k, u, int(details.get("PartNumber", 0))),
            "InvalidPartOrder": lambda: InvalidPartOrder(b, k, u),
            "KeyTooLongError": lambda: InvalidObjectKey(b, k, message),
            "MetadataTooLarge": lambda: MetadataTooLarge(b, k, int(details.get("Size", 0)),
                                                         int(details.get("MaxSizeAllowed", 2048))),
            "EntityTooSmall": lambda: PartTooSmall(
                b, k, u, _int_or_none(details.get("PartNumber")),
                _int_or_none(details.get("ProposedSize")),
                _int_or_none(details.get("MinSizeAllowed")) or MIN_PART_SIZE),
            "InvalidRange": lambda: InvalidRange(b, k, byte_range or (0, None),
                                                 _int_or_none(details.get("ActualObjectSize"))),
        }
        if code in simple:
            return simple[code]()
        if code in ("404", "NotFound"):
            return ObjectNotFound(b, k) if key is not None else BucketNotFound(b)
        if code in _DENIED_CODES or status == 403:
            return ObjectStoreAccessDenied(f"{code}: {message}", bucket, key)
        if code in _TRANSIENT_CODES or status >= 500:
            return ObjectStoreUnavailable(f"{code}: {message}", bucket, key)
        return ObjectStoreRequestFailed(code, message, bucket, key)


def _transient_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import ConnectionError, HTTPClientError, IncompleteReadError

    return (ConnectionError, HTTPClientError, IncompleteReadError)


def _info(bucket: str, key: str, answer: Mapping[str, Any], size: int) -> ObjectInfo:
    return ObjectInfo(bucket, key, size, answer["ETag"], answer["LastModified"].timestamp(),
                      answer.get("ContentType") or DEFAULT_CONTENT_TYPE,
                      dict(answer.get("Metadata") or {}))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _range_header(byte_range: ByteRange) -> str:
    start, end = byte_range
    if start < 0:
        return f"bytes={start}"  # a suffix: "bytes=-500"
    return f"bytes={start}-" if end is None else f"bytes={start}-{end}"


@contextmanager
def _body(data: Data) -> Iterator[tuple[Any, int]]:
    """A sized, seekable request body (SigV4 hashes the payload, so a stream is read first)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
        yield payload, len(payload)
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        size = 0
        for chunk in iter_chunks(data):
            size += spool.write(chunk)
        spool.seek(0)
        yield spool, size


class _BodyReader(io.RawIOBase):
    """A botocore StreamingBody as a raw binary stream; network errors become Transient."""

    def __init__(self, body: Any, bucket: str, key: str) -> None:
        super().__init__()
        self._body = body
        self._where = (bucket, key)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except _transient_errors() as error:
            raise ObjectStoreUnavailable(str(error), *self._where) from error
        view[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
