"""User functions (the Lambda subset): a registry of code and configuration, isolated worker
processes that run handlers the way Lambda's Python runtime does, and their logs.

The worker subprocess imports this package too: it stays free of imports until a name is asked for.
"""
from __future__ import annotations

from typing import Any

__all__ = ["FunctionService", "FunctionConfig", "Invocation", "LogEvent"]


def __getattr__(name: str) -> Any:
    if name == "FunctionService":
        from tidelake.functions.service import FunctionService
        return FunctionService
    if name in ("FunctionConfig", "Invocation", "LogEvent"):
        from tidelake.functions import models
        return getattr(models, name)
    raise AttributeError(name)
