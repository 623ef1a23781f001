"""`tidelake functions` against a running server: create from a directory, invoke, update, logs, delete."""
from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from support import ServerProcess, tidelake as run_tidelake


def tidelake(server: ServerProcess, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_tidelake(server, "functions", *args, check=check)


@pytest.mark.slow  # a dozen CLI processes
def test_functions_cli(server: ServerProcess, tmp_path: Path) -> None:
    code = tmp_path / "jobs"
    (code / "merge").mkdir(parents=True)
    (code / "merge" / "__init__.py").write_text("")
    (code / "merge" / "hourly.py").write_text(
        "import os\n"
        "def run(event, context):\n"
        "    print('merging', event.get('hour'))\n"
        "    if event.get('fail'):\n"
        "        raise RuntimeError('merge failed')\n"
        "    return {'merged': event.get('hour'), 'target': os.environ['TARGET']}\n")
    created = tidelake(server, "create", "cli-merge", "--handler", "merge.hourly.run", "--code", str(code),
                       "--timeout", "60", "--env", "TARGET=lake")
    assert "arn:aws:lambda:us-east-1:000000000000:function:cli-merge" in created.stdout

    answer = tidelake(server, "invoke", "cli-merge", "--payload", '{"hour": 5}', "--log")
    assert answer.stdout.strip() == '{"merged":5,"target":"lake"}'
    assert "merging 5" in answer.stderr and "REPORT RequestId:" in answer.stderr
    failed = tidelake(server, "invoke", "cli-merge", "--payload", '{"fail": true}', check=False)
    assert failed.returncode == 1 and '"errorMessage":"merge failed"' in failed.stdout

    assert "cli-merge  python3.12  merge.hourly.run  60 s" in tidelake(server, "list").stdout
    tidelake(server, "update", "cli-merge", "--timeout", "5", "--env", "TARGET=archive")
    assert '"target":"archive"' in tidelake(server, "invoke", "cli-merge").stdout

    logs = tidelake(server, "logs", "cli-merge").stdout
    assert "merging 5" in logs and "[ERROR] RuntimeError: merge failed" in logs and logs.count("START RequestId") == 3
    last = tidelake(server, "logs", "cli-merge", "--limit", "2").stdout.splitlines()
    assert last[0].startswith("END RequestId") and last[1].startswith("REPORT RequestId") and len(last) == 2
    assert tidelake(server, "logs", "cli-merge", "--since", "3600").stdout == logs
    never = tidelake(server, "logs", "cli-never-ran", check=False)
    assert never.returncode == 1 and "log group /aws/lambda/cli-never-ran does not exist" in never.stderr

    follower = subprocess.Popen([sys.executable, "-m", "tidelake", "functions", "logs", "cli-merge", "--follow",
                                 "--limit", "0", "--endpoint-url", server.url], stdout=subprocess.PIPE)
    try:
        time.sleep(1.5)  # the follower has marked what is there
        tidelake(server, "invoke", "cli-merge", "--payload", '{"hour": 23}')
        printed = _read_until(follower, "merging 23")
        assert printed.startswith("START RequestId") and "merging 23" in printed  # only the new invocation
        tidelake(server, "invoke", "cli-merge", "--payload", '{"hour": 24}')
        printed = _read_until(follower, "merging 24")
        assert "merging 24" in printed and "merging 23" not in printed and printed.count("START RequestId") == 1
    finally:
        follower.terminate()
        follower.wait()

    assert "deleted cli-merge" in tidelake(server, "delete", "cli-merge").stdout
    missing = tidelake(server, "invoke", "cli-merge", check=False)
    assert missing.returncode == 1 and "ResourceNotFoundException: Function not found" in missing.stderr


def _read_until(process: subprocess.Popen[Any], text: str, timeout: float = 10) -> str:
    """What the process printed until ``text`` showed up (or the timeout)."""
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    fd = process.stdout.fileno()
    seen = b""
    while text.encode() not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        seen += chunk
    return seen.decode()
