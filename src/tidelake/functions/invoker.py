"""Functions as plain callables ``(function_arn, event) -> answer``: how Firehose's Lambda processor
calls its transform, in the function's worker like any other invocation."""
from __future__ import annotations

from typing import Any

import orjson

from tidelake.functions.errors import FunctionFailed
from tidelake.functions.service import FunctionService


class FunctionInvoker:
    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions

    def __call__(self, function_arn: str, event: dict) -> Any:
        result = self.functions.invoke(function_arn, orjson.dumps(event))
        if result.function_error is not None:
            document = orjson.loads(result.payload)
            raise FunctionFailed(self.functions.function_name(function_arn), document.get("errorType", ""),
                                 document.get("errorMessage", ""))
        return orjson.loads(result.payload)
