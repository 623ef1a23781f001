"""The AWS JSON protocols (Kinesis, Firehose, Glue, Athena, DynamoDB, EventBridge).

``X-Amz-Target: <prefix>.<Operation>`` names the operation; the body is its input as JSON. The
handler object has one method per operation, named in snake_case; it receives validated,
converted input and returns the output (dicts or core objects), serialized from the model. Plain
methods run in the thread pool (they may block on disk or locks); ``async`` ones run on the event
loop and must only await.
"""
from __future__ import annotations

import inspect
import logging
import uuid
from typing import Any

import orjson
from botocore import xform_name
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tidelake.aws.protocol.errors import to_aws
from tidelake.aws.protocol.models import service_model
from tidelake.aws.protocol.serialize import json_body
from tidelake.aws.protocol.validate import parse_input
from tidelake.errors import MalformedRequest, TidelakeError, Unsupported

log = logging.getLogger("tidelake.aws")


class UnknownOperation(TidelakeError):
    pass


class JsonService:
    def __init__(self, service: str, handler: Any) -> None:
        self.service = service
        self.handler = handler
        model = service_model(service)
        self.content_type = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
        self.operations = set(model.operation_names)

    async def __call__(self, request: Request, body: bytes) -> Response:
        request_id = str(uuid.uuid4())
        target = request.headers.get("x-amz-target", "")
        operation = target.split(".", 1)[-1]
        try:
            return self._respond(operation, await self._dispatch(operation, body), request_id)
        except Exception as error:  # every error becomes an AWS error body; the server lives on
            return self.error_response(error, request_id, operation)

    async def _dispatch(self, operation: str, body: bytes) -> Any:
        if operation not in self.operations:
            raise UnknownOperation(f"Operation {operation!r} is not part of {self.service}.")
        try:
            params = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError as e:
            raise MalformedRequest(f"The request body is not valid JSON: {e}") from None
        method = getattr(self.handler, xform_name(operation), None)
        if method is None:
            raise Unsupported(f"tidelake does not implement {self.service} {operation} yet. "
                              "See docs/ for the operations that are supported.")
        if inspect.iscoroutinefunction(method):  # never blocks: runs on the event loop
            return await method(parse_input(self.service, operation, params))
        return await run_in_threadpool(lambda: method(parse_input(self.service, operation, params)))

    def _respond(self, operation: str, result: Any, request_id: str) -> Response:
        return Response(json_body(self.service, operation, result), media_type=self.content_type,
                        headers={"x-amzn-RequestId": request_id})

    @staticmethod
    def plain_error(error: BaseException) -> Response:
        aws = to_aws("", error)
        return Response(orjson.dumps({"__type": aws.code, "message": aws.message}), status_code=aws.status,
                        media_type="application/x-amz-json-1.1", headers={"x-amzn-ErrorType": aws.code})

    def error_response(self, error: BaseException, request_id: str, operation: str = "") -> Response:
        fields: dict[str, Any] = {}
        if isinstance(error, UnknownOperation):
            code, status, message = "UnknownOperationException", 400, error.message
        else:
            aws = to_aws(self.service, error)
            code, status, message, fields = aws.code, aws.status, aws.message, aws.fields
            if code == "InternalFailure":
                log.exception("%s %s failed", self.service, operation, exc_info=error)
        body = orjson.dumps({"__type": code, "message": message, **fields})
        return Response(body, status_code=status, media_type=self.content_type,
                        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code})
