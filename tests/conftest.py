"""Shared fixtures: real servers in subprocesses (so `kill -9` is real), boto3 clients, factories."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from support import ServerProcess, wait_status
from tidelake.clock import ManualClock
from tidelake.config import Settings


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


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return Settings(**{"data_dir": tmp_path / "data", "transition_seconds": 0.0, **overrides})
    return make
