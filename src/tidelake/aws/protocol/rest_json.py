"""The REST-JSON protocol (Lambda), driven by botocore's model.

An operation is found by its HTTP method and ``requestUri`` template (``/2015-03-31/functions/
{FunctionName}/invocations``; ``{Name+}`` labels are greedy; a ``?find=X`` suffix must be present in
the query). Its input members come from the path, the query string, headers or the JSON body as
each member's ``location`` says; a blob or string ``payload`` member is the raw body. The input is
checked by ``validate.py``'s compiled shapes. Output members go back the same way: ``header``
members as headers, the ``statusCode`` member as the status, the payload member as the raw body,
the rest as a JSON document.

Several handler objects may serve one service (functions, event source mappings): an operation
goes to the first one with a method of its snake_case name.
"""
from __future__ import annotations

import base64
import logging
import re
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any, Mapping
from urllib.parse import unquote

import anyio
import anyio.to_thread
import orjson
from botocore import xform_name
from botocore.model import OperationModel, Shape
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from tidelake.aws.protocol.errors import to_aws
from tidelake.aws.protocol.models import service_model
from tidelake.aws.protocol.serialize import output_serializer
from tidelake.aws.protocol.validate import parse_input
from tidelake.errors import MalformedRequest, TidelakeError, Unsupported

log = logging.getLogger("tidelake.aws")
JSON = "application/json"
_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")


class UnknownRoute(TidelakeError):
    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        super().__init__(f"No operation of this service answers {method} {path}.")


@dataclass(frozen=True)
class Route:
    operation: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    query: tuple[tuple[str, str], ...]  # literal query parameters the template requires
    literal: int  # characters of fixed text: the more, the more specific


def _route(operation: OperationModel) -> tuple[str, Route]:
    template, _, query = operation.http["requestUri"].partition("?")
    labels: list[str] = []
    regex, end = "", 0
    for match in _LABEL.finditer(template):
        regex += re.escape(template[end:match.start()])
        regex += f"(?P<g{len(labels)}>.+)" if match.group(2) else f"(?P<g{len(labels)}>[^/]+)"
        labels.append(match.group(1))
        end = match.end()
    regex += re.escape(template[end:])
    required = tuple((k, v) for k, _, v in (item.partition("=") for item in query.split("&") if item))
    literal = len(_LABEL.sub("", template)) + len(query)
    return operation.http["method"], Route(operation.name, re.compile(regex + "/?"), tuple(labels), required, literal)


@cache
def routes(service: str) -> dict[str, list[Route]]:
    """Routes by HTTP method, most specific first."""
    model = service_model(service)
    table: dict[str, list[Route]] = {}
    for name in model.operation_names:
        method, route = _route(model.operation_model(name))
        table.setdefault(method, []).append(route)
    for method_routes in table.values():
        method_routes.sort(key=lambda r: (-len(r.query), -r.literal))
    return table


def match(service: str, method: str, raw_path: str, query: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The operation a request names, and its path labels (percent-decoded)."""
    for route in routes(service).get(method, []):
        found = route.pattern.fullmatch(raw_path)
        if found is None or any(query.get(k) != v for k, v in route.query):
            continue
        return route.operation, {label: unquote(found.group(f"g{i}")) for i, label in enumerate(route.labels)}
    raise UnknownRoute(method, unquote(raw_path))


def _scalar(shape: Shape, text: str, where: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        raise MalformedRequest(f"Expected a number in {where}, got {text!r}.") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise MalformedRequest(f"Expected true or false in {where}, got {text!r}.")
        return text.lower() == "true"
    if kind == "string" and shape.serialization.get("jsonvalue"):
        try:
            return orjson.loads(base64.b64decode(text))
        except (ValueError, orjson.JSONDecodeError):
            raise MalformedRequest(f"{where} is not base64-encoded JSON.") from None
    return text


def read_input(service: str, operation: str, labels: Mapping[str, str], query: QueryParams,
               headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The operation's input from every place the model puts members, validated and converted."""
    shape = service_model(service).operation_model(operation).input_shape
    if shape is None:
        return {}
    payload = shape.serialization.get("payload")
    raw_payload = payload is not None and shape.members[payload].type_name in ("blob", "string")
    params: dict[str, Any] = {}
    if payload is None:
        params.update(_json_object(body))
    elif not raw_payload and body.strip():
        params[payload] = _json_object(body)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri" and wire in labels:
            params[name] = _scalar(member, labels[wire], f"the path's {wire}")
        elif location == "querystring":
            if member.type_name == "list":
                values = query.getlist(wire)
                if values:
                    params[name] = [_scalar(member.member, v, f"query parameter {wire}") for v in values]
            elif wire in query:
                params[name] = _scalar(member, query[wire], f"query parameter {wire}")
        elif location == "header" and wire.lower() in headers:
            params[name] = _scalar(member, headers[wire.lower()], f"header {wire}")
        elif location == "headers":
            prefix = wire.lower()
            found = {k[len(prefix):]: v for k, v in headers.items() if k.lower().startswith(prefix)}
            if found:
                params[name] = found
    params = parse_input(service, operation, params)
    if raw_payload and body:
        # The raw body (an Invoke payload) is the caller's bytes: no JSON parsing, no copy.
        params[payload] = body if shape.members[payload].type_name == "blob" else body.decode()
    return params


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise MalformedRequest(f"The request body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise MalformedRequest("The request body must be a JSON object.")
    return value


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value.value if hasattr(value, "value") else value)


def render(service: str, operation: str, result: Any, request_id: str) -> Response:
    """The HTTP response for an operation's output (dict keyed by member names, or a core object)."""
    model = service_model(service).operation_model(operation)
    status = int(model.http.get("responseCode", 200))
    headers = {"x-amzn-RequestId": getattr(result, "request_id", None) or request_id}
    shape = model.output_shape
    if shape is None or result is None:
        return Response(status_code=status, headers=headers, media_type=JSON if status != 204 else None)
    document = dict(output_serializer(service, operation)(result))
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if location is None or name not in document:
            continue
        value = document.pop(name)
        if value == "":  # an empty header is no header: clients would report an empty member
            continue
        if location == "statusCode":
            status = int(value)
        elif location == "header":
            headers[member.serialization.get("name", name)] = _header_text(value)
        elif location == "headers":
            prefix = member.serialization.get("name", name)
            headers.update({prefix + k: _header_text(v) for k, v in value.items()})
    payload = shape.serialization.get("payload")
    if payload is None:
        body = orjson.dumps(document) if status != 204 else b""
    elif shape.members[payload].type_name in ("blob", "string"):
        raw = result.get(payload) if isinstance(result, dict) else getattr(result, xform_name(payload), None)
        body = raw.encode() if isinstance(raw, str) else (raw or b"")
    else:
        body = orjson.dumps(document[payload]) if payload in document else b""
    return Response(body, status_code=status, headers=headers, media_type=JSON)


class RestJsonService:
    """A REST-JSON service on the gateway: ``RestJsonService("lambda", LambdaApi(...), MoreApi(...))``."""

    THREADS = 64  # calls running at once; its own pool, so that waiting invocations starve no other service

    def __init__(self, service: str, *handlers: Any) -> None:
        self.service = service
        self.handlers = handlers
        self._limiter: anyio.CapacityLimiter | None = None  # made on the event loop, at the first call

    async def __call__(self, request: Request, body: bytes) -> Response:
        request_id = str(uuid.uuid4())
        operation = ""
        try:
            raw_path = request.scope.get("raw_path", request.url.path.encode()).decode()
            operation, labels = match(self.service, request.method, raw_path.split("?", 1)[0], request.query_params)
            method = self._method(operation)
            query, headers = request.query_params, request.headers

            def call() -> Any:
                return method(read_input(self.service, operation, labels, query, headers, body))
            if self._limiter is None:
                self._limiter = anyio.CapacityLimiter(self.THREADS)
            # An invocation blocks its thread until the function answers (up to its timeout).
            result = await anyio.to_thread.run_sync(call, limiter=self._limiter)
            return render(self.service, operation, result, request_id)
        except Exception as error:  # every error becomes an AWS error body; the server lives on
            return self.error_response(error, request_id, operation)

    def _method(self, operation: str) -> Any:
        attribute = xform_name(operation)
        for handler in self.handlers:
            method = getattr(handler, attribute, None)
            if method is not None:
                return method
        raise Unsupported(f"tidelake does not implement {self.service} {operation} yet. "
                          "See docs/ for the operations that are supported.")

    def error_response(self, error: BaseException, request_id: str, operation: str = "") -> Response:
        if isinstance(error, UnknownRoute):  # a protocol matter, not a domain error: no table entry
            code, status, message, fields = "UnknownOperationException", 404, error.message, {}
        else:
            aws = to_aws(self.service, error)
            code, status, message, fields = aws.code, aws.status, aws.message, aws.fields
            if status == 500:
                log.error("%s %s failed", self.service, operation, exc_info=error)
        body = {"Type": "Service" if status >= 500 else "User", "message": message, **fields}
        return Response(orjson.dumps(body), status_code=status, media_type=JSON,
                        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code})
