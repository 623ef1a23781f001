"""The one place that maps domain errors to AWS error codes and HTTP statuses.

Codes differ per service for the same kind of error (Kinesis says ResourceInUseException where S3
says BucketAlreadyExists), so each service has its table; a class matches its subclasses, first
match wins, and the defaults at the end cover every service.
"""
from __future__ import annotations

from dataclasses import dataclass

from tidelake import errors as e
from tidelake.stream import errors as stream


@dataclass(frozen=True)
class AwsError:
    code: str
    status: int
    message: str


_DEFAULTS: list[tuple[type[BaseException], str, int]] = [
    (e.MalformedRequest, "SerializationException", 400),
    (e.ValidationFailed, "ValidationException", 400),
    (e.NotFound, "ResourceNotFoundException", 400),
    (e.AlreadyExists, "ResourceInUseException", 400),
    (e.InUse, "ResourceInUseException", 400),
    (e.InvalidArgument, "InvalidArgumentException", 400),
    (e.LimitExceeded, "LimitExceededException", 400),
    (e.Throttled, "ThrottlingException", 400),
    (e.AccessDenied, "AccessDeniedException", 400),
    (e.Unsupported, "NotImplemented", 501),
]

_SERVICES: dict[str, list[tuple[type[BaseException], str, int]]] = {
    "kinesis": [
        (stream.IteratorExpired, "ExpiredIteratorException", 400),
        (e.Expired, "ExpiredNextTokenException", 400),
        (e.Throttled, "ProvisionedThroughputExceededException", 400),
    ],
}


class SignatureError(e.AccessDenied):
    """SigV4 verification failed; ``code`` is the AWS code for the reason."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def to_aws(service: str, error: BaseException) -> AwsError:
    if isinstance(error, SignatureError):
        return AwsError(error.code, 403 if service == "s3" else 400, error.message)
    for kind, code, status in _SERVICES.get(service, []) + _DEFAULTS:
        if isinstance(error, kind):
            return AwsError(code, status, getattr(error, "message", str(error)))
    return AwsError("InternalFailure", 500, "The server encountered an internal error. See the tidelake log.")
