"""Time, injectable: the core asks a Clock instead of calling time.time()."""
from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch."""

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` of this clock's time."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to: for tests of expiry, retention and schedules."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self._now = start
        self._changed = threading.Condition()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def sleep(self, seconds: float) -> None:
        deadline = self._now + seconds
        with self._changed:
            while self._now < deadline:
                self._changed.wait()
