"""Helpers the test modules share: exact AWS error assertions and the real AWS CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

import pytest
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


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def error_code(result: subprocess.CompletedProcess[str]) -> str:
    """The code from "An error occurred (Code) when calling the X operation: ..."."""
    assert result.returncode != 0, result.stdout
    marker = "An error occurred ("
    assert marker in result.stderr, result.stderr
    return result.stderr.split(marker, 1)[1].split(")", 1)[0]
