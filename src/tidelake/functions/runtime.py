"""Worker processes that run functions, and the warm pool of each function.

Each function runs in ``python -m tidelake.functions.worker`` subprocesses, never in the server: a
handler that calls ``os._exit``, segfaults or hangs costs its worker only. A worker serves one
invocation at a time and stays warm for the next; a function has up to ``function_concurrency``
of them, so that many invocations run in parallel and more wait their turn. The timeout is enforced
here, by killing the worker; the next invocation starts a fresh one. Workers of an older revision
(updated code or configuration) are not reused, and idle ones stop after ``function_idle_seconds``.
"""
from __future__ import annotations

import dataclasses
import fcntl
import io
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from tidelake.errors import TidelakeError
from tidelake.functions.models import FunctionConfig
from tidelake.functions.worker import HEADER, error_document, write_frame

log = logging.getLogger("tidelake.functions")

INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for the init phase (imports, module-level code)
_PIPE_SIZE = 1024 * 1024  # a 150 KB event in one write instead of three
_F_SETPIPE_SZ = 1031


class RuntimeClosed(TidelakeError):
    """The service is shutting down: no new invocation starts."""


class WorkerGone(Exception):
    """The worker process ended (crash, os._exit, signal) or its pipe broke."""


class WorkerTimedOut(Exception):
    pass


@dataclass(frozen=True)
class Outcome:
    """What one invocation produced inside its worker."""

    status: str  # "ok", "error" (handler raised), "timeout", "crashed", "init_error", "bad_payload"
    payload: bytes  # the result as JSON, or the error document
    log: str  # output written during the invocation
    duration_ms: float
    init_ms: float | None = None  # set on a cold start
    init_log: str = ""  # output of the init phase (the handler module's import) on a cold start
    max_memory_mb: int = 0
    message: str = ""  # for "bad_payload": why the event is not JSON
    log_stream: str = ""  # the worker's log stream


class Worker:
    def __init__(self, config: FunctionConfig, log_stream: str, env: dict[str, str]) -> None:
        self.revision = config.revision_id
        self.log_stream = log_stream  # one per worker, as one per Lambda execution environment
        self.spawned = self.last_used = time.monotonic()
        child_in, self._to_child = os.pipe()
        self._from_child, child_out = os.pipe()
        for fd in (self._to_child, self._from_child):
            try:
                fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)
            except OSError:  # above /proc/sys/fs/pipe-max-size: the default size works, only slower
                pass
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tidelake.functions.worker", str(child_in), str(child_out)],
                pass_fds=(child_in, child_out), cwd=config.code_dir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, start_new_session=True)  # a signal to the server's group spares it
        finally:
            os.close(child_in)
            os.close(child_out)
        self._inbox = io.FileIO(self._from_child, "r", closefd=False)
        self._poll = select.poll()
        self._poll.register(self._from_child, select.POLLIN)

    def start(self) -> tuple[dict[str, Any], str]:
        """Wait for the init phase: the ready frame and the output of the handler module's import."""
        meta, _, init_log = self._read_frame(time.monotonic() + INIT_TIMEOUT_SECONDS)
        return meta, init_log.decode("utf-8", "replace")

    def call(self, meta: dict[str, Any], payload: bytes, timeout: float) -> tuple[dict[str, Any], bytes, str]:
        deadline = time.monotonic() + timeout
        try:
            write_frame(self._to_child, meta, payload)
        except (BrokenPipeError, OSError):
            raise WorkerGone from None
        answer, body, output = self._read_frame(deadline)
        return answer, bytes(body), output.decode("utf-8", "replace")

    def _read_frame(self, deadline: float) -> tuple[dict[str, Any], bytearray, bytearray]:
        sizes = HEADER.unpack(self._read(HEADER.size, deadline))
        meta = orjson.loads(self._read(sizes[0], deadline))
        return meta, self._read(sizes[1], deadline), self._read(sizes[2], deadline)

    def _read(self, size: int, deadline: float) -> bytearray:
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poll.poll(remaining * 1000):
                raise WorkerTimedOut
            count = self._inbox.readinto(view[got:])
            if not count:
                raise WorkerGone
            got += count
        return buffer

    def exit_description(self) -> str:
        """Go's words for how the process ended, as Lambda reports them (``exit status 1``, ``signal: killed``)."""
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "exit status unknown"
        if code < 0:
            return f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
        return f"exit status {code}"

    def kill(self) -> None:
        """Safe from any thread: the one waiting on this worker sees it gone."""
        if self.process.poll() is None:
            self.process.kill()

    def stop(self) -> None:
        """By the worker's owner only: kill, reap, close the pipes."""
        self.kill()
        self.process.wait()
        if not self._inbox.closed:  # once: a second close could hit a descriptor reused since
            self._inbox.close()
            os.close(self._to_child)
            os.close(self._from_child)


class Pool:
    """The warm workers of one function, at most ``limit`` of them busy or idle."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.idle: list[Worker] = []
        self.busy = 0
        self.revision = ""
        self.closed = False
        self.changed = threading.Condition()

    def acquire(self, revision: str) -> tuple[Worker | None, list[Worker]]:
        """An idle worker of this revision, or None: the caller may start one. Also the stale
        workers the caller must stop (outside the lock)."""
        with self.changed:
            stale: list[Worker] = []
            while True:
                if self.closed:
                    raise RuntimeClosed("The function service is stopping.")
                if revision != self.revision:
                    self.revision = revision
                    stale += self.idle
                    self.idle = []
                if self.idle:
                    self.busy += 1
                    return self.idle.pop(), stale  # the most recently used: its caches are warmest
                if self.busy < self.limit:
                    self.busy += 1
                    return None, stale
                self.changed.wait()

    def release(self, worker: Worker | None, healthy: bool) -> bool:
        """Give a worker back; False if the caller must stop it."""
        with self.changed:
            self.busy -= 1
            self.changed.notify()
            if worker is not None and healthy and not self.closed and worker.revision == self.revision:
                worker.last_used = time.monotonic()
                self.idle.append(worker)
                return True
            return False

    def take_idle(self, older_than: float | None = None) -> list[Worker]:
        with self.changed:
            cutoff = time.monotonic() - older_than if older_than is not None else None
            taken = [w for w in self.idle if cutoff is None or w.last_used < cutoff]
            self.idle = [w for w in self.idle if w not in taken]
            return taken


class Runtime:
    def __init__(self, concurrency: int, idle_seconds: float,
                 environment: Callable[[FunctionConfig, str], dict[str, str]]) -> None:
        self.concurrency = max(1, concurrency)
        self.idle_seconds = idle_seconds
        self._environment = environment
        self._pools: dict[str, Pool] = {}
        self._live: set[Worker] = set()  # busy or idle: what close() must stop
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="tidelake-function-reaper", daemon=True)
        self._reaper.start()

    def _pool(self, name: str) -> Pool:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeClosed("The function service is stopping.")
            pool = self._pools.get(name)
            if pool is None:
                pool = self._pools[name] = Pool(self.concurrency)
            return pool

    def run(self, config: FunctionConfig, request_id: str, payload: bytes) -> Outcome:
        """Run one invocation in a warm (or new) worker of the function; blocks until it ends."""
        pool = self._pool(config.function_name)
        worker, stale = pool.acquire(config.revision_id)
        self._stop_all(stale)
        healthy = False
        try:
            init_ms, init_log = None, ""
            if worker is None:
                worker = self._spawn(config)
                ready, init_log = self._start(worker, request_id)
                if not ready.get("ready"):
                    return dataclasses.replace(_init_failure(ready, init_log, request_id), log_stream=worker.log_stream)
                init_ms = (time.monotonic() - worker.spawned) * 1000  # Python's start, then the import
            outcome = self._call(worker, config, request_id, payload)
            healthy = outcome.status not in ("timeout", "crashed")
            return dataclasses.replace(outcome, init_ms=init_ms, init_log=init_log, log_stream=worker.log_stream)
        finally:
            if not pool.release(worker, healthy) and worker is not None:
                self._stop_all([worker])

    @staticmethod
    def _call(worker: Worker, config: FunctionConfig, request_id: str, payload: bytes) -> Outcome:
        deadline_ms = int(time.time() * 1000) + config.timeout * 1000
        meta = {"request_id": request_id, "deadline_ms": deadline_ms, "invoked_function_arn": config.function_arn}
        started = time.monotonic()
        try:
            answer, body, output = worker.call(meta, payload, config.timeout)
        except WorkerTimedOut:
            elapsed = time.monotonic() - started
            return Outcome("timeout", orjson.dumps({
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {elapsed:.2f} seconds",
                "errorType": "Sandbox.Timedout"}), "", elapsed * 1000)
        except WorkerGone:
            elapsed = time.monotonic() - started
            message = f"RequestId: {request_id} Error: Runtime exited with error: {worker.exit_description()}"
            return Outcome("crashed", orjson.dumps({"errorMessage": message, "errorType": "Runtime.ExitError"}),
                           "", elapsed * 1000, message=message)
        if answer["status"] == "bad_payload":
            return Outcome("bad_payload", b"", output, 0.0, message=answer["message"])
        return Outcome(answer["status"], body, output, answer["duration_ms"], max_memory_mb=answer["max_memory_mb"])

    def _spawn(self, config: FunctionConfig) -> Worker:
        log_stream = _log_stream_name(config)
        worker = Worker(config, log_stream, self._environment(config, log_stream))
        with self._lock:
            self._live.add(worker)
            closing = self._stop.is_set()
        if closing:  # close() ran while this one started: it saw no such worker
            self._stop_all([worker])
            raise RuntimeClosed("The function service is stopping.")
        return worker

    def _stop_all(self, workers: list[Worker]) -> None:
        for worker in workers:
            worker.stop()
            with self._lock:
                self._live.discard(worker)

    @staticmethod
    def _start(worker: Worker, request_id: str) -> tuple[dict[str, Any], str]:
        try:
            return worker.start()
        except WorkerTimedOut:
            message = f"RequestId: {request_id} Error: Init timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds"
            return {"ready": False, "error_type": "Sandbox.Timedout", "message": message}, ""
        except WorkerGone:
            message = f"RequestId: {request_id} Error: Runtime exited with error: {worker.exit_description()}"
            return {"ready": False, "error_type": "Runtime.ExitError", "message": message}, ""

    def retire(self, name: str) -> None:
        """Stop the idle workers of a function (deleted or changed); busy ones stop when they finish."""
        with self._lock:
            pool = self._pools.get(name)
        if pool is not None:
            with pool.changed:
                pool.revision = uuid.uuid4().hex  # no worker of the present revision will be kept
            self._stop_all(pool.take_idle())

    def _reap(self) -> None:
        every = max(0.5, min(self.idle_seconds / 2, 10.0))
        while not self._stop.wait(every):
            with self._lock:
                pools = list(self._pools.values())
            for pool in pools:
                self._stop_all(pool.take_idle(self.idle_seconds))

    def workers(self, name: str) -> tuple[int, int]:
        """(busy, idle) workers of a function."""
        with self._lock:
            pool = self._pools.get(name)
        if pool is None:
            return 0, 0
        with pool.changed:
            return pool.busy, len(pool.idle)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            with pool.changed:
                pool.closed = True
                pool.changed.notify_all()
            self._stop_all(pool.take_idle())
        with self._lock:
            busy = list(self._live)
        for worker in busy:  # their callers get an answer (exited) at once, then stop them
            worker.kill()
        self._reaper.join()


def _init_failure(ready: dict[str, Any], init_log: str, request_id: str) -> Outcome:
    document = error_document(ready["error_type"], ready["message"], request_id, ready.get("trace", []))
    if ready["error_type"] in ("Sandbox.Timedout", "Runtime.ExitError"):
        document = {"errorMessage": ready["message"], "errorType": ready["error_type"]}
    else:
        document["requestId"] = ""  # Lambda reports init failures without a request id
        init_log += f"[ERROR] {ready['error_type']}: {ready['message']}\n"
    return Outcome("init_error", orjson.dumps(document), "", 0.0, ready.get("init_ms"), init_log)


def _log_stream_name(config: FunctionConfig) -> str:
    day = time.strftime("%Y/%m/%d", time.gmtime())
    return f"{day}/[{config.version}]{uuid.uuid4().hex}"
