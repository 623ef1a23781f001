"""Asynchronous (``Event``) invocations: queued, run in the background, retried as Lambda does.

Lambda's policy: when the function returns an error (it raised, timed out, crashed), two more
attempts, one minute after the first and two minutes after the second, with the same request id.
The queue lives in memory: events still queued when the server stops are lost (docs/lambda.md).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Callable

from tidelake.clock import Clock
from tidelake.errors import NotFound
from tidelake.functions.runtime import RuntimeClosed

log = logging.getLogger("tidelake.functions")

RETRY_DELAYS = (60.0, 120.0)  # seconds before the second and the third attempt


@dataclass(frozen=True)
class Event:
    function_name: str
    payload: bytes
    request_id: str
    attempt: int = 0


class AsyncInvocations:
    def __init__(self, run: Callable[[Event], bool], clock: Clock, threads: int) -> None:
        """``run`` invokes the function and says whether it succeeded."""
        self._run = run
        self._clock = clock
        self._ready: queue.Queue[Event | None] = queue.Queue()
        self._later: list[tuple[float, int, Event]] = []  # retries by due time
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"tidelake-async-invoke-{i}", daemon=True)
                         for i in range(max(1, threads))]
        self._threads.append(threading.Thread(target=self._schedule, name="tidelake-async-retries", daemon=True))
        for thread in self._threads:
            thread.start()

    def submit(self, event: Event) -> None:
        self._ready.put(event)

    def pending(self) -> int:
        with self._lock:
            return self._ready.qsize() + len(self._later)

    def _work(self) -> None:
        while (event := self._ready.get()) is not None and not self._stop.is_set():
            started = self._clock.now()  # delays count from the attempt's start: no drift with its length
            try:
                succeeded = self._run(event)
            except NotFound:  # deleted since: nothing left to run
                continue
            except RuntimeClosed:
                return
            except Exception:  # a failing run must not end the worker thread
                log.exception("asynchronous invocation %s of %s failed", event.request_id, event.function_name)
                succeeded = False
            if not succeeded and event.attempt < len(RETRY_DELAYS) and not self._stop.is_set():
                due = started + RETRY_DELAYS[event.attempt]
                with self._lock:
                    heapq.heappush(self._later, (due, next(self._order), Event(
                        event.function_name, event.payload, event.request_id, event.attempt + 1)))

    def _schedule(self) -> None:
        # Polls the clock, so that an injected clock moved by a test releases retries too.
        while not self._stop.wait(0.05):
            now = self._clock.now()
            with self._lock:
                while self._later and self._later[0][0] <= now:
                    self._ready.put(heapq.heappop(self._later)[2])

    def close(self) -> None:
        """Stop taking work; running invocations end (the runtime is closed after this)."""
        self._stop.set()
        for _ in self._threads:
            self._ready.put(None)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
