"""Worker processes: isolation (crash, segfault, hang), warm reuse, parallelism, the Lambda environment."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import orjson
import pytest

from support import zipped
from tidelake.clock import ManualClock
from tidelake.config import Settings
from tidelake.functions.service import FunctionService

PROBE = """
import os, sys, time
STARTED = time.time()
def lambda_handler(event, context):
    if event.get("exit"):
        os._exit(event["exit"])
    if event.get("segfault"):
        import ctypes
        ctypes.string_at(0)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"pid": os.getpid(), "started": STARTED, "cwd": os.getcwd(), "path0": sys.path[0],
            "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "LAMBDA_", "_HANDLER", "TZ", "MY_"))},
            "context": {k: getattr(context, k) for k in ("function_name", "function_version", "invoked_function_arn",
                        "memory_limit_in_mb", "aws_request_id", "log_group_name", "log_stream_name")},
            "remaining": context.get_remaining_time_in_millis()}
"""


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[Callable[..., FunctionService]]:
    opened: list[FunctionService] = []

    def make(**settings: object) -> FunctionService:
        service = FunctionService(Settings(data_dir=tmp_path / "data", port=4599, **settings),  # type: ignore[arg-type]
                                  ManualClock())
        opened.append(service)
        return service
    yield make
    for service in opened:
        service.close()


@pytest.fixture
def probe(service_factory: Callable[..., FunctionService]) -> FunctionService:
    service = service_factory()
    service.create_function("probe", "handler.lambda_handler", zip_file=zipped(PROBE), timeout=1, memory_size=256,
                            environment={"MY_SETTING": "on", "AWS_ENDPOINT_URL": "http://elsewhere:1"})
    return service


def call(service: FunctionService, event: dict) -> tuple[dict, str | None]:
    result = service.invoke("probe", orjson.dumps(event))
    return orjson.loads(result.payload), result.function_error


def test_environment_and_context(probe: FunctionService) -> None:
    answer, error = call(probe, {})
    config = probe.get_function("probe")
    assert error is None
    assert answer["cwd"] == answer["path0"] == str(config.code_dir)
    env = answer["env"]
    assert env["MY_SETTING"] == "on"
    assert env["AWS_ENDPOINT_URL"] == "http://elsewhere:1"  # the function's own value wins over the server's
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("test", "test")
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe" and env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and env["_HANDLER"] == "handler.lambda_handler"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/probe" and env["LAMBDA_TASK_ROOT"] == answer["cwd"]
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12" and env["TZ"] == ":UTC"
    context = answer["context"]
    assert context["function_name"] == "probe" and context["invoked_function_arn"] == config.function_arn
    assert context["memory_limit_in_mb"] == "256" and context["log_group_name"] == "/aws/lambda/probe"
    assert context["log_stream_name"] == env["AWS_LAMBDA_LOG_STREAM_NAME"] and "[$LATEST]" in context["log_stream_name"]
    assert 0 < answer["remaining"] <= 1000


def test_credentials_and_endpoint_come_from_settings(service_factory: Callable[..., FunctionService]) -> None:
    service = service_factory(credentials=(("AKIDREAL", "s3cret"),), region="eu-west-1")
    service.create_function("probe", "handler.lambda_handler", zip_file=zipped(PROBE))
    env = orjson.loads(service.invoke("probe", b"{}").payload)["env"]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"]) == ("AKIDREAL", "s3cret",
                                                                                         "eu-west-1")
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"


def test_warm_worker_is_reused(probe: FunctionService) -> None:
    first, _ = call(probe, {})
    second, _ = call(probe, {})
    assert (first["pid"], first["started"]) == (second["pid"], second["started"])  # imported once


def test_crash_answers_like_lambda_and_the_next_call_gets_a_fresh_worker(probe: FunctionService) -> None:
    before, _ = call(probe, {})
    answer, error = call(probe, {"exit": 3})
    assert error == "Unhandled" and answer["errorType"] == "Runtime.ExitError"
    assert answer["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    after, error = call(probe, {})
    assert error is None and after["pid"] != before["pid"]
    log = "\n".join(e.message for e in probe.logs("probe"))
    assert "Runtime exited with error: exit status 3\nRuntime.ExitError" in log


def test_segfault_is_contained(probe: FunctionService) -> None:
    answer, error = call(probe, {"segfault": True})
    assert error == "Unhandled" and "signal: segmentation fault" in answer["errorMessage"]
    assert call(probe, {})[1] is None


def test_timeout_kills_the_worker(probe: FunctionService) -> None:
    before, _ = call(probe, {})
    started = time.monotonic()
    answer, error = call(probe, {"sleep": 30})
    assert time.monotonic() - started < 5
    assert error == "Unhandled" and answer["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.0" in answer["errorMessage"]
    after, error = call(probe, {})
    assert error is None and after["pid"] != before["pid"]
    lines = [e.message for e in probe.logs("probe")]
    assert any(line.endswith("Task timed out after " + answer["errorMessage"][-12:]) for line in lines)
    assert any("Status: timeout" in line for line in lines)


def test_concurrent_invocations_run_in_parallel(probe: FunctionService) -> None:
    call(probe, {})  # one warm worker; the second call starts another
    results: list[dict] = []

    def slow() -> None:
        results.append(call(probe, {"sleep": 0.6})[0])
    threads = [threading.Thread(target=slow) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 1.1  # together, not one after the other
    assert len({r["pid"] for r in results}) == 2
    assert probe.workers("probe") == (0, 2)


def test_concurrency_is_bounded(service_factory: Callable[..., FunctionService]) -> None:
    service = service_factory(function_concurrency=1)
    service.create_function("probe", "handler.lambda_handler", zip_file=zipped(PROBE))
    call(service, {})
    threads = [threading.Thread(target=call, args=(service, {"sleep": 0.3})) for _ in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 0.9  # one worker: they waited their turn
    assert service.workers("probe") == (0, 1)


def test_idle_workers_stop(service_factory: Callable[..., FunctionService]) -> None:
    service = service_factory(function_idle_seconds=0.3)
    service.create_function("probe", "handler.lambda_handler", zip_file=zipped(PROBE))
    pid = orjson.loads(service.invoke("probe", b"{}").payload)["pid"]
    deadline = time.monotonic() + 5
    while service.workers("probe") != (0, 0) or _alive(pid):  # the reaper kills what it took from the pool
        assert time.monotonic() < deadline, "the idle worker still runs"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_close_ends_a_running_invocation(probe: FunctionService) -> None:
    probe.update_function_configuration("probe", timeout=60)
    results: list[tuple[dict, str | None]] = []
    thread = threading.Thread(target=lambda: results.append(call(probe, {"sleep": 60})))
    thread.start()
    deadline = time.monotonic() + 5
    while probe.workers("probe")[0] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.2)  # the handler is sleeping now
    started = time.monotonic()
    probe.close()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 3
    assert results[0][1] == "Unhandled"


def test_worker_runs_the_servers_interpreter(probe: FunctionService) -> None:
    answer, _ = call(probe, {})
    assert Path(f"/proc/{answer['pid']}/exe").resolve() == Path(sys.executable).resolve()


def test_worker_holds_nothing_of_the_server(service_factory: Callable[..., FunctionService]) -> None:
    service = service_factory()
    service.create_function("modules", "handler.h", zip_file=zipped("""
        import sys
        def h(event, context):
            return sorted(m for m in sys.modules if m.split(".")[0] in ("tidelake", "boto3", "botocore", "sqlite3"))
    """))
    loaded = orjson.loads(service.invoke("modules", b"{}").payload)
    assert set(loaded) <= {"tidelake", "tidelake.config", "tidelake.errors", "tidelake.functions",
                           "tidelake.functions.worker"}, loaded
