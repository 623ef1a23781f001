"""Behaviour every ObjectStore shares, run against LocalObjectStore and S3ObjectStore (moto).

Expected values follow the Amazon S3 API reference (PutObject, GetObject "Range",
ListObjectsV2, DeleteObjects, CompleteMultipartUpload) and the bucket naming rules page.
"""
from __future__ import annotations

import hashlib
import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tidelake.errors import InvalidArgument, NotFound
from tidelake.lake.errors import (
    BucketAlreadyExists,
    BucketNotEmpty,
    BucketNotFound,
    InvalidBucketName,
    InvalidObjectKey,
    InvalidPart,
    InvalidPartOrder,
    InvalidRange,
    ObjectNotFound,
    PartTooSmall,
    UploadNotFound,
)
from tidelake.lake.rules import content_range
from tidelake.lake.models import MIN_PART_SIZE
from tidelake.lake.local_store import LocalObjectStore
from tidelake.lake.objects import ObjectStore


def md5_etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


# -- buckets -------------------------------------------------------------------------------

def test_bucket_lifecycle(store: ObjectStore) -> None:
    before = time.time()
    tag = uuid.uuid4().hex[:8]
    alpha, beta = f"alpha-{tag}", f"beta.logs.{tag}"  # dots: path-style addressing copes
    store.create_bucket(beta)
    store.create_bucket(alpha)
    names = [b.name for b in store.list_buckets()]
    assert names == sorted(names) and {alpha, beta} <= set(names)
    assert store.head_bucket(alpha).name == alpha
    assert store.head_bucket(alpha).creation_date >= before - 2

    store.delete_bucket(alpha)
    with pytest.raises(BucketNotFound) as caught:
        store.head_bucket(alpha)
    assert caught.value.bucket == alpha
    names = [b.name for b in store.list_buckets()]
    assert beta in names and alpha not in names


def test_create_existing_bucket_fails(store: ObjectStore, bucket: str) -> None:
    with pytest.raises(BucketAlreadyExists):
        store.create_bucket(bucket)


def test_delete_bucket_must_be_empty(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "deep/inside/x.json", b"{}")
    with pytest.raises(BucketNotEmpty):
        store.delete_bucket(bucket)
    store.delete_object(bucket, "deep/inside/x.json")
    store.delete_bucket(bucket)
    with pytest.raises(BucketNotFound):
        store.delete_bucket(bucket)


@pytest.mark.parametrize("name", [
    "ab", "a" * 64, "UPPER", "under_score", "-leading", "trailing-", "two..dots",
    "192.168.1.1", "xn--punycode", "sthree-x", "name-s3alias", "name--ol-s3", "has space", "",
])
def test_invalid_bucket_names(store: ObjectStore, name: str) -> None:
    with pytest.raises(InvalidBucketName) as caught:
        store.create_bucket(name)
    assert caught.value.bucket == name


def test_missing_bucket(store: ObjectStore) -> None:
    for call in (lambda: store.put_object("nope", "k", b""),
                 lambda: store.get_object("nope", "k"),
                 lambda: store.head_object("nope", "k"),
                 lambda: store.delete_object("nope", "k"),
                 lambda: store.list_objects("nope")):
        with pytest.raises(BucketNotFound):
            call()


# -- objects -------------------------------------------------------------------------------

def test_put_get_head(store: ObjectStore, bucket: str) -> None:
    data = b'{"ticker": "AMZN", "price": 181.2}\n' * 100
    info = store.put_object(bucket, "json-data/year=2026/month=11/part-1.json", data,
                            metadata={"Source-Stream": "ticks"}, content_type="application/json")
    assert info.etag == md5_etag(data)
    assert info.size == len(data)
    assert info.metadata == {"source-stream": "ticks"}  # lowercased, as S3 returns them

    got, body = store.get_object(bucket, "json-data/year=2026/month=11/part-1.json")
    assert body == data
    head = store.head_object(bucket, "json-data/year=2026/month=11/part-1.json")
    for seen in (got, head):
        assert (seen.key, seen.size, seen.etag) == (info.key, len(data), md5_etag(data))
        assert seen.content_type == "application/json"
        assert seen.metadata == {"source-stream": "ticks"}
        assert abs(seen.last_modified - time.time()) < 60


def test_defaults_and_empty_object(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "empty", b"")
    info, body = store.get_object(bucket, "empty")
    assert body == b"" and info.size == 0
    assert info.etag == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert info.content_type == "binary/octet-stream"
    assert info.metadata == {}


@pytest.mark.parametrize("make_data", [
    lambda b: b,
    lambda b: bytearray(b),
    lambda b: memoryview(b),
    lambda b: io.BytesIO(b),
    lambda b: iter([b[:3], b[3:10], b"", b[10:]]),
    lambda b: (bytes([c]) for c in b),
], ids=["bytes", "bytearray", "memoryview", "file", "chunks", "generator"])
def test_put_accepts_bytes_files_and_iterators(store: ObjectStore, bucket: str, make_data) -> None:
    data = bytes(range(256)) * 3
    info = store.put_object(bucket, "k", make_data(data))
    assert info.size == len(data) and info.etag == md5_etag(data)
    assert store.get_object(bucket, "k")[1] == data


def test_put_rejects_text(store: ObjectStore, bucket: str) -> None:
    with pytest.raises(TypeError):
        store.put_object(bucket, "k", "text")  # type: ignore[arg-type]


def test_overwrite_replaces(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "k", b"first", metadata={"v": "1"}, content_type="text/plain")
    store.put_object(bucket, "k", b"second")
    info, body = store.get_object(bucket, "k")
    assert body == b"second"
    assert info.metadata == {} and info.content_type == "binary/octet-stream"


def test_failed_write_stores_nothing(store: ObjectStore, bucket: str) -> None:
    """A data iterator that dies halfway (a crashed producer) leaves no object behind..."""
    def dying():
        yield b"x" * 100_000
        raise RuntimeError("producer crashed")

    with pytest.raises(RuntimeError):
        store.put_object(bucket, "new", dying())
    with pytest.raises(ObjectNotFound):
        store.head_object(bucket, "new")
    assert store.list_objects(bucket).objects == []

    # ...and does not damage the object it was replacing.
    store.put_object(bucket, "old", b"intact", content_type="text/plain")
    with pytest.raises(RuntimeError):
        store.put_object(bucket, "old", dying())
    info, body = store.get_object(bucket, "old")
    assert body == b"intact" and info.content_type == "text/plain"


def test_missing_object(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "a/b", b"x")
    for key in ("missing", "a", "a/b/c"):  # "a" is only a prefix, "a/b/c" runs through a file
        with pytest.raises(ObjectNotFound) as caught:
            store.get_object(bucket, key)
        assert (caught.value.bucket, caught.value.key) == (bucket, key)
        with pytest.raises(ObjectNotFound):
            store.head_object(bucket, key)


@pytest.mark.parametrize("key", [
    "../x", "a/../../x", "a/..", "./x", "a/./b", "/etc/passwd", "\\x", "a\\..\\..\\x",
    "nul\x00byte", "", "k" * 1025,
])
def test_unsafe_keys_are_refused(store: ObjectStore, bucket: str, key: str) -> None:
    with pytest.raises(InvalidObjectKey) as caught:
        store.put_object(bucket, key, b"x")
    assert caught.value.key == key
    with pytest.raises(InvalidObjectKey):
        store.get_object(bucket, key)


def test_odd_but_valid_keys(store: ObjectStore, bucket: str) -> None:
    keys = ["%2e%2e/x", "..x", "x..", "a b/c+d=e&f", "ключ/値/🐟", "a//b", "trailing/", "a\\b",
            ".hidden", "~tmp", "a" * 200]
    for key in keys:
        store.put_object(bucket, key, key.encode())
    for key in keys:
        assert store.get_object(bucket, key)[1] == key.encode()
    assert [o.key for o in store.list_objects(bucket).objects] == sorted(keys)


# -- ranges --------------------------------------------------------------------------------

@pytest.mark.parametrize("byte_range, expected, header", [
    ((0, 0), b"0", "bytes 0-0/10"),
    ((2, 5), b"2345", "bytes 2-5/10"),
    ((7, None), b"789", "bytes 7-9/10"),
    ((5, 100), b"56789", "bytes 5-9/10"),   # the end is clamped
    ((-3, None), b"789", "bytes 7-9/10"),   # suffix: the last 3 bytes
    ((-100, None), b"0123456789", "bytes 0-9/10"),
])
def test_ranges(store: ObjectStore, bucket: str, byte_range, expected: bytes, header: str) -> None:
    store.put_object(bucket, "ten", b"0123456789")
    info, body = store.get_object(bucket, "ten", byte_range)
    assert body == expected
    assert info.size == 10  # the whole object's size, as in Content-Range
    assert content_range(byte_range, info.size) == header


@pytest.mark.parametrize("byte_range", [(10, None), (10, 20), (5, 2), (-1, 5)])
def test_unsatisfiable_ranges(store: ObjectStore, bucket: str, byte_range) -> None:
    store.put_object(bucket, "ten", b"0123456789")
    with pytest.raises(InvalidRange) as caught:
        store.get_object(bucket, "ten", byte_range)
    assert caught.value.key == "ten"


def test_range_of_empty_object(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "empty", b"")
    with pytest.raises(InvalidRange):
        store.get_object(bucket, "empty", (0, None))


def test_open_object_streams(store: ObjectStore, bucket: str) -> None:
    data = bytes(range(256)) * 10_000  # 2.5 MB
    store.put_object(bucket, "big", data)
    info, stream = store.open_object(bucket, "big")
    with stream:
        parts = []
        while chunk := stream.read(65_536):
            parts.append(chunk)
    assert b"".join(parts) == data and info.size == len(data)
    info, stream = store.open_object(bucket, "big", (1_000_000, 1_000_009))
    with stream:
        assert stream.read() == data[1_000_000:1_000_010]
        assert stream.read() == b""


# -- delete and copy -----------------------------------------------------------------------

def test_delete_is_idempotent(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "k", b"x")
    store.delete_object(bucket, "k")
    store.delete_object(bucket, "k")
    with pytest.raises(ObjectNotFound):
        store.head_object(bucket, "k")


def test_delete_objects(store: ObjectStore, bucket: str, put_keys) -> None:
    put_keys(["a", "b/c", "d"])
    results = store.delete_objects(bucket, ["a", "missing", "../bad", "b/c"])
    assert [r.key for r in results] == ["a", "missing", "../bad", "b/c"]
    assert [r.deleted for r in results] == [True, True, False, True]
    assert isinstance(results[2].error, InvalidObjectKey)
    assert [o.key for o in store.list_objects(bucket).objects] == ["d"]
    with pytest.raises(BucketNotFound):
        store.delete_objects("nope", ["a"])


def test_copy_object(store: ObjectStore, bucket: str) -> None:
    other = f"other-{uuid.uuid4().hex[:8]}"
    store.create_bucket(other)
    store.put_object(bucket, "src", b"payload", metadata={"a": "1"}, content_type="text/csv")
    copied = store.copy_object(bucket, "src", other, "dst/copy")
    assert (copied.bucket, copied.key, copied.size) == (other, "dst/copy", 7)
    assert copied.etag == md5_etag(b"payload")
    assert copied.metadata == {"a": "1"} and copied.content_type == "text/csv"
    assert store.get_object(other, "dst/copy")[1] == b"payload"

    replaced = store.copy_object(bucket, "src", bucket, "dst2", metadata={"B": "2"},
                                 content_type="text/plain")
    assert replaced.metadata == {"b": "2"} and replaced.content_type == "text/plain"
    with pytest.raises(ObjectNotFound):
        store.copy_object(bucket, "missing", bucket, "x")
    with pytest.raises(BucketNotFound) as caught:
        store.copy_object(bucket, "src", "no-such-bucket-here", "x")
    assert caught.value.bucket == "no-such-bucket-here"


# -- listing -------------------------------------------------------------------------------

LISTING_KEYS = [
    "a", "a!", "a-b/c", "a/", "a//x", "a/b", "a/b/c", "a/b/d", "a/c", "a0", "b", "b/x/y/z",
    "json-data/year=2026/month=10/day=31/part-0.json",
    "json-data/year=2026/month=11/day=01/part-0.json",
    "json-data/year=2026/month=11/day=01/part-1.json",
    "json-data/year=2026/month=11/day=02/part-0.json",
    "é", "é/1", "\uffff", "\U0001d11e/x",  # code point order == UTF-8 byte order, not UTF-16
    "z", "z-/a", "z/a-b", "z/a/b",
]


@pytest.fixture(scope="module", params=["local", "s3"])
def listing(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[ObjectStore, str]:
    """LISTING_KEYS stored once per backend for the whole module (moto puts cost ~10 ms)."""
    store: ObjectStore
    if request.param == "local":
        store = LocalObjectStore(tmp_path_factory.mktemp("listing") / "lake", fsync=False)
    else:
        store = request.getfixturevalue("shared_s3_store")
    name = f"listing-{uuid.uuid4().hex[:8]}"
    store.create_bucket(name)
    for key in LISTING_KEYS:
        store.put_object(name, key, key.encode())
    return store, name


def reference_listing(keys: list[str], prefix: str, delimiter: str | None,
                      after: str | None) -> list[tuple[str, bool]]:
    """S3's rule in plain Python: roll up, then keep the entries after start-after."""
    entries: list[tuple[str, bool]] = []
    for key in sorted(k for k in keys if k.startswith(prefix)):
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = (key[:cut + len(delimiter)], True) if cut >= 0 else (key, False)
        if not entries or entries[-1] != entry:
            entries.append(entry)
    return [e for e in entries if after is None or e[0] > after]


def list_all(store: ObjectStore, bucket: str, **options) -> list[list[tuple[str, bool]]]:
    pages, token = [], None
    while True:
        page = store.list_objects(bucket, continuation_token=token, **options)
        entries = sorted([(o.key, False) for o in page.objects] +
                         [(p, True) for p in page.common_prefixes])
        pages.append(entries)
        assert page.key_count <= options.get("max_keys", 1000)
        if not page.is_truncated:
            assert page.next_continuation_token is None
            return pages
        assert page.key_count == options.get("max_keys", 1000)
        token = page.next_continuation_token


@pytest.mark.parametrize("prefix", ["", "a", "a/", "a/b", "json-data/year=2026/", "z/", "é",
                                    "nothing", "json-data/year=2026/month=11/day=01/"])
@pytest.mark.parametrize("delimiter", [None, "/", "-"])
@pytest.mark.parametrize("max_keys", [1, 2, 1000])
def test_listing_matches_reference(listing: tuple[ObjectStore, str], prefix: str,
                                   delimiter: str | None, max_keys: int) -> None:
    pages = list_all(*listing, prefix=prefix, delimiter=delimiter, max_keys=max_keys)
    expected = reference_listing(LISTING_KEYS, prefix, delimiter, None)
    assert [e for page in pages for e in page] == expected
    chunks = [expected[i:i + max_keys] for i in range(0, len(expected), max_keys)] or [[]]
    assert pages == chunks


# (Not U+FFFF: moto's server answers 500 to that noncharacter in a query string.)
@pytest.mark.parametrize("start_after", ["a", "a/", "a/b", "a/b/c", "b/x", "j", "zz", "é/",
                                         "\U0001d11e"])
@pytest.mark.parametrize("delimiter", [None, "/"])
def test_listing_start_after(listing: tuple[ObjectStore, str], start_after: str,
                             delimiter: str | None) -> None:
    pages = list_all(*listing, delimiter=delimiter, start_after=start_after, max_keys=3)
    assert [e for p in pages for e in p] == reference_listing(LISTING_KEYS, "", delimiter,
                                                              start_after)


def test_listing_details(store: ObjectStore, bucket: str) -> None:
    store.put_object(bucket, "logs/1.json", b"12345")
    page = store.list_objects(bucket, prefix="logs/")
    assert not page.is_truncated
    (summary,) = page.objects
    assert (summary.bucket, summary.key, summary.size) == (bucket, "logs/1.json", 5)
    assert summary.etag == md5_etag(b"12345")
    assert abs(summary.last_modified - time.time()) < 60


def test_listing_max_keys_zero(store: ObjectStore, bucket: str, put_keys) -> None:
    put_keys(["a", "b"])
    page = store.list_objects(bucket, max_keys=0)
    assert page.objects == [] and page.common_prefixes == [] and not page.is_truncated


@pytest.mark.parametrize("store", ["local", pytest.param("s3", marks=pytest.mark.slow)],
                         indirect=True)  # 1,001 puts take moto ~5 s
def test_listing_caps_max_keys_at_1000(store: ObjectStore, bucket: str) -> None:
    assert store.delete_objects(bucket, []) == []  # an empty batch is fine
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: store.put_object(bucket, f"k{i:04d}", b""), range(1001)))
    page = store.list_objects(bucket, max_keys=5000)
    assert len(page.objects) == 1000 and page.is_truncated
    rest = store.list_objects(bucket, continuation_token=page.next_continuation_token)
    assert [o.key for o in rest.objects] == ["k1000"]


# -- multipart -----------------------------------------------------------------------------

def test_multipart_upload(store: ObjectStore, bucket: str) -> None:
    part1 = b"a" * MIN_PART_SIZE
    part2 = b"b" * 1000
    upload_id = store.create_multipart_upload(bucket, "big/object.parquet",
                                              metadata={"Kind": "parquet"},
                                              content_type="application/octet-stream")
    etag1 = store.upload_part(bucket, "big/object.parquet", upload_id, 1, part1)
    etag2 = store.upload_part(bucket, "big/object.parquet", upload_id, 2, io.BytesIO(part2))
    assert etag1 == md5_etag(part1) and etag2 == md5_etag(part2)
    assert [(p.part_number, p.etag, p.size)
            for p in store.list_parts(bucket, "big/object.parquet", upload_id)] == [
        (1, etag1, len(part1)), (2, etag2, len(part2))]

    info = store.complete_multipart_upload(bucket, "big/object.parquet", upload_id,
                                           [(1, etag1), (2, etag2)])
    digests = hashlib.md5(part1).digest() + hashlib.md5(part2).digest()
    assert info.etag == '"' + hashlib.md5(digests).hexdigest() + '-2"'
    assert info.size == len(part1) + len(part2)
    assert info.metadata == {"kind": "parquet"}
    head, body = store.get_object(bucket, "big/object.parquet")
    assert body == part1 + part2 and head.etag == info.etag
    with pytest.raises(UploadNotFound):  # (moto answers 500 to UploadPart on a finished id)
        store.list_parts(bucket, "big/object.parquet", upload_id)


def test_multipart_rules(store: ObjectStore, bucket: str) -> None:
    upload_id = store.create_multipart_upload(bucket, "k")
    small = store.upload_part(bucket, "k", upload_id, 1, b"small")
    last = store.upload_part(bucket, "k", upload_id, 2, b"last")
    big = store.upload_part(bucket, "k", upload_id, 3, b"b" * MIN_PART_SIZE)
    with pytest.raises(PartTooSmall) as too_small:
        store.complete_multipart_upload(bucket, "k", upload_id, [(1, small), (2, last)])
    assert too_small.value.minimum == MIN_PART_SIZE
    with pytest.raises(InvalidPartOrder):
        store.complete_multipart_upload(bucket, "k", upload_id, [(3, big), (1, small)])
    with pytest.raises(InvalidPart):
        store.complete_multipart_upload(bucket, "k", upload_id, [(1, md5_etag(b"other"))])
    with pytest.raises(InvalidPart):
        store.complete_multipart_upload(bucket, "k", upload_id, [(7, small)])
    with pytest.raises(InvalidArgument):
        store.upload_part(bucket, "k", upload_id, 10_001, b"x")

    # A single part may be small: it is the last one.
    info = store.complete_multipart_upload(bucket, "k", upload_id, [(1, small)])
    assert info.etag == '"' + hashlib.md5(hashlib.md5(b"small").digest()).hexdigest() + '-1"'
    assert store.get_object(bucket, "k")[1] == b"small"


def test_abort_multipart_upload(store: ObjectStore, bucket: str) -> None:
    upload_id = store.create_multipart_upload(bucket, "k")
    store.upload_part(bucket, "k", upload_id, 1, b"x")
    store.abort_multipart_upload(bucket, "k", upload_id)
    with pytest.raises(UploadNotFound) as caught:
        store.list_parts(bucket, "k", upload_id)
    assert caught.value.upload_id == upload_id
    with pytest.raises(NotFound):
        store.abort_multipart_upload(bucket, "k", upload_id)
    with pytest.raises(ObjectNotFound):
        store.head_object(bucket, "k")
