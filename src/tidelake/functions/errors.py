"""Errors of user functions: what the core raises, with the fields an edge needs."""
from __future__ import annotations

from tidelake.errors import AlreadyExists, InvalidArgument, MalformedRequest, NotFound, TidelakeError


class FunctionNotFound(NotFound):
    code = "Lambda.FunctionNotFound"  # what Firehose records when its transform names no function

    def __init__(self, function_arn: str) -> None:
        self.function_arn = function_arn
        super().__init__(f"Function not found: {function_arn}")


class FunctionAlreadyExists(AlreadyExists):
    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        super().__init__(f"Function already exist: {function_name}")  # Lambda's words, grammar included


class LogGroupNotFound(NotFound):
    """The function has no log: it never ran (CloudWatch creates the group with the first line)."""

    def __init__(self, log_group_name: str) -> None:
        self.log_group_name = log_group_name
        super().__init__("The specified log group does not exist.")  # CloudWatch's words


class LogStreamNotFound(NotFound):
    def __init__(self, function_name: str, log_stream: str) -> None:
        self.function_name = function_name
        self.log_stream = log_stream
        super().__init__("The specified log stream does not exist.")


class InvalidParameterValue(InvalidArgument):
    """A value the shape allows but the service refuses (a runtime tidelake cannot run, a reserved key)."""


class InvalidZipFile(InvalidParameterValue):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("Could not unzip uploaded file. Please check your file, then try to upload again. "
                         f"({reason})")


class RequestTooLarge(InvalidArgument):
    def __init__(self, size: int, limit: int, operation: str = "Invoke") -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"Request must be smaller than {limit} bytes for the {operation} operation")


class InvalidRequestContent(MalformedRequest):
    """The payload of an invocation is not JSON."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Could not parse request body into json: {reason}")


class RevisionMismatch(InvalidArgument):
    def __init__(self, given: str, latest: str) -> None:
        self.given = given
        self.latest = latest
        super().__init__("The Revision Id provided does not match the latest Revision Id. "
                         "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")


class FunctionFailed(TidelakeError):
    """A function answered with a function error, for callers that want an exception (transforms)."""

    def __init__(self, function_name: str, error_type: str, error_message: str) -> None:
        self.function_name = function_name
        self.error_type = error_type
        self.code = "Lambda.FunctionError"  # what Firehose records for a failed transform invocation
        super().__init__(f"{function_name} failed: {error_type}: {error_message}")
