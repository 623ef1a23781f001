"""A function's execution environment: ``python -m tidelake.functions.worker READ_FD WRITE_FD``.

It behaves like Lambda's Python runtime: the code directory (``LAMBDA_TASK_ROOT``) is the working
directory and first on ``sys.path``, the handler ``module.function`` (``_HANDLER``) is imported once,
then each request calls it with the decoded event and a context object, and answers its result as
JSON or an error document ``{errorMessage, errorType, requestId, stackTrace}``.

Requests and answers travel as length-prefixed frames over two pipes (not stdin/stdout): file
descriptors 1 and 2 point at a capture file, so ``print``, ``logging`` and output of C code or child
processes all become the invocation's log, in the order written.

A frame is ``<meta length><payload length><log length>`` (three little-endian uint32) followed by the
meta (a JSON object), the payload bytes and the log bytes. This module imports only the standard
library and orjson: the handler's process holds nothing else of tidelake's.
"""
from __future__ import annotations

import importlib
import io
import logging
import os
import resource
import struct
import sys
import tempfile
import threading
import time
import traceback
from decimal import Decimal
from typing import Any, BinaryIO, Callable

import orjson

HEADER = struct.Struct("<III")
MAX_LOG_BYTES = 256 * 1024  # one invocation's output kept in its log (CloudWatch's event limit)
Handler = Callable[[Any, Any], Any]


def write_frame(fd: int, meta: dict[str, Any], payload: bytes = b"", log: bytes = b"") -> None:
    head = orjson.dumps(meta)
    parts = [memoryview(HEADER.pack(len(head), len(payload), len(log)) + head)]
    parts += [memoryview(part) for part in (payload, log) if part]
    while parts:  # a pipe may take less than all of it at once
        written = os.writev(fd, parts)
        while parts and written >= len(parts[0]):
            written -= len(parts[0])
            parts.pop(0)
        if parts:
            parts[0] = parts[0][written:]


def read_exact(source: BinaryIO, size: int) -> bytearray:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        count = source.readinto(view[got:])  # type: ignore[attr-defined]
        if not count:
            raise EOFError
        got += count
    return buffer


class Capture:
    """Points fds 1 and 2 at an unlinked file; ``take()`` returns what was written since the last call."""

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="tidelake-function-", suffix=".log")
        os.close(fd)
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND)  # after a truncate, writes start again at 0
        os.unlink(path)
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)
        # Line-buffered text streams: a print reaches the file at once, in order with stderr's.
        sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)

    def take(self) -> bytes:
        sys.stdout.flush()
        sys.stderr.flush()
        size = os.fstat(self.fd).st_size
        if not size:
            return b""
        start = max(0, size - MAX_LOG_BYTES)
        data = os.pread(self.fd, size - start, start)
        os.ftruncate(self.fd, 0)
        if start:
            data = f"[tidelake: {start} bytes of output dropped; the last {MAX_LOG_BYTES} kept]\n".encode() + data
        return data


class LambdaContext:
    """The ``context`` argument, with the attributes and method of Lambda's Python runtime."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]  # a string, as Lambda's
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return (f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
                f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
                f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
                f"invoked_function_arn={self.invoked_function_arn}])")


class Fault(Exception):
    """A runtime error with Lambda's ``Runtime.*`` type."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_document(error_type: str, message: str, request_id: str, trace: list[str]) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def _user_trace(error: BaseException) -> list[str]:
    frames = traceback.extract_tb(error.__traceback__)
    here = __file__.removesuffix("c")
    return traceback.format_list([f for f in frames if f.filename != here])


def load_handler(spec: str) -> Handler:
    """Import ``module.function`` as Lambda's runtime does, with its error types and messages."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}") from None
    module_name = module_name.replace("/", ".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise Fault("Runtime.BuiltInModuleConflict", f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}") from None
    except SyntaxError as e:
        raise Fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}",
                    [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']) from None
    handler = getattr(module, function_name, None)
    if handler is None:
        raise Fault("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):  # as Lambda's runtime serializes them
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _RequestId(logging.Filter):
    current = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.current
        return True


def _configure_logging() -> _RequestId:
    """Lambda's root handler: ``[LEVEL]\\t<time>Z\\t<request id>\\t<message>``, level WARNING."""
    request_id = _RequestId()
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                                  "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(request_id)
    logging.getLogger().addHandler(handler)
    return request_id


def _max_memory_mb() -> int:
    """Peak resident memory of this process. ru_maxrss would include the server's: Linux keeps it across exec."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class Runtime:
    def __init__(self, handler: Handler, request_id: _RequestId) -> None:
        self.handler = handler
        self.request_id = request_id

    def invoke(self, meta: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        request_id = meta["request_id"]
        try:
            event = orjson.loads(payload) if payload.strip() else {}
        except orjson.JSONDecodeError as e:
            return {"status": "bad_payload", "message": str(e)}, b""
        context = LambdaContext(request_id, meta["deadline_ms"], meta["invoked_function_arn"])
        self.request_id.current = request_id
        started = time.perf_counter()
        try:
            result = self.handler(event, context)
            try:
                body = orjson.dumps(result, default=_json_default, option=orjson.OPT_NON_STR_KEYS)
                status = "ok"
            except TypeError as e:
                status, body = "error", orjson.dumps(error_document(
                    "Runtime.MarshalError", f"Unable to marshal response: {e}", request_id, []))
        except Exception as error:  # the handler's failure is the invocation's answer
            status = "error"
            document = error_document(type(error).__name__, str(error), request_id, _user_trace(error))
            body = orjson.dumps(document)
            print(f"[ERROR] {document['errorType']}: {document['errorMessage']}\nTraceback (most recent call last):\n"
                  + "".join(document["stackTrace"]), end="", file=sys.stdout)
        duration = (time.perf_counter() - started) * 1000
        return {"status": status, "duration_ms": duration, "max_memory_mb": _max_memory_mb()}, body


def _exit_with_parent() -> None:
    """A server killed with -9 closes the pipes, which ends an idle worker; this ends a busy one too."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, name="tidelake-parent-watch", daemon=True).start()


def main(argv: list[str]) -> None:
    _exit_with_parent()
    inbox = io.FileIO(int(argv[1]), "r")
    outbox = int(argv[2])
    capture = Capture()
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path[:] = [task_root] + [p for p in sys.path if p not in ("", os.getcwd(), task_root)]
    sys.argv = [argv[0]]
    request_id = _configure_logging()
    started = time.perf_counter()
    try:
        runtime = Runtime(load_handler(os.environ["_HANDLER"]), request_id)
    except Exception as error:  # an init failure answers the first request, then this environment ends
        fault = error if isinstance(error, Fault) else Fault(type(error).__name__, str(error), _user_trace(error))
        if not isinstance(error, Fault):
            traceback.print_exc()
        write_frame(outbox, {"ready": False, "error_type": fault.error_type, "message": fault.message,
                             "trace": fault.trace, "init_ms": (time.perf_counter() - started) * 1000},
                    log=capture.take())
        return
    write_frame(outbox, {"ready": True, "init_ms": (time.perf_counter() - started) * 1000}, log=capture.take())
    while True:
        try:
            head = read_exact(inbox, HEADER.size)
        except EOFError:
            return  # the server closed the pipe: this environment is done
        meta_size, payload_size, _ = HEADER.unpack(head)
        meta = orjson.loads(read_exact(inbox, meta_size))
        payload = bytes(read_exact(inbox, payload_size))
        answer, body = runtime.invoke(meta, payload)
        write_frame(outbox, answer, body, capture.take())


if __name__ == "__main__":
    main(sys.argv)
