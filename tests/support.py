"""Helpers the test modules share: servers in subprocesses, exact AWS error assertions, the AWS CLI.

Test modules import these from here, never from a conftest (pytest loads every conftest.py under the
one module name ``conftest``, so which one an import finds depends on the collection order)."""
from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


@contextmanager
def aws_error(code: str, *fragments: str) -> Iterator[pytest.ExceptionInfo[ClientError]]:
    """Expect a ClientError with this exact AWS code whose message holds every fragment."""
    with pytest.raises(ClientError) as info:
        yield info
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    for fragment in fragments:
        assert fragment in error["Message"], error


def aws(url: str, *args: str, key: str = "test", secret: str = "test", region: str = "us-east-1",
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the AWS CLI (v1, from PyPI) against ``url`` with no profile or config file of the machine's."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": region,
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1"}
    env.pop("AWS_PROFILE", None)
    return subprocess.run([sys.executable, "-m", "awscli", *args, "--endpoint-url", url],
                          env=env, capture_output=True, text=True, timeout=timeout)


def tidelake(server: Any, *args: str, input: str | bytes | None = None, check: bool = True, binary: bool = False,
             columns: int = 200) -> subprocess.CompletedProcess:
    """Run the tidelake CLI against a started server (through AWS_ENDPOINT_URL, as a user would),
    ``columns`` wide; with ``check``, assert it succeeded."""
    env = {**os.environ, "AWS_ENDPOINT_URL": server.url, "COLUMNS": str(columns)}
    result = subprocess.run([sys.executable, "-m", "tidelake", *args], env=env, input=input, capture_output=True,
                            text=not binary, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def error_code(result: subprocess.CompletedProcess[str]) -> str:
    """The code from "An error occurred (Code) when calling the X operation: ..."."""
    assert result.returncode != 0, result.stdout
    marker = "An error occurred ("
    assert marker in result.stderr, result.stderr
    return result.stderr.split(marker, 1)[1].split(")", 1)[0]


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


def wait_status(kinesis: Any, name: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] != status:
        assert time.monotonic() < deadline, f"stream {name} never became {status}"
        time.sleep(0.02)


def zipped(files: str | Mapping[str, str]) -> bytes:
    """A function's deployment package: the source of ``handler.py``, or file name -> source."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in ({"handler.py": files} if isinstance(files, str) else files).items():
            archive.writestr(name, textwrap.dedent(source))
    return buffer.getvalue()
