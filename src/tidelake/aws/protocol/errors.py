"""The one place that maps domain errors to AWS error codes and HTTP statuses.

Codes differ per service for the same kind of error (Kinesis says ResourceInUseException where S3
says BucketAlreadyExists), so each service has its table; a class matches its subclasses, first
match wins, and the defaults at the end cover every service.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidelake import errors as e
from tidelake.aws.dynamodb_wire import encode_item
from tidelake.aws.protocol import payload, rest_xml
from tidelake.lake import errors as lake
from tidelake.lake.catalog import errors as catalog
from tidelake.delivery import errors as delivery
from tidelake.functions import errors as functions
from tidelake.functions import schedule_models as schedules
from tidelake.stream import errors as stream
from tidelake.tables import errors as tables


@dataclass(frozen=True)
class AwsError:
    code: str
    status: int
    message: str
    fields: dict[str, Any] = field(default_factory=dict)  # extra members of the error shape


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
        (e.DryRunRequested, "DryRunOperationException", 400),
    ],
    "firehose": [
        (delivery.ConcurrentModification, "ConcurrentModificationException", 400),
        (e.Throttled, "ServiceUnavailableException", 400),
    ],
    # Glue: the error shapes of botocore's glue model (EntityNotFoundException, AlreadyExistsException...).
    # Shape constraint violations stay ValidationException, as Glue answers them.
    "glue": [
        (catalog.InvalidPartitionExpression, "InvalidInputException", 400),
        (catalog.CrawlerRunning, "CrawlerRunningException", 400),
        (catalog.CrawlerNotRunning, "CrawlerNotRunningException", 400),
        (catalog.CrawlerStopping, "CrawlerStoppingException", 400),
        (e.MalformedRequest, "SerializationException", 400),
        (e.ValidationFailed, "ValidationException", 400),
        (e.NotFound, "EntityNotFoundException", 400),
        (e.AlreadyExists, "AlreadyExistsException", 400),
        (e.InvalidArgument, "InvalidInputException", 400),
        (e.LimitExceeded, "ResourceNumberLimitExceededException", 400),
        (e.InUse, "ConcurrentModificationException", 400),
    ],
    # S3: docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
    "s3": [
        (lake.BucketNotFound, "NoSuchBucket", 404),
        (lake.ObjectNotFound, "NoSuchKey", 404),
        (lake.UploadNotFound, "NoSuchUpload", 404),
        (lake.BucketAlreadyExists, "BucketAlreadyOwnedByYou", 409),  # one account owns every bucket
        (lake.BucketNotEmpty, "BucketNotEmpty", 409),
        (lake.InvalidBucketName, "InvalidBucketName", 400),
        (lake.InvalidRange, "InvalidRange", 416),
        (lake.MetadataTooLarge, "MetadataTooLarge", 400),
        (lake.InvalidPart, "InvalidPart", 400),
        (lake.InvalidPartOrder, "InvalidPartOrder", 400),
        (lake.PartTooSmall, "EntityTooSmall", 400),
        (lake.PartListEmpty, "MalformedXML", 400),
        (lake.ObjectStoreAccessDenied, "AccessDenied", 403),
        (lake.ObjectStoreUnavailable, "ServiceUnavailable", 503),
        (payload.BadDigest, "BadDigest", 400),
        (payload.InvalidDigest, "InvalidDigest", 400),
        (payload.ContentSHA256Mismatch, "XAmzContentSHA256Mismatch", 400),
        (payload.IncompleteBody, "IncompleteBody", 400),
        (rest_xml.MalformedXML, "MalformedXML", 400),
        (rest_xml.MethodNotAllowed, "MethodNotAllowed", 405),
        (rest_xml.PreconditionFailed, "PreconditionFailed", 412),
        (rest_xml.InvalidRequest, "InvalidRequest", 400),
        # Unsafe keys (.., absolute paths), bad tokens, part numbers, max-keys: S3's generic code.
        (e.InvalidArgument, "InvalidArgument", 400),
        (e.AccessDenied, "AccessDenied", 403),
    ],
    # Lambda: docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors (and each operation's).
    "lambda": [
        (functions.RequestTooLarge, "RequestTooLargeException", 413),
        (functions.RevisionMismatch, "PreconditionFailedException", 412),
        (e.MalformedRequest, "InvalidRequestContentException", 400),
        (e.ValidationFailed, "ValidationException", 400),
        (e.NotFound, "ResourceNotFoundException", 404),
        (e.AlreadyExists, "ResourceConflictException", 409),
        (e.InUse, "ResourceInUseException", 400),
        (e.InvalidArgument, "InvalidParameterValueException", 400),
        (e.Throttled, "TooManyRequestsException", 429),
    ],
    # Athena: errors.shapes in botocore's athena model; a request it refuses is InvalidRequestException
    # with an AthenaErrorCode, a catalog lookup that fails is MetadataException.
    "athena": [
        (e.MalformedRequest, "SerializationException", 400),
        (e.ValidationFailed, "ValidationException", 400),
        (catalog.DatabaseNotFound, "MetadataException", 400),
        (catalog.TableNotFound, "MetadataException", 400),
        (e.NotFound, "InvalidRequestException", 400),
        (e.AlreadyExists, "InvalidRequestException", 400),
        (e.InvalidArgument, "InvalidRequestException", 400),
        (e.LimitExceeded, "TooManyRequestsException", 400),
        (e.Throttled, "TooManyRequestsException", 400),
    ],
    # DynamoDB: errors.shapes in botocore's dynamodb model. It has no InvalidArgument code: what it refuses in
    # a request's values is ValidationException.
    "dynamodb": [
        (tables.ConditionalCheckFailed, "ConditionalCheckFailedException", 400),
        (e.MalformedRequest, "SerializationException", 400),
        (e.ValidationFailed, "ValidationException", 400),
        (e.NotFound, "ResourceNotFoundException", 400),
        (e.AlreadyExists, "ResourceInUseException", 400),
        (e.InUse, "ResourceInUseException", 400),
        (e.InvalidArgument, "ValidationException", 400),
        (e.Throttled, "ProvisionedThroughputExceededException", 400),
    ],
    # EventBridge: errors.shapes in botocore's events model; what it refuses in a request's values
    # (a bad ScheduleExpression, a rule with targets to delete) is ValidationException.
    "events": [
        (schedules.InvalidEventPattern, "InvalidEventPatternException", 400),
        (e.MalformedRequest, "SerializationException", 400),
        (e.NotFound, "ResourceNotFoundException", 400),
        (e.AlreadyExists, "ResourceAlreadyExistsException", 400),
        (e.LimitExceeded, "LimitExceededException", 400),
        (e.InUse, "ConcurrentModificationException", 400),
        (e.InvalidArgument, "ValidationException", 400),
    ],
    # CloudWatch Logs: errors.shapes in botocore's logs model. It answers shape violations as
    # InvalidParameterException too ("1 validation error detected: ...").
    "logs": [
        (e.MalformedRequest, "SerializationException", 400),
        (e.NotFound, "ResourceNotFoundException", 400),
        (e.AlreadyExists, "ResourceAlreadyExistsException", 400),
        (e.InvalidArgument, "InvalidParameterException", 400),
        (e.LimitExceeded, "LimitExceededException", 400),
        (e.Throttled, "ThrottlingException", 400),
    ],
}


def _athena_fields(error: BaseException) -> dict[str, Any]:
    return {"AthenaErrorCode": getattr(error, "athena_error_code", "INVALID_INPUT")}


def _dynamodb_item(error: BaseException) -> dict[str, Any]:
    """The item a failed condition saw, when the request asked for it (ReturnValuesOnConditionCheckFailure)."""
    item = getattr(error, "item", None)
    return {"Item": encode_item(item, text_blobs=True)} if item is not None else {}


# Extra members some error shapes carry, by (service, code).
_FIELDS = {("athena", "InvalidRequestException"): _athena_fields,
           ("dynamodb", "ConditionalCheckFailedException"): _dynamodb_item}


class SignatureError(e.AccessDenied):
    """SigV4 verification failed; ``code`` is the AWS code for the reason."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


_S3_SIGNATURE_CODES = {"UnrecognizedClientException": "InvalidAccessKeyId",
                       "InvalidSignatureException": "SignatureDoesNotMatch"}


_INTERNAL = {"s3": "InternalError", "lambda": "ServiceException", "events": "InternalException",
             "logs": "ServiceUnavailableException"}


def to_aws(service: str, error: BaseException) -> AwsError:
    if isinstance(error, SignatureError):
        if service == "s3":
            return AwsError(_S3_SIGNATURE_CODES.get(error.code, "AccessDenied"), 403, error.message)
        return AwsError(error.code, 400, error.message)
    for kind, code, status in _SERVICES.get(service, []) + _DEFAULTS:
        if isinstance(error, kind):
            extra = _FIELDS.get((service, code))
            return AwsError(code, status, getattr(error, "message", str(error)), extra(error) if extra else {})
    return AwsError(_INTERNAL.get(service, "InternalFailure"), 500,
                    "The server encountered an internal error. See the tidelake log.")
