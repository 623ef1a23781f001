"""Fixtures for the lake: a moto S3 server in its own process, and object stores of both kinds."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tidelake.lake.local_store import LocalObjectStore
from tidelake.lake.objects import ObjectStore
from tidelake.lake.s3_store import S3ObjectStore


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url + "/", timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto server did not answer on {url} within {timeout}s")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m moto.server`` on a free port; yields its endpoint URL."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def make_s3_store(endpoint: str, **options) -> S3ObjectStore:
    return S3ObjectStore(endpoint, "testing", "testing", "us-east-1", **options)


@pytest.fixture
def s3_store_factory(moto_server: str) -> Callable[..., S3ObjectStore]:
    """Factory: an S3ObjectStore on the moto server, with extra options (``bucket_map``...)."""
    return lambda **options: make_s3_store(moto_server, **options)


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    return free_port()


@pytest.fixture(scope="session")
def shared_s3_store(moto_server: str) -> S3ObjectStore:
    """One client for the session: building a boto3 client costs ~0.1 s. Tests do not reset
    moto; they isolate themselves with unique bucket names (``unique_bucket``)."""
    return make_s3_store(moto_server)


def unique_bucket(stem: str = "lake-test") -> str:
    return f"{stem}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "lake", fsync=False)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """The same behavioural tests run against both implementations."""
    if request.param == "local":
        return LocalObjectStore(tmp_path / "lake", fsync=False)
    return request.getfixturevalue("shared_s3_store")


@pytest.fixture
def bucket(store: ObjectStore) -> str:
    name = unique_bucket()
    store.create_bucket(name)
    return name


@pytest.fixture
def put_keys(store: ObjectStore, bucket: str) -> Callable[[list[str]], None]:
    """Factory: store each key with its own name as the content."""
    def put(keys: list[str]) -> None:
        for key in keys:
            store.put_object(bucket, key, key.encode())
    return put
