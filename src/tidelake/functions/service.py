"""FunctionService: register Python functions, invoke them in isolated workers, keep their logs.

    >>> functions = FunctionService(settings, clock)
    >>> functions.create_function("echo", "handler.lambda_handler", zip_file=archive)
    >>> functions.invoke("echo", b'{"x": 1}').payload

``invoke`` is synchronous and thread-safe: stream mappings, schedules and the Lambda API call it
from their own threads; invocations of one function run in parallel up to ``function_concurrency``.
"""
from __future__ import annotations

import base64
import dataclasses
import os
import re
import sys
import threading
import uuid
from pathlib import Path
from typing import Sequence

import orjson

from tidelake.clock import Clock
from tidelake.config import Settings
from tidelake.functions.async_invocations import AsyncInvocations, Event
from tidelake.functions.code import zip_directory
from tidelake.functions.errors import (FunctionAlreadyExists, FunctionNotFound, InvalidParameterValue,
                                       InvalidRequestContent, LogGroupNotFound, LogStreamNotFound, RequestTooLarge,
                                       RevisionMismatch)
from tidelake.functions.logs import (LogStore, end_line, log_path, millis, report_line, start_line,
                                     timestamp_prefix)
from tidelake.functions.models import (LOG_GROUP_PREFIX, FunctionConfig, Invocation, InvocationType, LogEvent,
                                       LogGroup, LogPage, LogStream)
from tidelake.functions.registry import FunctionRegistry
from tidelake.functions.runtime import Outcome, Runtime

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024  # Lambda: 6 MB request and response for RequestResponse
ASYNC_PAYLOAD_LIMIT = 1024 * 1024  # Lambda: 1 MB for Event
LOG_TAIL_BYTES = 4096
MAX_TIMEOUT_SECONDS = 900
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
MAX_ENVIRONMENT_BYTES = 4096
# docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
RESERVED_VARIABLES = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR"})
# What a worker keeps of the server's environment: enough to find Python and its packages.
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
                       "LD_LIBRARY_PATH")
EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18  # no files: the handler is imported from the server's Python path
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_RUNTIME = re.compile(r"python3\.\d+")


class FunctionService:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        root = settings.data_dir / "functions"
        self.registry = FunctionRegistry(root)
        self._logs = LogStore(log_path(settings.data_dir), settings.function_log_max_bytes)
        self.runtime = Runtime(settings.function_concurrency, settings.function_idle_seconds, self._environment)
        self._events = AsyncInvocations(self._run_event, clock, settings.function_concurrency)
        self._lock = threading.Lock()  # one change at a time: updates read, then replace

    # -- names ---------------------------------------------------------------------------------------

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.settings.region}:{self.settings.account_id}:function:{name}"

    def function_name(self, name_or_arn: str) -> str:
        """The name in ``my-function``, ``arn:aws:lambda:REGION:ACCOUNT:function:my-function[:QUALIFIER]``
        or the partial ``ACCOUNT:function:my-function``."""
        return _split(name_or_arn)[0]

    # -- registry ------------------------------------------------------------------------------------

    def create_function(self, name: str, handler: str, *, zip_file: bytes | None = None, code_dir: Path | None = None,
                        runtime: str = "python3.12", role: str = "", description: str = "", timeout: int = 3,
                        memory_size: int = 128, environment: dict[str, str] | None = None,
                        tags: dict[str, str] | None = None) -> FunctionConfig:
        """Register a function. Its code is ``zip_file`` or the contents of ``code_dir`` (snapshotted);
        with neither, ``handler`` must be importable from the server's Python path."""
        name, qualifier = _split(name)
        if qualifier is not None or not _NAME.fullmatch(name):
            raise InvalidParameterValue(f"Invalid function name {name!r}: 1 to 64 letters, digits, - and _.")
        _check_runtime(runtime)
        _check_handler(handler)
        _check_limits(timeout, memory_size)
        _check_environment(environment or {})
        if self.registry.get(name) is not None:  # before storing the code: the registry checks again
            raise FunctionAlreadyExists(name)
        code = self.registry.code.put(_archive(zip_file, code_dir))
        now = self.clock.now()
        config = FunctionConfig(
            function_name=name, function_arn=self.function_arn(name), runtime=runtime, role=role, handler=handler,
            code_sha256=code.sha256, code_size=code.size, code_dir=code.directory, description=description,
            timeout=timeout, memory_size=memory_size, environment=dict(environment or {}), tags=dict(tags or {}),
            created_at=now, last_modified=now, revision_id=str(uuid.uuid4()))
        self.registry.add(config)
        return config

    def get_function(self, name_or_arn: str) -> FunctionConfig:
        name, qualifier = _split(name_or_arn)
        config = self.registry.get(name)
        if config is None or qualifier not in (None, "$LATEST"):
            raise FunctionNotFound(self.function_arn(name) + (f":{qualifier}" if qualifier else ""))
        return config

    def list_functions(self) -> list[FunctionConfig]:
        return self.registry.all()

    def update_function_code(self, name_or_arn: str, *, zip_file: bytes | None = None, code_dir: Path | None = None,
                             revision_id: str | None = None) -> FunctionConfig:
        archive = _archive(zip_file, code_dir)
        with self._lock:
            config = self._for_update(name_or_arn, revision_id)
            code = self.registry.code.put(archive)
            return self._replace(config, code_sha256=code.sha256, code_size=code.size, code_dir=code.directory)

    def update_function_configuration(self, name_or_arn: str, *, handler: str | None = None,
                                      runtime: str | None = None, role: str | None = None,
                                      description: str | None = None, timeout: int | None = None,
                                      memory_size: int | None = None, environment: dict[str, str] | None = None,
                                      revision_id: str | None = None) -> FunctionConfig:
        """Change the given settings; None leaves one as it is (``environment={}`` clears the variables)."""
        with self._lock:
            config = self._for_update(name_or_arn, revision_id)
            changes = {k: v for k, v in dict(handler=handler, runtime=runtime, role=role, description=description,
                                             timeout=timeout, memory_size=memory_size).items() if v is not None}
            if environment is not None:
                changes["environment"] = dict(environment)
            updated = dataclasses.replace(config, **changes)
            _check_runtime(updated.runtime)
            _check_handler(updated.handler)
            _check_limits(updated.timeout, updated.memory_size)
            _check_environment(updated.environment)
            return self._replace(config, **changes)

    def tag_function(self, name_or_arn: str, tags: dict[str, str]) -> None:
        with self._lock:
            config = self.get_function(name_or_arn)
            self.registry.replace(dataclasses.replace(config, tags={**config.tags, **tags}))

    def untag_function(self, name_or_arn: str, keys: list[str]) -> None:
        with self._lock:
            config = self.get_function(name_or_arn)
            self.registry.replace(dataclasses.replace(
                config, tags={k: v for k, v in config.tags.items() if k not in keys}))

    def delete_function(self, name_or_arn: str) -> None:
        """Remove the function; invocations running now finish, no new one starts."""
        with self._lock:
            config = self.get_function(name_or_arn)
            self.registry.remove(config.function_name)
        self.runtime.retire(config.function_name)

    def code_archive(self, config: FunctionConfig) -> Path:
        """The zip file the function's code came from."""
        return self.registry.code.archive_path(config.code_sha256)

    def usage(self) -> tuple[int, int]:
        """(functions, bytes of zipped code) in the account."""
        configs = self.registry.all()
        return len(configs), sum(c.code_size for c in configs)

    def _for_update(self, name_or_arn: str, revision_id: str | None) -> FunctionConfig:
        config = self.get_function(name_or_arn)
        if revision_id is not None and revision_id != config.revision_id:
            raise RevisionMismatch(revision_id, config.revision_id)
        return config

    def _replace(self, config: FunctionConfig, **changes: object) -> FunctionConfig:
        updated = dataclasses.replace(config, **changes, last_modified=self.clock.now(), revision_id=str(uuid.uuid4()))
        self.registry.replace(updated)
        self.runtime.retire(config.function_name)  # warm workers hold the old code or configuration
        return updated

    # -- invocations ---------------------------------------------------------------------------------

    def invoke(self, name_or_arn: str, payload: bytes, *, invocation_type: str = "RequestResponse",
               log_tail: bool = False, request_id: str | None = None) -> Invocation:
        """Run the function with ``payload`` (JSON) as its event. RequestResponse blocks until it
        answers; Event queues it and answers 202 at once; DryRun only checks the request (204)."""
        config = self.get_function(name_or_arn)
        try:
            kind = InvocationType(invocation_type)
        except ValueError:
            raise InvalidParameterValue(f"Unknown invocation type {invocation_type!r}.") from None
        limit = ASYNC_PAYLOAD_LIMIT if kind is InvocationType.EVENT else SYNC_PAYLOAD_LIMIT
        if len(payload) > limit:
            raise RequestTooLarge(len(payload), limit)
        request_id = request_id or str(uuid.uuid4())
        if kind is InvocationType.DRY_RUN:
            return Invocation(request_id, 204, b"", executed_version=None)
        if kind is InvocationType.EVENT:
            if payload.strip():
                try:
                    orjson.loads(payload)
                except orjson.JSONDecodeError as e:
                    raise InvalidRequestContent(str(e)) from None
            self._events.submit(Event(config.function_name, payload, request_id))
            return Invocation(request_id, 202, b"", executed_version=None)
        return self._run(config, payload, request_id, log_tail)

    def _run_event(self, event: Event) -> bool:
        config = self.get_function(event.function_name)
        return self._run(config, event.payload, event.request_id, False).function_error is None

    def _run(self, config: FunctionConfig, payload: bytes, request_id: str, log_tail: bool) -> Invocation:
        started = self.clock.now()
        outcome = self.runtime.run(config, request_id, payload)
        if outcome.status == "bad_payload":
            raise InvalidRequestContent(outcome.message)
        status, body = outcome.status, outcome.payload
        if status == "ok" and len(body) > SYNC_PAYLOAD_LIMIT:
            status, body = "error", orjson.dumps({
                "errorMessage": f"Response payload size exceeded maximum allowed payload size ({SYNC_PAYLOAD_LIMIT} bytes).",
                "errorType": "Function.ResponseSizeTooLarge"})
        ended = self.clock.now()
        text = self._log_text(config, request_id, outcome, status, ended)
        self._logs.append(config.function_name, outcome.log_stream, request_id, started, ended, text)
        tail = base64.b64encode(text.encode()[-LOG_TAIL_BYTES:]).decode() if log_tail else ""
        return Invocation(request_id, 200, body, None if status == "ok" else "Unhandled", tail, config.version,
                          outcome.duration_ms)

    def _log_text(self, config: FunctionConfig, request_id: str, outcome: Outcome, status: str, ended: float) -> str:
        parts = []
        if outcome.init_ms is not None:
            parts.append(f"INIT_START Runtime Version: python:{sys.version_info.major}.{sys.version_info.minor}\n")
            parts.append(outcome.init_log)
        parts.append(start_line(request_id, config.version))
        parts.append(outcome.log)
        report_status = ""
        if status == "timeout":
            seconds = outcome.duration_ms / 1000
            parts.append(f"{timestamp_prefix(ended)} {request_id} Task timed out after {seconds:.2f} seconds\n")
            report_status = "timeout"
        elif status == "crashed":
            parts.append(f"{outcome.message}\nRuntime.ExitError\n")
            report_status = "error\tError Type: Runtime.ExitError"
        elif status == "init_error":
            report_status = f"error\tError Type: {orjson.loads(outcome.payload)['errorType']}"
        parts.append(end_line(request_id))
        parts.append(report_line(request_id, outcome.duration_ms, config.memory_size, outcome.max_memory_mb,
                                 outcome.init_ms, report_status))
        return "".join(parts)

    # -- logs ------------------------------------------------------------------------------------------

    def logs(self, name: str, *, since: float | None = None, limit: int = 1000) -> list[LogEvent]:
        """Lines of a function's log (START/END/REPORT and its output), oldest first: the last ``limit``
        ones, or the first ``limit`` from ``since`` (epoch seconds of the service's clock) on."""
        function, backward = self.function_name(name), since is None
        events: list[LogEvent] = []
        cursor = None
        while len(events) < limit:
            page = self._logs.read(function, cursor=cursor, backward=backward, limit=limit - len(events),
                                   start_ms=None if since is None else millis(since))
            events += page.events
            if not page.more:
                break
            cursor = page.next
        return events[::-1] if backward else events

    def log_groups(self) -> list[LogGroup]:
        """The functions that have logged (deleted ones too, until their logs are trimmed), by name."""
        return self._logs.groups()

    def log_group(self, function_name: str) -> LogGroup:
        group = self._logs.group(function_name)
        if group is None:
            raise LogGroupNotFound(LOG_GROUP_PREFIX + function_name)
        return group

    def log_streams(self, function_name: str) -> list[LogStream]:
        """The function's log streams (one per worker process) that still hold lines, by name."""
        self.log_group(function_name)
        return self._logs.streams(function_name)

    def read_logs(self, function_name: str, *, log_stream: str | None = None, cursor: int | None = None,
                  backward: bool = False, streams: Sequence[str] | None = None, stream_prefix: str | None = None,
                  start_ms: int | None = None, end_ms: int | None = None, terms: Sequence[str] = (),
                  limit: int = 10_000, max_bytes: int | None = None) -> LogPage:
        """A page of a function's log lines: of ``log_stream`` (which must exist) or of the whole group,
        selected and paged as ``LogStore.read`` describes."""
        self.log_group(function_name)
        if log_stream is not None:
            if not self._logs.has_stream(function_name, log_stream):
                raise LogStreamNotFound(function_name, log_stream)
            streams = [log_stream]
        return self._logs.read(function_name, cursor=cursor, backward=backward, streams=streams,
                               stream_prefix=stream_prefix, start_ms=start_ms, end_ms=end_ms, terms=terms,
                               limit=limit, max_bytes=max_bytes)

    def workers(self, name_or_arn: str) -> tuple[int, int]:
        """(busy, idle) worker processes of a function."""
        return self.runtime.workers(self.function_name(name_or_arn))

    def _environment(self, config: FunctionConfig, log_stream: str) -> dict[str, str]:
        """A worker's environment: Lambda's runtime variables, the function's, and AWS_ENDPOINT_URL,
        so that boto3 inside a handler reaches this server unchanged."""
        env = {k: os.environ[k] for k in INHERITED_VARIABLES if k in os.environ}
        key, secret = self.settings.credentials[0] if self.settings.credentials else ("test", "test")
        env.update({"AWS_ENDPOINT_URL": self.settings.endpoint_url, "TZ": ":UTC"})
        env.update(config.environment)
        env.update({
            "AWS_REGION": self.settings.region, "AWS_DEFAULT_REGION": self.settings.region,
            "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_LAMBDA_FUNCTION_NAME": config.function_name, "AWS_LAMBDA_FUNCTION_VERSION": config.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group_name, "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "_HANDLER": config.handler, "LAMBDA_TASK_ROOT": str(config.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
        })
        return env

    def close(self) -> None:
        """Stop taking asynchronous events, stop every worker (running invocations end), close storage."""
        self._events.close()
        self.runtime.close()
        self._events.join()
        self._logs.close()
        self.registry.close()


def _split(name_or_arn: str) -> tuple[str, str | None]:
    parts = name_or_arn.split(":")
    if parts[0] == "arn" and len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return parts[6], (parts[7] if len(parts) > 7 else None)
    if len(parts) >= 3 and parts[1] == "function":  # ACCOUNT:function:NAME[:QUALIFIER]
        return parts[2], (parts[3] if len(parts) > 3 else None)
    if len(parts) == 2:
        return parts[0], parts[1]
    return name_or_arn, None


def _archive(zip_file: bytes | None, code_dir: Path | None) -> bytes:
    if zip_file is not None and code_dir is not None:
        raise InvalidParameterValue("Give the code as a zip file or as a directory, not both.")
    if code_dir is not None:
        return zip_directory(Path(code_dir))
    if zip_file is not None:
        return zip_file
    return EMPTY_ZIP


def _check_runtime(runtime: str) -> None:
    if not _RUNTIME.fullmatch(runtime):
        raise InvalidParameterValue(f"The runtime parameter of {runtime} is not supported by tidelake, which runs "
                                    "Python functions only (python3.x).")


def _check_handler(handler: str) -> None:
    if not handler or any(c.isspace() for c in handler):
        raise InvalidParameterValue("The Handler parameter is required for functions of package type Zip: "
                                    "module.function, e.g. handler.lambda_handler.")


def _check_limits(timeout: int, memory_size: int) -> None:
    if not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
        bound = ("greater than or equal to 1" if timeout < 1 else f"less than or equal to {MAX_TIMEOUT_SECONDS}")
        raise InvalidParameterValue(f"'Timeout' value failed to satisfy constraint: Member must have value {bound}")
    if not MIN_MEMORY_MB <= memory_size <= MAX_MEMORY_MB:
        bound = (f"greater than or equal to {MIN_MEMORY_MB}" if memory_size < MIN_MEMORY_MB
                 else f"less than or equal to {MAX_MEMORY_MB}")
        raise InvalidParameterValue(f"'MemorySize' value failed to satisfy constraint: Member must have value {bound}")


def _check_environment(environment: dict[str, str]) -> None:
    reserved = sorted(RESERVED_VARIABLES.intersection(environment))
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            "provided contains reserved keys that are currently not supported for modification. Reserved keys used "
            f"in this request: {', '.join(reserved)}")
    if len(orjson.dumps(environment)) > MAX_ENVIRONMENT_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            f"provided exceeded the {MAX_ENVIRONMENT_BYTES // 1024}KB limit.")
