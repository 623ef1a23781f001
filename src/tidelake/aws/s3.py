"""S3 (REST-XML) over the lake's ObjectStore: buckets, objects, listings, copies, multipart uploads.

Requests are addressed path style (``/bucket/key``) or virtual-hosted (``Host: bucket.localhost``,
``bucket.s3.localhost``, ``bucket.s3.<region>.amazonaws.com``); the operation follows from the
method, the path and the query's subresource, as in botocore's model. Handlers parse, call the
store in a worker thread, and return a dict that ``rest_xml.render`` turns into headers and XML.
Object bodies stream both ways (``payload.BodyPump`` in, ``StreamingResponse`` out).
"""
from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterator
from urllib.parse import quote, unquote, unquote_to_bytes

from botocore import xform_name
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tidelake.aws.protocol import rest_xml
from tidelake.aws.protocol.errors import to_aws
from tidelake.aws.protocol.models import service_model
from tidelake.aws.protocol.payload import READ_SIZE, BodyPump, checked_body
from tidelake.aws.protocol.rest_xml import InvalidRequest, MalformedXML, MethodNotAllowed, PreconditionFailed
from tidelake.errors import InvalidArgument, Unsupported
from tidelake.lake.errors import BucketAlreadyExists, InvalidRange
from tidelake.lake.rules import ByteRange, content_range, resolve_range, unquote_etag
from tidelake.lake.models import DEFAULT_CONTENT_TYPE, MAX_KEYS, ObjectInfo, ObjectSummary
from tidelake.lake.objects import ObjectStore

log = logging.getLogger("tidelake.aws")

OWNER = {"ID": hashlib.sha256(b"tidelake").hexdigest(), "DisplayName": "tidelake"}
MAX_DELETE_KEYS = 1000
LEGACY_REGION = "us-east-1"  # re-creating an owned bucket answers 200 there (BucketAlreadyOwnedByYou docs)
_SCOPE_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/s3/aws4_request")
_AWS_HOST = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?$")
_LOCAL_SUFFIXES = (".s3.localhost", ".localhost")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_RESPONSE_OVERRIDES = {f"response-{name.lower()}": name for name in (
    "Content-Type", "Content-Language", "Expires", "Cache-Control", "Content-Disposition", "Content-Encoding")}


def _subresources() -> tuple[frozenset[str], dict[tuple[str, bool, str], str]]:
    """Subresource query keys (``?acl``, ``?uploads``...) and the operation each selects, from the model."""
    model = service_model("s3")
    names: set[str] = set()
    table: dict[tuple[str, bool, str], str] = {}
    for operation in sorted(model.operation_names):
        http = model.operation_model(operation).http
        path, _, query = http["requestUri"].partition("?")
        for item in filter(None, query.split("&")):
            if "=" not in item:  # list-type=2 and the like are parameters, not subresources
                names.add(item)
                table.setdefault((http["method"], "{Key+}" in path, item), operation)
    return frozenset(names), table


SUBRESOURCES, _BY_SUBRESOURCE = _subresources()
_UPLOAD_OPERATIONS = {"POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload", "GET": "ListParts"}


@dataclass
class S3Call:
    request: Request
    operation: str
    bucket: str
    key: str
    region: str

    @property
    def headers(self) -> Headers:
        return self.request.headers

    @property
    def query(self) -> QueryParams:
        return self.request.query_params


def address(request: Request) -> tuple[str | None, str | None]:
    """(bucket, key) of a request, each decoded once; None where the path names none."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    raw = raw.split(b"?", 1)[0]
    bucket = _virtual_bucket(request.headers.get("host", ""))
    if bucket is None:
        name, _, raw = raw.lstrip(b"/").partition(b"/")
        bucket = unquote(name.decode("latin-1")) or None
    else:
        raw = raw[1:] if raw.startswith(b"/") else raw
    if not raw:
        return bucket, None
    try:
        return bucket, unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("Object keys must be valid UTF-8 once percent-decoded.") from None


def _virtual_bucket(host: str) -> str | None:
    host = host.lower()
    if host.startswith("["):  # an IPv6 literal: path style
        return None
    host = host.split(":", 1)[0]
    for suffix in _LOCAL_SUFFIXES:
        if host.endswith(suffix):
            name = host[:-len(suffix)]
            return None if name == "s3" and suffix == ".localhost" else name
    match = _AWS_HOST.match(host)
    return match.group("bucket") if match else None


def route(method: str, bucket: str | None, key: str | None, query: QueryParams, headers: Headers) -> str:
    """The S3 operation a request asks for (MethodNotAllowed when there is none)."""
    on_object = key is not None
    resource = "OBJECT" if on_object else "BUCKET" if bucket else "SERVICE"
    if bucket is None:
        if method == "GET":
            return "ListBuckets"
        raise MethodNotAllowed(method, resource)
    for name in query:
        if name in SUBRESOURCES:
            operation = _BY_SUBRESOURCE.get((method, on_object, name))
            if operation is None:
                raise MethodNotAllowed(method, resource)
            return operation
    copy = "x-amz-copy-source" in headers
    if on_object and "uploadId" in query:
        operations = {**_UPLOAD_OPERATIONS, "PUT": "UploadPartCopy" if copy else "UploadPart"}
    elif on_object:
        operations = {"PUT": "CopyObject" if copy else "PutObject", "GET": "GetObject",
                      "HEAD": "HeadObject", "DELETE": "DeleteObject"}
    else:
        listing = "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
        operations = {"PUT": "CreateBucket", "GET": listing, "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}
    if method not in operations:
        raise MethodNotAllowed(method, resource)
    return operations[method]


class S3Service:
    """The gateway's S3 service: ``await service(request, body)`` -> Response."""

    streams_body = True  # the gateway leaves the body unread: object bodies go straight to disk

    def __init__(self, store: ObjectStore, default_region: str = LEGACY_REGION) -> None:
        self.store = store
        self.default_region = default_region
        self.handlers: dict[str, Callable[[S3Call], Any]] = {
            name: getattr(self, xform_name(name)) for name in service_model("s3").operation_names
            if hasattr(self, xform_name(name))}

    async def __call__(self, request: Request, body: bytes = b"") -> Response:
        request_id = uuid.uuid4().hex[:16].upper()
        operation = ""
        try:
            bucket, key = address(request)
            operation = route(request.method, bucket, key, request.query_params, request.headers)
            handler = self.handlers.get(operation)
            if handler is None:
                raise Unsupported(f"tidelake does not implement S3 {operation}. See docs/s3.md for the "
                                  "operations it serves.")
            response = await handler(S3Call(request, operation, bucket or "", key or "", self._region(request)))
        except Exception as error:  # every error becomes an S3 error document; the server lives on
            response = self.error_response(error, request_id, operation)
            if "100-continue" in request.headers.get("expect", "").lower():
                # The client may still hold the body back; the server would read its next request
                # as that body. RFC 9110 10.1.1: close the connection instead of draining it.
                response.headers["connection"] = "close"
        response.headers["x-amz-request-id"] = request_id
        response.headers["x-amz-id-2"] = request_id
        return response

    def _region(self, request: Request) -> str:
        match = _SCOPE_REGION.search(request.headers.get("authorization", ""))
        if match is None and "X-Amz-Credential" in request.query_params:
            match = _SCOPE_REGION.search("Credential=" + request.query_params["X-Amz-Credential"])
        return match.group(1) if match else self.default_region

    def error_response(self, error: BaseException, request_id: str, operation: str = "") -> Response:
        aws = to_aws("s3", error)
        if aws.code == "InternalError":
            log.error("s3 %s failed", operation or "request", exc_info=error)
        fields: dict[str, Any] = {"BucketName": getattr(error, "bucket", None), "Key": getattr(error, "key", None),
                                  "UploadId": getattr(error, "upload_id", None)}
        if isinstance(error, InvalidRange):
            first, last = error.byte_range
            fields["RangeRequested"] = f"bytes={first}-{'' if last is None else last}"
            fields["ActualObjectSize"] = error.size
        elif isinstance(error, MethodNotAllowed):
            fields.update(Method=error.method, ResourceType=error.resource_type)
        elif isinstance(error, PreconditionFailed):
            fields["Condition"] = error.condition
        fields["RequestId"] = request_id
        return Response(rest_xml.error_body(aws.code, aws.message, fields), status_code=aws.status,
                        media_type="application/xml")

    @staticmethod
    def _xml(operation: str, result: dict[str, Any], status: int = 200) -> Response:
        headers, body = rest_xml.render(operation, result)
        if body:
            headers["Content-Type"] = "application/xml"
        return Response(body, status_code=status, headers=headers)

    # -- buckets ---------------------------------------------------------------------------

    async def list_buckets(self, call: S3Call) -> Response:
        prefix = call.query.get("prefix", "")
        token = call.query.get("continuation-token")
        limit = _integer(call.query.get("max-buckets"), 10_000, "max-buckets", 1, 10_000)
        buckets = [b for b in await run_in_threadpool(self.store.list_buckets)
                   if b.name.startswith(prefix) and (not token or b.name > token)]
        page = buckets[:limit]
        return self._xml("ListBuckets", {
            "Buckets": [{"Name": b.name, "CreationDate": b.creation_date} for b in page],
            "Owner": OWNER, "Prefix": prefix or None,
            "ContinuationToken": page[-1].name if len(buckets) > limit else None})

    async def create_bucket(self, call: S3Call) -> Response:
        body = await _small_body(call)
        if body.strip():
            rest_xml.parse("CreateBucket", body)  # checked, then unused: the lake has one location
        try:
            await run_in_threadpool(self.store.create_bucket, call.bucket)
        except BucketAlreadyExists:
            if call.region != LEGACY_REGION:
                raise
        return Response(headers={"Location": f"/{call.bucket}"})

    async def head_bucket(self, call: S3Call) -> Response:
        await run_in_threadpool(self.store.head_bucket, call.bucket)
        return Response(headers={"x-amz-bucket-region": call.region})

    async def delete_bucket(self, call: S3Call) -> Response:
        await run_in_threadpool(self.store.delete_bucket, call.bucket)
        return Response(status_code=204)

    async def get_bucket_location(self, call: S3Call) -> Response:
        await run_in_threadpool(self.store.head_bucket, call.bucket)
        region = None if call.region == LEGACY_REGION else call.region
        return self._xml("GetBucketLocation", {"LocationConstraint": region})

    async def get_bucket_versioning(self, call: S3Call) -> Response:
        await run_in_threadpool(self.store.head_bucket, call.bucket)
        return self._xml("GetBucketVersioning", {})  # never enabled: an empty configuration

    # -- listings --------------------------------------------------------------------------

    async def list_objects_v2(self, call: S3Call) -> Response:
        q = call.query
        encode = _encoder(q.get("encoding-type"))
        max_keys = _integer(q.get("max-keys"), MAX_KEYS, "max-keys", 0)
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter") or None
        start_after, token = q.get("start-after") or None, q.get("continuation-token") or None
        page = await run_in_threadpool(self.store.list_objects, call.bucket, prefix, delimiter,
                                       start_after, max_keys, token)
        owner = q.get("fetch-owner") == "true"
        return self._xml("ListObjectsV2", {
            "Name": call.bucket, "Prefix": encode(prefix), "Delimiter": encode(delimiter),
            "StartAfter": encode(start_after), "MaxKeys": max_keys, "KeyCount": page.key_count,
            "EncodingType": q.get("encoding-type"), "IsTruncated": page.is_truncated,
            "ContinuationToken": token, "NextContinuationToken": page.next_continuation_token,
            "Contents": [_summary(o, encode, owner) for o in page.objects],
            "CommonPrefixes": [{"Prefix": encode(p)} for p in page.common_prefixes]})

    async def list_objects(self, call: S3Call) -> Response:
        q = call.query
        encode = _encoder(q.get("encoding-type"))
        max_keys = _integer(q.get("max-keys"), MAX_KEYS, "max-keys", 0)
        prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter") or None, q.get("marker", "")
        page = await run_in_threadpool(self.store.list_objects, call.bucket, prefix, delimiter,
                                       marker or None, max_keys)
        last = max([o.key for o in page.objects[-1:]] + page.common_prefixes[-1:], default=None)
        # S3 sends NextMarker only with a delimiter; without one the last key is the marker.
        next_marker = encode(last) if page.is_truncated and delimiter else None
        return self._xml("ListObjects", {
            "Name": call.bucket, "Prefix": encode(prefix), "Delimiter": encode(delimiter),
            "Marker": encode(marker), "NextMarker": next_marker, "MaxKeys": max_keys,
            "EncodingType": q.get("encoding-type"), "IsTruncated": page.is_truncated,
            "Contents": [_summary(o, encode, True) for o in page.objects],
            "CommonPrefixes": [{"Prefix": encode(p)} for p in page.common_prefixes]})

    # -- objects ---------------------------------------------------------------------------

    async def put_object(self, call: S3Call) -> Response:
        if call.headers.get("if-none-match") or call.headers.get("if-match"):
            raise Unsupported("tidelake does not support conditional writes (If-None-Match / If-Match on PUT).")
        info, verified = await _store_body(call, lambda data: self.store.put_object(
            call.bucket, call.key, data, _metadata(call.headers), call.headers.get("content-type")))
        return _with(self._xml("PutObject", {"ETag": info.etag}), verified)

    async def get_object(self, call: S3Call) -> Response:
        _refuse_part_number(call)
        byte_range = _byte_range(call.headers.get("range"))
        info, reader = await run_in_threadpool(self.store.open_object, call.bucket, call.key, byte_range)
        try:
            not_modified = _preconditions(call.headers, info)
        except BaseException:
            reader.close()
            raise
        if not_modified is not None:
            reader.close()
            return not_modified
        headers, status, length = _object_headers(call, info, byte_range)
        if length <= READ_SIZE:
            def read_all() -> bytes:
                with reader:
                    return reader.read()
            return Response(await run_in_threadpool(read_all), status_code=status, headers=headers)
        return StreamingResponse(_read_chunks(reader), status_code=status, headers=headers)

    async def head_object(self, call: S3Call) -> Response:
        _refuse_part_number(call)
        info = await run_in_threadpool(self.store.head_object, call.bucket, call.key)
        byte_range = _byte_range(call.headers.get("range"))
        if byte_range is not None and resolve_range(byte_range, info.size) is None:
            raise InvalidRange(call.bucket, call.key, byte_range, info.size)
        not_modified = _preconditions(call.headers, info)
        if not_modified is not None:
            return not_modified
        headers, status, _ = _object_headers(call, info, byte_range)
        return Response(status_code=status, headers=headers)

    async def delete_object(self, call: S3Call) -> Response:
        await run_in_threadpool(self.store.delete_object, call.bucket, call.key)
        return Response(status_code=204)

    async def delete_objects(self, call: S3Call) -> Response:
        doc = rest_xml.parse("DeleteObjects", await _small_body(call))
        objects = doc.get("Objects", [])
        if not objects or len(objects) > MAX_DELETE_KEYS:
            raise MalformedXML()
        keys = [item.get("Key", "") for item in objects]
        results = await run_in_threadpool(self.store.delete_objects, call.bucket, keys)
        errors = []
        for result in results:
            if result.error is not None:
                aws = to_aws("s3", result.error)
                errors.append({"Key": result.key, "Code": aws.code, "Message": aws.message})
        deleted = [] if doc.get("Quiet") else [{"Key": r.key} for r in results if r.deleted]
        return self._xml("DeleteObjects", {"Deleted": deleted, "Errors": errors})

    async def copy_object(self, call: S3Call) -> Response:
        src_bucket, src_key = _copy_source(call.headers["x-amz-copy-source"])
        directive = call.headers.get("x-amz-metadata-directive", "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise InvalidArgument("Unknown metadata directive.")
        if directive == "COPY" and (src_bucket, src_key) == (call.bucket, call.key):
            raise InvalidRequest("This copy request is illegal because it is trying to copy an object to itself "
                                 "without changing the object's metadata, storage class, website redirect "
                                 "location or encryption attributes.")
        replace = directive == "REPLACE"
        info = await run_in_threadpool(
            lambda: self.store.copy_object(
                src_bucket, src_key, call.bucket, call.key,
                metadata=_metadata(call.headers) if replace else None,
                content_type=(call.headers.get("content-type") or DEFAULT_CONTENT_TYPE) if replace else None))
        return self._xml("CopyObject", {"CopyObjectResult": {"ETag": info.etag, "LastModified": info.last_modified}})

    # -- multipart uploads -----------------------------------------------------------------

    async def create_multipart_upload(self, call: S3Call) -> Response:
        upload_id = await run_in_threadpool(self.store.create_multipart_upload, call.bucket, call.key,
                                            _metadata(call.headers), call.headers.get("content-type"))
        return self._xml("CreateMultipartUpload", {"Bucket": call.bucket, "Key": call.key, "UploadId": upload_id})

    async def upload_part(self, call: S3Call) -> Response:
        number = _integer(call.query.get("partNumber"), None, "partNumber", 1)
        upload_id = call.query["uploadId"]
        etag, verified = await _store_body(call, lambda data: self.store.upload_part(
            call.bucket, call.key, upload_id, number, data))
        return _with(self._xml("UploadPart", {"ETag": etag}), verified)

    async def complete_multipart_upload(self, call: S3Call) -> Response:
        doc = rest_xml.parse("CompleteMultipartUpload", await _small_body(call))
        parts = []
        for part in doc.get("Parts", []):
            if "PartNumber" not in part or "ETag" not in part:
                raise MalformedXML()
            parts.append((part["PartNumber"], part["ETag"]))
        info = await run_in_threadpool(self.store.complete_multipart_upload, call.bucket, call.key,
                                       call.query["uploadId"], parts)
        base = f"{call.request.url.scheme}://{call.request.headers.get('host', 'localhost')}"
        return self._xml("CompleteMultipartUpload", {
            "Location": f"{base}/{call.bucket}/{quote(call.key)}", "Bucket": call.bucket,
            "Key": call.key, "ETag": info.etag})

    async def abort_multipart_upload(self, call: S3Call) -> Response:
        await run_in_threadpool(self.store.abort_multipart_upload, call.bucket, call.key, call.query["uploadId"])
        return Response(status_code=204)

    async def list_parts(self, call: S3Call) -> Response:
        upload_id = call.query["uploadId"]
        limit = _integer(call.query.get("max-parts"), 1000, "max-parts", 0, 1000)
        marker = _integer(call.query.get("part-number-marker"), 0, "part-number-marker", 0)
        parts = [p for p in await run_in_threadpool(self.store.list_parts, call.bucket, call.key, upload_id)
                 if p.part_number > marker]
        page = parts[:limit]
        return self._xml("ListParts", {
            "Bucket": call.bucket, "Key": call.key, "UploadId": upload_id, "PartNumberMarker": marker,
            "NextPartNumberMarker": page[-1].part_number if page else marker, "MaxParts": limit,
            "IsTruncated": len(parts) > limit, "Initiator": OWNER, "Owner": OWNER, "StorageClass": "STANDARD",
            "Parts": [{"PartNumber": p.part_number, "LastModified": p.last_modified, "ETag": p.etag,
                       "Size": p.size} for p in page]})


# -- request pieces -----------------------------------------------------------------------------

async def _small_body(call: S3Call) -> bytes:
    """An XML request body (a few KiB to ~1 MiB), checked against the digests it declares."""
    body = await call.request.body()
    return b"".join(checked_body([body], call.headers, {}))


async def _store_body(call: S3Call, write: Callable[[Iterator[bytes]], Any]) -> tuple[Any, dict[str, str]]:
    """Stream the request body into ``write`` (a store call) in a worker thread; returns its result
    and the checksums verified on the way."""
    pump = BodyPump(call.request)
    verified: dict[str, str] = {}
    result = await run_in_threadpool(lambda: write(checked_body(pump.chunks(), call.headers, verified)))
    return result, verified


def _metadata(headers: Headers) -> dict[str, str]:
    return {name[len("x-amz-meta-"):]: value for name, value in headers.items() if name.startswith("x-amz-meta-")}


def _integer(text: str | None, default: int | None, name: str, low: int, high: int | None = None) -> int:
    if text is None and default is not None:
        return default
    try:
        value = int(text or "")
    except ValueError:
        raise InvalidArgument(f"Provided {name} not an integer or within integer range") from None
    if value < low or (high is not None and value > high):
        raise InvalidArgument(f"Argument {name} must be an integer between {low} and {high or 2**31 - 1}")
    return value


def _encoder(encoding: str | None) -> Callable[[str | None], str | None]:
    if encoding is None:
        return lambda text: text
    if encoding != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    # botocore decodes with unquote_plus: '+' must travel as %2B, so quote (not quote_plus) it.
    return lambda text: None if text is None else quote(text, safe="/")


def _summary(obj: ObjectSummary, encode: Callable[[str | None], str | None], owner: bool) -> dict[str, Any]:
    return {"Key": encode(obj.key), "LastModified": obj.last_modified, "ETag": obj.etag, "Size": obj.size,
            "StorageClass": "STANDARD", "Owner": OWNER if owner else None}


def _copy_source(header: str) -> tuple[str, str]:
    """``x-amz-copy-source: /bucket/url-encoded-key[?versionId=...]`` -> (bucket, key)."""
    source, _, version = header.partition("?")
    if version and version != "versionId=null":
        raise InvalidArgument("tidelake buckets are not versioned: copy sources take no versionId.")
    bucket, _, key = unquote(source).lstrip("/").partition("/")
    if not bucket or not key:
        raise InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
    return bucket, key


def _refuse_part_number(call: S3Call) -> None:
    # The store keeps no part boundaries: answering the whole object would be silently wrong.
    if "partNumber" in call.query:
        raise Unsupported("tidelake does not serve GetObject/HeadObject by partNumber; use a Range.")


def _byte_range(header: str | None) -> ByteRange | None:
    """``bytes=a-b``, ``bytes=a-`` or ``bytes=-n``; other forms are ignored, as RFC 9110 allows."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None or not (match.group(1) or match.group(2)):
        return None
    first, last = match.groups()
    if not first:
        return (-int(last), None)
    if last and int(last) < int(first):
        return None
    return (int(first), int(last) if last else None)


def _preconditions(headers: Headers, info: ObjectInfo) -> Response | None:
    """RFC 7232 order, as S3 documents for GetObject: 412 raised, 304 returned, None to go on."""
    def matches(value: str) -> bool:
        return any(tag.strip() == "*" or unquote_etag(tag) == unquote_etag(info.etag) for tag in value.split(","))

    modified = int(info.last_modified)  # Last-Modified has one-second precision
    if "if-match" in headers:
        if not matches(headers["if-match"]):
            raise PreconditionFailed("If-Match")
    elif (since := rest_xml.parse_http_date(headers.get("if-unmodified-since", ""))) is not None:
        if modified > since:
            raise PreconditionFailed("If-Unmodified-Since")
    if "if-none-match" in headers:
        not_modified = matches(headers["if-none-match"])
    else:
        since = rest_xml.parse_http_date(headers.get("if-modified-since", ""))
        not_modified = since is not None and modified <= since
    if not_modified:
        return Response(status_code=304, headers={"ETag": info.etag,
                                                  "Last-Modified": rest_xml.http_date(info.last_modified)})
    return None


def _object_headers(call: S3Call, info: ObjectInfo, byte_range: ByteRange | None) -> tuple[dict[str, str], int, int]:
    """GetObject / HeadObject headers, the status (200 or 206) and the body length."""
    first_last = resolve_range(byte_range, info.size) if byte_range is not None else None
    length = first_last[1] - first_last[0] + 1 if first_last else info.size
    headers, _ = rest_xml.render("HeadObject", {
        "LastModified": info.last_modified, "ContentLength": length, "ETag": info.etag,
        "ContentType": info.content_type, "Metadata": dict(info.metadata), "AcceptRanges": "bytes",
        "ContentRange": content_range(byte_range, info.size) if first_last else None})
    for parameter, header in _RESPONSE_OVERRIDES.items():
        if parameter in call.query:
            headers[header] = call.query[parameter]
    return headers, 206 if first_last else 200, length


def _read_chunks(reader: BinaryIO) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(READ_SIZE):
            yield chunk


def _with(response: Response, headers: dict[str, str]) -> Response:
    response.headers.update(headers)
    return response
