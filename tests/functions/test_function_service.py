"""FunctionService in-process: the registry, invocation results and errors, logs, Event invocations."""
from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Callable, Iterator

import orjson
import pytest

from support import zipped
from tidelake.clock import ManualClock
from tidelake.config import Settings
from tidelake.errors import InvalidArgument, NotFound
from tidelake.functions.errors import (FunctionAlreadyExists, FunctionNotFound, InvalidParameterValue,
                                       InvalidRequestContent, InvalidZipFile, RequestTooLarge, RevisionMismatch)
from tidelake.functions.service import FunctionService

ECHO = """
def lambda_handler(event, context):
    print("got", event)
    return {"event": event, "request_id": context.aws_request_id}
"""


@pytest.fixture
def service_factory(tmp_path: Path, clock: ManualClock) -> Iterator[Callable[..., FunctionService]]:
    opened: list[FunctionService] = []

    def make(**settings: object) -> FunctionService:
        service = FunctionService(Settings(data_dir=tmp_path / "data", **settings), clock)  # type: ignore[arg-type]
        opened.append(service)
        return service
    yield make
    for service in opened:
        service.close()


@pytest.fixture
def service(service_factory: Callable[..., FunctionService]) -> FunctionService:
    return service_factory()


def test_create_get_list_and_code_addressed_by_content(service: FunctionService, clock: ManualClock) -> None:
    archive = zipped({"handler.py": ECHO})
    config = service.create_function("echo", "handler.lambda_handler", zip_file=archive, role="arn:aws:iam::1:role/r",
                                     environment={"STAGE": "test"}, tags={"team": "data"})
    assert config.function_arn == "arn:aws:lambda:us-east-1:000000000000:function:echo"
    assert config.code_sha256 == base64.b64encode(hashlib.sha256(archive).digest()).decode()
    assert config.code_size == len(archive)
    assert (config.code_dir / "handler.py").is_file()
    assert (config.timeout, config.memory_size, config.last_modified) == (3, 128, clock.now())
    twin = service.create_function("twin", "handler.lambda_handler", zip_file=archive)
    assert twin.code_dir == config.code_dir  # one directory per content
    assert [c.function_name for c in service.list_functions()] == ["echo", "twin"]
    assert service.get_function(config.function_arn) == config
    assert service.get_function("000000000000:function:echo") == config
    assert service.get_function("echo:$LATEST") == config
    with pytest.raises(FunctionNotFound, match=r"Function not found: arn:aws:lambda:us-east-1:000000000000:function:echo:3"):
        service.get_function("echo:3")
    with pytest.raises(FunctionAlreadyExists, match="Function already exist: echo"):
        service.create_function("echo", "handler.lambda_handler", zip_file=archive)


def test_code_dir_is_snapshotted(service: FunctionService, tmp_path: Path) -> None:
    code = tmp_path / "src"
    (code / "pkg").mkdir(parents=True)
    (code / "pkg" / "__init__.py").write_text("")
    (code / "pkg" / "jobs.py").write_text("def run(event, context):\n    return 'v1'\n")
    config = service.create_function("job", "pkg.jobs.run", code_dir=code)
    assert service.invoke("job", b"{}").payload == b'"v1"'
    (code / "pkg" / "jobs.py").write_text("def run(event, context):\n    return 'v2'\n")
    assert service.invoke("job", b"{}").payload == b'"v1"'  # the registered copy runs
    updated = service.update_function_code("job", code_dir=code)
    assert updated.code_sha256 != config.code_sha256 and updated.revision_id != config.revision_id
    assert service.invoke("job", b"{}").payload == b'"v2"'  # the warm worker of the old code retired


@pytest.mark.parametrize("kwargs, message", [
    ({"runtime": "nodejs20.x"}, "runtime parameter of nodejs20.x"),
    ({"timeout": 0}, "'Timeout' value failed to satisfy constraint: Member must have value greater than or equal to 1"),
    ({"timeout": 901}, "Member must have value less than or equal to 900"),
    ({"memory_size": 127}, "'MemorySize' value failed"),
    ({"memory_size": 10241}, "less than or equal to 10240"),
    ({"environment": {"AWS_REGION": "eu-west-1"}}, "Reserved keys used in this request: AWS_REGION"),
    ({"environment": {"BIG": "x" * 5000}}, "exceeded the 4KB limit"),
])
def test_invalid_configuration(service: FunctionService, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=message.replace("(", r"\(").replace(")", r"\)")):
        service.create_function("bad", "handler.lambda_handler", zip_file=zipped({"handler.py": ECHO}), **kwargs)
    assert service.list_functions() == []


def test_invalid_archives(service: FunctionService) -> None:
    with pytest.raises(InvalidZipFile, match="Could not unzip uploaded file"):
        service.create_function("bad", "handler.lambda_handler", zip_file=b"not a zip")
    with pytest.raises(InvalidZipFile, match="unsafe path"):
        service.create_function("bad", "handler.lambda_handler", zip_file=zipped({"../escape.py": "x = 1"}))


def test_update_configuration_and_revision(service: FunctionService, clock: ManualClock) -> None:
    config = service.create_function("conf", "handler.lambda_handler", zip_file=zipped({"handler.py": """
        import os
        def lambda_handler(event, context):
            return [os.environ.get("MODE"), context.memory_limit_in_mb]
    """}), environment={"MODE": "a"})
    assert orjson.loads(service.invoke("conf", b"").payload) == ["a", "128"]
    clock.advance(5)
    updated = service.update_function_configuration("conf", environment={"MODE": "b"}, memory_size=256, timeout=30,
                                                    revision_id=config.revision_id)
    assert (updated.timeout, updated.memory_size, updated.last_modified) == (30, 256, config.last_modified + 5)
    assert orjson.loads(service.invoke("conf", b"").payload) == ["b", "256"]
    with pytest.raises(RevisionMismatch):
        service.update_function_configuration("conf", timeout=5, revision_id=config.revision_id)
    with pytest.raises(InvalidParameterValue):
        service.update_function_configuration("conf", runtime="java21")
    service.tag_function("conf", {"a": "1", "b": "2"})
    service.untag_function(config.function_arn, ["a"])
    assert service.get_function("conf").tags == {"b": "2"}


def test_delete(service: FunctionService) -> None:
    service.create_function("gone", "handler.lambda_handler", zip_file=zipped({"handler.py": ECHO}))
    service.invoke("gone", b"{}")
    assert service.workers("gone") == (0, 1)
    service.delete_function("gone")
    assert service.workers("gone") == (0, 0)
    with pytest.raises(NotFound):
        service.invoke("gone", b"{}")
    with pytest.raises(FunctionNotFound):
        service.delete_function("gone")


def test_registry_survives_a_restart(service_factory: Callable[..., FunctionService]) -> None:
    first = service_factory()
    config = first.create_function("kept", "handler.lambda_handler", zip_file=zipped({"handler.py": ECHO}))
    first.create_function("dropped", "other.h", zip_file=zipped({"other.py": "def h(e, c): return 1"}))
    dropped_dir = first.get_function("dropped").code_dir
    first.delete_function("dropped")
    first.close()
    second = service_factory()
    assert second.get_function("kept") == config
    assert not dropped_dir.exists()  # unused code is collected when no worker can hold it
    assert orjson.loads(second.invoke("kept", b'{"k": 1}').payload)["event"] == {"k": 1}


def test_results_and_function_errors(service: FunctionService) -> None:
    service.create_function("calc", "handler.lambda_handler", zip_file=zipped({"handler.py": """
        from decimal import Decimal
        def lambda_handler(event, context):
            if event.get("fail"):
                raise ValueError("bad input: " + event["fail"])
            if event.get("set"):
                return {1, 2}
            if event.get("none"):
                return None
            return {"total": Decimal("1.5"), 7: "int key"}
    """}))
    ok = service.invoke("calc", b"{}")
    assert (ok.status_code, ok.function_error, orjson.loads(ok.payload)) == (200, None, {"total": 1.5, "7": "int key"})
    assert service.invoke("calc", b'{"none": 1}').payload == b"null"
    failed = service.invoke("calc", b'{"fail": "x"}')
    document = orjson.loads(failed.payload)
    assert failed.function_error == "Unhandled"
    assert document["errorType"] == "ValueError" and document["errorMessage"] == "bad input: x"
    assert document["requestId"] == failed.request_id
    assert "handler.py" in document["stackTrace"][0] and 'raise ValueError' in document["stackTrace"][0]
    assert "worker.py" not in "".join(document["stackTrace"])
    marshal = orjson.loads(service.invoke("calc", b'{"set": 1}').payload)
    assert marshal["errorType"] == "Runtime.MarshalError"
    log = "\n".join(e.message for e in service.logs("calc"))
    assert "[ERROR] ValueError: bad input: x" in log and "Traceback (most recent call last):" in log
    with pytest.raises(InvalidRequestContent, match="Could not parse request body into json"):
        service.invoke("calc", b"{not json")
    with pytest.raises(RequestTooLarge, match="Request must be smaller than 6291456 bytes"):
        service.invoke("calc", b" " * (6 * 1024 * 1024 + 1))
    with pytest.raises(RequestTooLarge, match="1048576"):
        service.invoke("calc", b" " * (1024 * 1024 + 1), invocation_type="Event")
    assert service.invoke("calc", b"{}", invocation_type="DryRun").status_code == 204
    with pytest.raises(InvalidArgument):
        service.invoke("calc", b"{}", invocation_type="Later")


@pytest.mark.parametrize("files, handler, error_type, message", [
    ({"handler.py": ECHO}, "missing.lambda_handler", "Runtime.ImportModuleError",
     "Unable to import module 'missing': No module named 'missing'"),
    ({"handler.py": ECHO}, "handler.nope", "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'handler'"),
    ({"handler.py": ECHO}, "handler", "Runtime.MalformedHandlerName", "Bad handler 'handler'"),
    ({"handler.py": "def lambda_handler(e, c)\n"}, "handler.lambda_handler", "Runtime.UserCodeSyntaxError",
     "Syntax error in module 'handler'"),
    ({"handler.py": "raise RuntimeError('no config')\n"}, "handler.lambda_handler", "RuntimeError", "no config"),
])
def test_init_errors(service: FunctionService, files: dict, handler: str, error_type: str, message: str) -> None:
    service.create_function("broken", handler, zip_file=zipped(files))
    for _ in range(2):  # each attempt starts a fresh environment, as Lambda's do after an init error
        result = service.invoke("broken", b"{}")
        document = orjson.loads(result.payload)
        assert result.function_error == "Unhandled"
        assert document["errorType"] == error_type and message in document["errorMessage"]


def test_handler_on_the_servers_path(service: FunctionService, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "shared_jobs").mkdir(parents=True)
    (site / "shared_jobs" / "__init__.py").write_text("def merge(event, context):\n    return 'merged'\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    config = service.create_function("merge", "shared_jobs.merge")  # no code of its own
    assert config.code_size == 22
    assert service.invoke("merge", b"{}").payload == b'"merged"'


def test_logs_lines_since_and_limit(service: FunctionService, clock: ManualClock) -> None:
    service.create_function("talk", "handler.lambda_handler", zip_file=zipped({"handler.py": """
        import logging, os, sys
        print("at import")
        logger = logging.getLogger()
        logger.setLevel(logging.INFO)
        def lambda_handler(event, context):
            print("hello", event["n"])
            print("to stderr", file=sys.stderr)
            logger.info("info line")
            os.write(1, b"raw fd write\\n")
            return event["n"]
    """}))
    first = service.invoke("talk", b'{"n": 1}', log_tail=True)
    tail = base64.b64decode(first.log_result).decode()
    assert tail.startswith("INIT_START") and "at import\nSTART RequestId: " + first.request_id in tail
    assert "hello 1\nto stderr\n[INFO]\t" in tail and f"Z\t{first.request_id}\tinfo line\nraw fd write\n" in tail
    assert f"END RequestId: {first.request_id}\nREPORT RequestId: {first.request_id}\tDuration: " in tail
    assert "Init Duration" in tail
    clock.advance(10)
    second = service.invoke("talk", b'{"n": 2}')
    assert second.log_result == ""
    lines = [e.message for e in service.logs("talk", since=clock.now())]
    assert lines[0] == f"START RequestId: {second.request_id} Version: $LATEST" and "hello 2" in lines
    assert "Init Duration" not in lines[-1] and lines[-1].startswith(f"REPORT RequestId: {second.request_id}")
    assert [e.message for e in service.logs("talk", limit=2)] == lines[-2:]
    assert len(service.logs("talk")) == 16 and service.logs("nobody") == []


def test_logs_are_bounded(service_factory: Callable[..., FunctionService]) -> None:
    service = service_factory(function_log_max_bytes=20_000)
    service.create_function("noisy", "handler.h", zip_file=zipped({"handler.py": """
        def h(event, context):
            print("x" * 1000)
    """}))
    for _ in range(60):
        service.invoke("noisy", b"{}")
    kept = service.logs("noisy", limit=100_000)
    assert sum(len(e.message) for e in kept) <= 20_000
    assert 5 < len({e.request_id for e in kept}) < 60


def test_event_invocations_retry_twice(service: FunctionService, clock: ManualClock, tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"
    service.create_function("flaky", "handler.h", environment={"ATTEMPTS": str(attempts)}, zip_file=zipped({
        "handler.py": """
        import os
        def h(event, context):
            with open(os.environ["ATTEMPTS"], "a") as f:
                f.write(context.aws_request_id + "\\n")
            raise RuntimeError("always")
    """}))
    queued = service.invoke("flaky", b'{"n": 1}', invocation_type="Event")
    assert (queued.status_code, queued.payload, queued.executed_version) == (202, b"", None)

    def count() -> int:
        return len(attempts.read_text().split()) if attempts.exists() else 0

    _wait(lambda: count() == 1)
    clock.advance(59)
    time.sleep(0.2)
    assert count() == 1  # Lambda waits a minute before the first retry
    clock.advance(1)
    _wait(lambda: count() == 2)
    clock.advance(120)
    _wait(lambda: count() == 3)
    clock.advance(600)
    time.sleep(0.2)
    assert count() == 3  # two retries, no more
    assert set(attempts.read_text().split()) == {queued.request_id}  # a retry keeps the request id


def _wait(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)
