"""Shared fixtures: real servers in subprocesses (so `kill -9` is real), boto3 clients, factories."""
from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from tidelake.clock import ManualClock
from tidelake.config import Settings

TEST_SETTINGS = {"TIDELAKE_TRANSITION_SECONDS": "0", "TIDELAKE_LOG_LEVEL": "warning"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """`tidelake up` in a subprocess on a free port, with its own data dir."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "ServerProcess":
        env = {**os.environ, **TEST_SETTINGS, **self.env}
        log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tidelake", "up", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/_tidelake/health", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not become healthy within {timeout} s")

    def kill(self) -> None:
        """`kill -9`: no flush, no clean shutdown."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def client(self, service: str, **config: Any) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test",
                            config=Config(retries={"total_max_attempts": 1}, **config))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the API tests of a session; tests use unique resource names."""
    root = tmp_path_factory.mktemp("server")
    proc = ServerProcess(root / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Servers with their own settings (env overrides as keyword arguments); stopped after the test."""
    started: list[ServerProcess] = []
    counter = itertools.count()

    def make(data_dir: Path | None = None, **env: str) -> ServerProcess:
        proc = ServerProcess(data_dir or tmp_path / f"data{next(counter)}",
                             {f"TIDELAKE_{k.upper()}": str(v) for k, v in env.items()})
        started.append(proc.start())
        return proc
    yield make
    for proc in started:
        if proc.process is not None and proc.process.poll() is None:
            proc.stop()


@pytest.fixture
def kinesis(server: ServerProcess) -> Any:
    return server.client("kinesis")


_names = itertools.count()


@pytest.fixture
def stream_factory(kinesis: Any, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Create an ACTIVE stream with a unique name: ``stream_factory(shards=2)``."""

    def make(shards: int = 1, **kwargs: Any) -> str:
        name = f"{request.node.name[:60].replace('[', '-').replace(']', '')}-{next(_names)}"
        name = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name)
        if kwargs.get("StreamModeDetails"):
            kinesis.create_stream(StreamName=name, **kwargs)
        else:
            kinesis.create_stream(StreamName=name, ShardCount=shards, **kwargs)
        wait_status(kinesis, name, "ACTIVE")
        return name
    return make


def wait_status(kinesis: Any, name: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] != status:
        assert time.monotonic() < deadline, f"stream {name} never became {status}"
        time.sleep(0.02)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return Settings(**{"data_dir": tmp_path / "data", "transition_seconds": 0.0, **overrides})
    return make
