"""Transform functions for the Lambda processor, registered by Python module path.

A delivery stream's processor names a function by ARN (``arn:aws:lambda:REGION:ACCOUNT:function:NAME``);
``TransformRegistry`` maps NAME to ``package.module:function`` and calls it in-process with the
Firehose transform event and a minimal context. (Functions registered through the Lambda API, run
in isolated workers, arrive with the functions capability; they plug in as another invoker.)
"""
from __future__ import annotations

import importlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from tidelake.delivery.errors import TransformNotFound
from tidelake.errors import InvalidArgument


@dataclass(frozen=True)
class TransformContext:
    """The parts of a Lambda context object a transform function is likely to touch."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    deadline: float

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class TransformRegistry:
    """Function name -> ``module:function``, kept in the delivery database."""

    def __init__(self, db: sqlite3.Connection, timeout_seconds: float = 60.0) -> None:
        self._db = db
        self._db.execute("CREATE TABLE IF NOT EXISTS transforms (name TEXT PRIMARY KEY, target TEXT NOT NULL)")
        self._cache: dict[str, Callable[..., Any]] = {}
        self._lock = threading.Lock()
        self.timeout_seconds = timeout_seconds

    def register(self, name: str, target: str) -> None:
        """Register ``package.module:function`` under ``name``; it must import and be callable."""
        self._load(target)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO transforms VALUES (?, ?)", (name, target))
            self._cache.pop(name, None)

    def targets(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT name, target FROM transforms").fetchall())

    def __call__(self, function_arn: str, event: dict) -> Any:
        name = function_arn.rsplit(":function:", 1)[-1].split(":", 1)[0]
        with self._lock:
            function = self._cache.get(name)
            if function is None:
                row = self._db.execute("SELECT target FROM transforms WHERE name = ?", (name,)).fetchone()
                if row is None:
                    raise TransformNotFound(function_arn)
                function = self._cache[name] = self._load(row[0])
        context = TransformContext(name, function_arn, event.get("invocationId", ""),
                                   time.monotonic() + self.timeout_seconds)
        return function(event, context)

    @staticmethod
    def _load(target: str) -> Callable[..., Any]:
        module_name, _, attribute = target.partition(":")
        if not module_name or not attribute:
            raise InvalidArgument(f"A transform is given as package.module:function, not {target!r}.")
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as e:
            raise InvalidArgument(f"Cannot load transform {target}: {e}") from None
        if not callable(function):
            raise InvalidArgument(f"Transform {target} is not callable.")
        return function
