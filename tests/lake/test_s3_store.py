"""S3ObjectStore only: bucket mapping, regions, error translation, lazy boto3.

The shared behaviour (objects, listing, ranges, multipart) runs against moto in test_objects.py.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import boto3
import pytest
from botocore.config import Config

from tidelake.errors import AccessDenied, Transient
from tidelake.lake.errors import (
    BucketNotFound,
    ObjectNotFound,
    ObjectStoreRequestFailed,
    ObjectStoreUnavailable,
)
from tidelake.lake.s3_store import S3ObjectStore


def raw_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing", region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


def test_bucket_map_translates_names(moto_server: str, s3_store_factory) -> None:
    tag = uuid.uuid4().hex[:8]
    lake_name, real_name = f"raw-{tag}", f"acme-prod-raw-{tag}"
    store = s3_store_factory(bucket_map={lake_name: real_name})
    store.create_bucket(lake_name)
    store.put_object(lake_name, "json-data/x.json", b"{}")

    client = raw_client(moto_server)
    assert client.get_object(Bucket=real_name, Key="json-data/x.json")["Body"].read() == b"{}"
    names = [b.name for b in store.list_buckets()]
    assert lake_name in names and real_name not in names
    assert store.head_bucket(lake_name).name == lake_name
    assert [o.bucket for o in store.list_objects(lake_name).objects] == [lake_name]

    client.create_bucket(Bucket=lake_name)  # a real bucket with the lake name is shadowed
    assert [b.name for b in store.list_buckets()].count(lake_name) == 1


def test_errors_name_the_lake_bucket(s3_store_factory) -> None:
    tag = uuid.uuid4().hex[:8]
    store = s3_store_factory(bucket_map={f"raw-{tag}": f"missing-real-{tag}"})
    with pytest.raises(BucketNotFound) as caught:
        store.get_object(f"raw-{tag}", "k")
    assert caught.value.bucket == f"raw-{tag}"
    with pytest.raises(BucketNotFound):
        store.head_object(f"raw-{tag}", "k")  # a HEAD 404 is told apart from a missing key


def test_other_regions(moto_server: str) -> None:
    store = S3ObjectStore(moto_server, "testing", "testing", "eu-west-1")
    name = f"eu-{uuid.uuid4().hex[:8]}"
    store.create_bucket(name)
    assert raw_client(moto_server).get_bucket_location(Bucket=name)["LocationConstraint"] == \
        "eu-west-1"
    store.put_object(name, "k", b"x")
    assert store.get_object(name, "k")[1] == b"x"


def test_unreachable_endpoint_is_transient(closed_port: int) -> None:
    store = S3ObjectStore(f"http://127.0.0.1:{closed_port}", "testing", "testing",
                          max_attempts=1, connect_timeout=1)
    for call in (lambda: store.list_buckets(),
                 lambda: store.put_object("raw", "k", b"x"),
                 lambda: store.get_object("raw", "k")):
        with pytest.raises(ObjectStoreUnavailable) as caught:
            call()
        assert isinstance(caught.value, Transient)


class _ErrorServer(BaseHTTPRequestHandler):
    """Answers every request with the S3 error document in ``self.server.answer``."""

    def _reply(self) -> None:
        status, code = self.server.answer  # type: ignore[attr-defined]
        body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                f"<Message>scripted {code}</Message></Error>").encode()
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body) if self.command != "HEAD" else 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _reply

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def error_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ErrorServer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status, code, expected", [
    (503, "SlowDown", ObjectStoreUnavailable),
    (500, "InternalError", ObjectStoreUnavailable),
    (403, "AccessDenied", AccessDenied),
    (403, "SignatureDoesNotMatch", AccessDenied),
    (404, "NoSuchKey", ObjectNotFound),
    (400, "SomethingNew", ObjectStoreRequestFailed),
])
def test_service_errors_are_translated(error_server: ThreadingHTTPServer, status: int,
                                       code: str, expected: type) -> None:
    error_server.answer = (status, code)  # type: ignore[attr-defined]
    store = S3ObjectStore(f"http://127.0.0.1:{error_server.server_address[1]}", "testing",
                          "testing", max_attempts=1)
    with pytest.raises(expected) as caught:
        store.get_object("raw", "some/key")
    assert (caught.value.bucket, caught.value.key) == ("raw", "some/key")


def test_boto3_is_imported_only_when_used() -> None:
    code = ("import sys; from tidelake.lake.objects import S3ObjectStore, LocalObjectStore; "
            "S3ObjectStore('http://127.0.0.1:9'); "
            "assert 'boto3' not in sys.modules, 'boto3 imported eagerly'; "
            "assert 'tidelake.aws' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
