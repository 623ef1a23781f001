"""What the event source mapping tests share: functions that record every event they receive."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import orjson

from tidelake.platform import Platform

ROLE = "arn:aws:iam::000000000000:role/esm-test"

# Each invocation appends one JSON line: the worker's pid and, per record, its shard, sequence number,
# partition key and data. One write() per line: lines of concurrent workers never interleave.
RECORDER = '''
import base64, json, os, time

def record(event, extra=None):
    line = {"pid": os.getpid(), "at": time.time(), "records": [
        [r["eventID"].split(":")[0], r["kinesis"]["sequenceNumber"], r["kinesis"]["partitionKey"],
         base64.b64decode(r["kinesis"]["data"]).decode()] for r in event["Records"]]}
    if extra:
        line.update(extra)
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(line) + "\\n")
'''


def make_function(platform: Platform, root: Path, name: str, body: str, timeout: int = 3,
                  **env: str) -> Path:
    """Register ``handler.lambda_handler`` (``body`` after the recorder); returns its output file."""
    code = root / name
    code.mkdir()
    (code / "handler.py").write_text(RECORDER + body)
    out = root / f"{name}.jsonl"
    platform.functions.create_function(name, "handler.lambda_handler", code_dir=code, timeout=timeout, role=ROLE,
                                       environment={"OUT": str(out), **env})
    return out


def calls(out: Path) -> list[dict[str, Any]]:
    """Every recorded invocation, in the order they finished."""
    if not out.exists():
        return []
    return [orjson.loads(line) for line in out.read_bytes().splitlines() if line]


def delivered(out: Path) -> list[str]:
    """The data of every record the function received, in order of delivery."""
    return [r[3] for call in calls(out) for r in call["records"]]


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
