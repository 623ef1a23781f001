"""S3 over the lake, through boto3 (path style and virtual-hosted) and raw HTTP where boto3 cannot
produce the request (unsigned aws-chunked bodies, unencoded listings, bad digests).

Semantics and codes: docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html and each
operation's API reference page (named in the tests)."""
from __future__ import annotations

import base64
import hashlib
import io
import itertools
import os
import socket
import xml.etree.ElementTree as ET
import zlib
from typing import Any, Callable

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

MiB = 1024 * 1024
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_names = itertools.count()


@pytest.fixture
def s3(server: Any) -> Any:
    return server.client("s3", s3={"addressing_style": "path"})


@pytest.fixture
def bucket_factory(s3: Any, request: pytest.FixtureRequest) -> Callable[[], str]:
    def make() -> str:
        stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
        name = f"{stem}-{next(_names)}"
        s3.create_bucket(Bucket=name)
        return name
    return make


@pytest.fixture
def bucket(bucket_factory: Callable[[], str]) -> str:
    return bucket_factory()


def code_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- buckets ----------------------------------------------------------------------------------

def test_bucket_lifecycle(s3, server):
    name = f"lifecycle-{next(_names)}"
    assert s3.create_bucket(Bucket=name)["Location"] == f"/{name}"
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None  # us-east-1 answers null
    s3.delete_bucket(Bucket=name)
    assert code_of(lambda: s3.head_bucket(Bucket=name)) == ("404", 404)  # HEAD errors have no body
    assert code_of(lambda: s3.delete_bucket(Bucket=name)) == ("NoSuchBucket", 404)


def test_recreating_an_owned_bucket(s3, server, bucket):
    """BucketAlreadyOwnedByYou in every region but us-east-1, which answers 200 for legacy
    compatibility (S3 API reference, CreateBucket errors)."""
    s3.create_bucket(Bucket=bucket)
    eu = boto3.client("s3", endpoint_url=server.url, region_name="eu-west-1", aws_access_key_id="test",
                      aws_secret_access_key="test",
                      config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))
    assert code_of(lambda: eu.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})) == (
        "BucketAlreadyOwnedByYou", 409)
    assert eu.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"


def test_delete_bucket_that_is_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert code_of(lambda: s3.delete_bucket(Bucket=bucket)) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize("name", ["ab", "Upper-Case", "under_score", "192.168.1.1", "-dash-first"])
def test_invalid_bucket_names(s3, name):
    assert code_of(lambda: s3.create_bucket(Bucket=name)) == ("InvalidBucketName", 400)


def test_list_buckets_pages_by_prefix(s3, bucket_factory):
    names = sorted(bucket_factory() for _ in range(3))
    prefix = names[0].rsplit("-", 1)[0]
    first = s3.list_buckets(Prefix=prefix, MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    rest = s3.list_buckets(Prefix=prefix, MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names[2:] and "ContinuationToken" not in rest
    assert first["Owner"]["ID"]


# -- objects ----------------------------------------------------------------------------------

KEYS = ["plain.txt", "a b/c+d.txt", "ü/日本語 file.txt", "literal%2Fpercent", "q?x=1&y=#frag", "t~i(l)d'e*!",
        "deep/er/and/deeper/key.json", "semi;colon,comma:colon@at$dollar"]


@pytest.mark.parametrize("key", KEYS)
def test_keys_round_trip(s3, bucket, key):
    body = f"body of {key}".encode()
    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    assert etag == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == body and got["ETag"] == etag and got["ContentLength"] == len(body)
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]  # boto3 asks for encoding-type=url
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [(key, len(body), etag)]
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_metadata_and_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="m", Body=b"{}", ContentType="application/json",
                  Metadata={"Owner": "team-data", "run": "42"})
    head = s3.head_object(Bucket=bucket, Key="m")
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"owner": "team-data", "run": "42"}  # S3 lowercases metadata names
    assert head["ContentLength"] == 2 and head["AcceptRanges"] == "bytes"
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="plain")["ContentType"] == "binary/octet-stream"


def test_missing_objects(s3, bucket):
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="no/such key")
    error = info.value.response["Error"]
    assert (error["Code"], error["Key"], error["BucketName"]) == ("NoSuchKey", "no/such key", bucket)
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key="nope")) == ("404", 404)
    assert code_of(lambda: s3.get_object(Bucket="no-such-bucket-x", Key="k")) == ("NoSuchBucket", 404)
    assert code_of(lambda: s3.put_object(Bucket="no-such-bucket-x", Key="k", Body=b"1")) == ("NoSuchBucket", 404)


def test_delete_object_is_idempotent(s3, bucket):
    assert s3.delete_object(Bucket=bucket, Key="never-existed")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_ranges(s3, bucket):
    """GetObject Range: 206 with Content-Range; an unsatisfiable start is 416 InvalidRange."""
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    for header, body, content_range in [("bytes=0-3", b"0123", "bytes 0-3/10"), ("bytes=7-", b"789", "bytes 7-9/10"),
                                        ("bytes=-2", b"89", "bytes 8-9/10"), ("bytes=8-100", b"89", "bytes 8-9/10")]:
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert (got["Body"].read(), got["ContentRange"], got["ResponseMetadata"]["HTTPStatusCode"]) == (
            body, content_range, 206)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-")) == ("InvalidRange", 416)
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-1,4-5")["Body"].read() == b"0123456789"


def test_large_object_streams_back(s3, bucket):
    data = os.urandom(3 * MiB + 17)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == data
    part = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={MiB}-{2 * MiB + 5}")["Body"].read()
    assert part == data[MiB:2 * MiB + 6]


def test_conditional_reads(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')) == ("PreconditionFailed", 412)
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)) == ("304", 304)
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)) == ("304", 304)


def test_response_header_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="text/csv",
                        ResponseContentDisposition="attachment; filename=o.csv")
    assert (got["ContentType"], got["ContentDisposition"]) == ("text/csv", "attachment; filename=o.csv")


# -- digests and payload encodings ---------------------------------------------------------------

def test_content_md5_mismatch_is_bad_digest(s3, bucket):
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="d", Body=b"data", ContentMD5=wrong)) == ("BadDigest", 400)
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="d", Body=b"data", ContentMD5="not-base64")) == (
        "InvalidDigest", 400)
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key="d")) == ("404", 404)  # nothing was stored
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=bucket, Key="d", Body=b"data", ContentMD5=right)


def test_flexible_checksum_is_verified_and_echoed(s3, bucket):
    """boto3 1.44 sends x-amz-checksum-crc32 on every PutObject/UploadPart by default."""
    put = s3.put_object(Bucket=bucket, Key="crc", Body=b"hello")
    assert put["ChecksumCRC32"] == base64.b64encode(zlib.crc32(b"hello").to_bytes(4, "big")).decode()
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="crc2", Body=b"hello", ChecksumCRC32="AAAAAA==")) == (
        "BadDigest", 400)


def _raw_put(server: Any, path: str, data: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.put(f"{server.url}{path}", data=data, headers=headers, timeout=30)


def test_payload_hash_mismatch(server, s3, bucket):
    response = _raw_put(server, f"/{bucket}/sha", b"payload", {"x-amz-content-sha256": hashlib.sha256(b"x").hexdigest()})
    assert response.status_code == 400
    assert ET.fromstring(response.content).findtext("Code") == "XAmzContentSHA256Mismatch"
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key="sha")) == ("404", 404)


def _chunked(data: bytes, chunk_size: int, checksum: bool) -> bytes:
    """What botocore sends over HTTPS: aws-chunked framing with a trailing CRC32."""
    return AwsChunkedWrapper(io.BytesIO(data), Crc32Checksum if checksum else None,
                             "x-amz-checksum-crc32", chunk_size).read()


def test_aws_chunked_unsigned_trailer(server, s3, bucket):
    data = os.urandom(300_000)
    headers = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "content-encoding": "aws-chunked",
               "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": str(len(data))}
    response = _raw_put(server, f"/{bucket}/chunked", _chunked(data, 64 * 1024, True), headers)
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data

    framed = bytearray(_chunked(data, 64 * 1024, True))
    framed[10] ^= 0xFF  # corrupt one data byte: the trailing checksum no longer matches
    response = _raw_put(server, f"/{bucket}/corrupt", bytes(framed), headers)
    assert (response.status_code, ET.fromstring(response.content).findtext("Code")) == (400, "BadDigest")
    assert code_of(lambda: s3.head_object(Bucket=bucket, Key="corrupt")) == ("404", 404)


def test_aws_chunked_signed_chunks(server, s3, bucket):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: each chunk header carries ;chunk-signature=..."""
    data = b"a" * 70_000 + b"b" * 1000
    body = b""
    for start in range(0, len(data), 65_536):
        piece = data[start:start + 65_536]
        body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(piece), b"0" * 64, piece)
    body += b"0;chunk-signature=" + b"0" * 64 + b"\r\n\r\n"
    headers = {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "content-encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data))}
    assert _raw_put(server, f"/{bucket}/signed", body, headers).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == data
    headers["x-amz-decoded-content-length"] = str(len(data) + 1)
    response = _raw_put(server, f"/{bucket}/short", body, headers)
    assert ET.fromstring(response.content).findtext("Code") == "IncompleteBody"


# -- keys that must not escape the bucket ---------------------------------------------------------

@pytest.mark.parametrize("key", ["../escape.txt", "a/../../escape.txt", "/absolute.txt", "a/./b", "x/..",
                                 "..\\escape.txt"])
def test_unsafe_keys_are_refused(s3, server, bucket, key):
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x")) == ("InvalidArgument", 400)
    assert not list(server.data_dir.rglob("escape.txt"))


@pytest.mark.parametrize("path", ["%2e%2e%2fescape.txt", "..%2fescape.txt", "%2E%2E/%2E%2E/escape.txt",
                                  "sub/%2e%2e/%2e%2e/escape.txt"])
def test_encoded_traversal_is_refused(server, bucket, path):
    response = _raw_put(server, f"/{bucket}/{path}", b"x", {})
    assert (response.status_code, ET.fromstring(response.content).findtext("Code")) == (400, "InvalidArgument")
    assert not list(server.data_dir.rglob("escape.txt"))


def test_key_and_metadata_limits(s3, bucket):
    """1,024-byte keys and 2 KiB of user metadata (S3 User Guide: object keys, object metadata)."""
    longest = "/".join(["k" * 204] * 5)  # 1,024 bytes; the local lake keeps each segment <= 255 bytes
    s3.put_object(Bucket=bucket, Key=longest, Body=b"1")
    assert s3.get_object(Bucket=bucket, Key=longest)["Body"].read() == b"1"
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key=longest + "k", Body=b"1")) == ("InvalidArgument", 400)
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="k" * 256, Body=b"1")) == ("InvalidArgument", 400)
    assert code_of(lambda: s3.put_object(Bucket=bucket, Key="m", Body=b"1", Metadata={"a": "x" * 2048})) == (
        "MetadataTooLarge", 400)


# -- batch delete, copy -------------------------------------------------------------------------

def test_delete_objects_verbose_and_quiet(s3, bucket):
    """DeleteObjects: verbose lists every key; Quiet lists only failures (API reference)."""
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}, {"Key": "../x"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "missing"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("../x", "InvalidArgument")]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}, {"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_rejects_bad_xml(server, bucket):
    response = requests.post(f"{server.url}/{bucket}?delete", data=b"<Delete><Object>", timeout=10)
    assert (response.status_code, ET.fromstring(response.content).findtext("Code")) == (400, "MalformedXML")


def test_copy_object(s3, bucket_factory):
    source, target = bucket_factory(), bucket_factory()
    s3.put_object(Bucket=source, Key="dir/ü source+1.txt", Body=b"copy me", ContentType="text/plain",
                  Metadata={"a": "1"})
    copied = s3.copy_object(Bucket=target, Key="copy", CopySource={"Bucket": source, "Key": "dir/ü source+1.txt"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    head = s3.head_object(Bucket=target, Key="copy")
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"a": "1"})  # COPY is the default directive

    s3.copy_object(Bucket=target, Key="copy", CopySource=f"{target}/copy", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="application/json")
    head = s3.head_object(Bucket=target, Key="copy")
    assert (head["ContentType"], head["Metadata"]) == ("application/json", {"b": "2"})
    assert s3.get_object(Bucket=target, Key="copy")["Body"].read() == b"copy me"

    assert code_of(lambda: s3.copy_object(Bucket=target, Key="copy", CopySource=f"{target}/copy")) == (
        "InvalidRequest", 400)  # to itself without changing anything
    assert code_of(lambda: s3.copy_object(Bucket=target, Key="x", CopySource=f"{source}/missing")) == ("NoSuchKey", 404)


# -- listings -----------------------------------------------------------------------------------

def test_list_objects_v2_delimiter_and_pages(s3, bucket):
    """ListObjectsV2: common prefixes count toward MaxKeys; KeyCount; continuation tokens."""
    keys = ["a/1", "a/2", "b/1", "c", "d/x/y", "e"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    page = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "b/", "d/"]
    assert [o["Key"] for o in page["Contents"]] == ["c", "e"] and page["KeyCount"] == 5
    page = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert (page["IsTruncated"], page["KeyCount"], page["MaxKeys"]) == (True, 2, 2)
    rest = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2, ContinuationToken=page["NextContinuationToken"])
    assert [p["Prefix"] for p in rest.get("CommonPrefixes", [])] + [o["Key"] for o in rest.get("Contents", [])] == [
        "d/", "c"]
    assert rest["ContinuationToken"] == page["NextContinuationToken"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="a/")["Contents"]] == ["a/1", "a/2"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, StartAfter="b/1")["Contents"]] == ["c", "d/x/y", "e"]
    paginated = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={
        "PageSize": 2}) for o in p.get("Contents", [])]
    assert paginated == keys
    assert code_of(lambda: s3.list_objects_v2(Bucket=bucket, ContinuationToken="garbage")) == ("InvalidArgument", 400)


def test_list_objects_v1_markers(s3, bucket):
    for key in ["a/1", "a/2", "b", "c/1", "d"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    page = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert page["IsTruncated"] and page["NextMarker"] == "b"
    rest = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=page["NextMarker"])
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["c/"] and [o["Key"] for o in rest["Contents"]] == ["d"]
    keys = [o["Key"] for p in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={
        "PageSize": 2}) for o in p.get("Contents", [])]
    assert keys == ["a/1", "a/2", "b", "c/1", "d"]


def test_listing_without_url_encoding_escapes_xml(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="x <&> y", Body=b"1")
    response = requests.get(f"{server.url}/{bucket}?list-type=2&prefix=x%20", timeout=10)
    root = ET.fromstring(response.content)
    assert root.tag == f"{NS}ListBucketResult"
    assert [k.text for k in root.iter(f"{NS}Key")] == ["x <&> y"] and root.findtext(f"{NS}Prefix") == "x "
    encoded = ET.fromstring(requests.get(f"{server.url}/{bucket}?list-type=2&encoding-type=url", timeout=10).content)
    assert [k.text for k in encoded.iter(f"{NS}Key")] == ["x%20%3C%26%3E%20y"]


# -- multipart ----------------------------------------------------------------------------------

def test_multipart_upload(s3, bucket):
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp/file.bin", ContentType="application/x-test",
                                        Metadata={"k": "v"})
    upload_id = upload["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="mp/file.bin", UploadId=upload_id, PartNumber=n, Body=data)["ETag"]
             for n, data in enumerate(parts_data, 1)]
    listed = s3.list_parts(Bucket=bucket, Key="mp/file.bin", UploadId=upload_id)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (n, etag, len(data)) for n, (etag, data) in enumerate(zip(etags, parts_data), 1)]
    page = s3.list_parts(Bucket=bucket, Key="mp/file.bin", UploadId=upload_id, MaxParts=2)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 2
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp/file.bin", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]})
    digests = b"".join(hashlib.md5(d).digest() for d in parts_data)
    assert done["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-3"' and done["Key"] == "mp/file.bin"
    got = s3.get_object(Bucket=bucket, Key="mp/file.bin")
    assert got["Body"].read() == b"".join(parts_data)
    assert (got["ContentType"], got["Metadata"]) == ("application/x-test", {"k": "v"})


def test_multipart_errors(s3, bucket):
    key = "mp/errors"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"small")["ETag"]
    last = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=b"last")["ETag"]

    def complete(parts: list[dict[str, Any]]) -> Any:
        return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                            MultipartUpload={"Parts": parts})
    assert code_of(lambda: complete([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}])) == (
        "EntityTooSmall", 400)
    assert code_of(lambda: complete([{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}])) == (
        "InvalidPartOrder", 400)
    assert code_of(lambda: complete([{"PartNumber": 1, "ETag": '"0123"'}])) == ("InvalidPart", 400)
    assert code_of(lambda: complete([{"PartNumber": 3, "ETag": last}])) == ("InvalidPart", 400)
    assert code_of(lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=10_001,
                                          Body=b"x")) == ("InvalidArgument", 400)
    assert complete([{"PartNumber": 2, "ETag": last}])["ETag"].endswith('-1"')  # a lone last part may be small

    other = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=other)
    assert code_of(lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=other, PartNumber=1, Body=b"x")) == (
        "NoSuchUpload", 404)
    assert code_of(lambda: s3.list_parts(Bucket=bucket, Key=key, UploadId="nope")) == ("NoSuchUpload", 404)
    assert code_of(lambda: s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId="nope")) == ("NoSuchUpload", 404)


def test_transfer_manager_round_trip(s3, bucket, tmp_path):
    """boto3's upload_fileobj / download_file: multipart above the threshold, ranged GETs with If-Match."""
    from boto3.s3.transfer import TransferConfig
    data = os.urandom(12 * MiB + 3)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_fileobj(io.BytesIO(data), bucket, "transfer/blob", Config=config)
    assert s3.head_object(Bucket=bucket, Key="transfer/blob")["ETag"].endswith('-3"')
    s3.download_file(bucket, "transfer/blob", str(tmp_path / "blob"), Config=config)
    assert (tmp_path / "blob").read_bytes() == data


def test_presigned_urls(s3, bucket):
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre/signed.txt"})
    assert requests.put(put_url, data=b"via presigned url", timeout=10).status_code == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/signed.txt"})
    assert requests.get(get_url, timeout=10).content == b"via presigned url"


# -- unsupported subresources and methods ---------------------------------------------------------

def test_unsupported_subresources(s3, bucket):
    assert code_of(lambda: s3.get_bucket_acl(Bucket=bucket)) == ("NotImplemented", 501)
    assert code_of(lambda: s3.get_bucket_policy(Bucket=bucket)) == ("NotImplemented", 501)
    assert code_of(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})) == ("NotImplemented", 501)
    assert code_of(lambda: s3.get_object_tagging(Bucket=bucket, Key="k")) == ("NotImplemented", 501)
    assert code_of(lambda: s3.list_multipart_uploads(Bucket=bucket)) == ("NotImplemented", 501)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert code_of(lambda: s3.get_object(Bucket=bucket, Key="k", PartNumber=1)) == ("NotImplemented", 501)
    versioning = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in versioning  # never enabled
    assert code_of(lambda: s3.get_bucket_versioning(Bucket="no-such-bucket-x")) == ("NoSuchBucket", 404)


def test_method_not_allowed(server, bucket):
    response = requests.post(f"{server.url}/{bucket}/some-key", data=b"", timeout=10)
    root = ET.fromstring(response.content)
    assert (response.status_code, root.findtext("Code"), root.findtext("Method")) == (405, "MethodNotAllowed", "POST")


def test_error_document_shape(server, bucket):
    response = requests.get(f"{server.url}/{bucket}/missing%20key", timeout=10)
    root = ET.fromstring(response.content)
    assert response.status_code == 404 and response.headers["content-type"] == "application/xml"
    assert [child.tag for child in root][:2] == ["Code", "Message"]
    assert (root.findtext("Code"), root.findtext("Key"), root.findtext("BucketName")) == (
        "NoSuchKey", "missing key", bucket)
    assert root.findtext("RequestId") == response.headers["x-amz-request-id"]


# -- addressing ---------------------------------------------------------------------------------

@pytest.fixture
def localhost_subdomains(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 6761 says *.localhost is loopback; glibc here does not resolve it, so the test does."""
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", resolve)


@pytest.mark.parametrize("endpoint", ["http://localhost:{port}", "http://s3.localhost:{port}"])
def test_virtual_hosted_style(server, localhost_subdomains, endpoint):
    client = boto3.client("s3", endpoint_url=endpoint.format(port=server.port), region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(s3={"addressing_style": "virtual"}, retries={"total_max_attempts": 1}))
    seen: list[str] = []
    client.meta.events.register("before-send", lambda request, **_: seen.append(request.url))
    name = f"vhost-{next(_names)}"
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="dir/a b+c.txt", Body=b"virtual")
    assert client.get_object(Bucket=name, Key="dir/a b+c.txt")["Body"].read() == b"virtual"
    assert [o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]] == ["dir/a b+c.txt"]
    assert seen[0].startswith(f"http://{name}.")  # the bucket really travelled in the Host header
    path_style = boto3.client("s3", endpoint_url=f"http://localhost:{server.port}", region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")  # botocore: path style here
    assert path_style.get_object(Bucket=name, Key="dir/a b+c.txt")["Body"].read() == b"virtual"


# -- authentication -----------------------------------------------------------------------------

def test_signed_requests_when_credentials_are_configured(server_factory):
    secured = server_factory(credentials="AKIDS3TEST:s3cret")

    def client(key: str, secret: str) -> Any:
        return boto3.client("s3", endpoint_url=secured.url, region_name="us-east-1", aws_access_key_id=key,
                            aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"},
                                                                        retries={"total_max_attempts": 1}))
    good = client("AKIDS3TEST", "s3cret")
    good.create_bucket(Bucket="secured")
    data = os.urandom(2 * MiB)
    good.put_object(Bucket="secured", Key="k", Body=data)
    assert good.get_object(Bucket="secured", Key="k")["Body"].read() == data
    assert code_of(lambda: client("AKIDS3TEST", "wrong").put_object(Bucket="secured", Key="k", Body=b"x")) == (
        "SignatureDoesNotMatch", 403)
    assert code_of(lambda: client("UNKNOWN", "x").list_buckets()) == ("InvalidAccessKeyId", 403)
    assert requests.get(f"{secured.url}/secured/k", timeout=10).status_code == 403
