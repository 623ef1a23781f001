"""One endpoint for every AWS service: authenticate, route, hand to the service's protocol."""
from __future__ import annotations

import uuid
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from tidelake.aws.athena import AthenaApi
from tidelake.aws.dynamodb import DynamoDbApi
from tidelake.aws.events import EventsApi
from tidelake.aws.firehose import FirehoseApi
from tidelake.aws.glue import GlueApi
from tidelake.aws.kinesis import KinesisApi
from tidelake.aws.lambda_ import LambdaApi
from tidelake.aws.lambda_mappings import EventSourceMappingApi
from tidelake.aws.logs import LogsApi
from tidelake.aws.protocol.errors import SignatureError
from tidelake.aws.protocol.json_service import JsonService
from tidelake.aws.protocol.rest_json import RestJsonService
from tidelake.aws.protocol.router import resolve_service
from tidelake.aws.protocol.sigv4 import verify
from tidelake.aws.s3 import S3Service
from tidelake.errors import Unsupported
from tidelake.platform import Platform


class Service(Protocol):
    async def __call__(self, request: Request, body: bytes) -> Response: ...

    def error_response(self, error: BaseException, request_id: str, operation: str = "") -> Response: ...


class Gateway:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.secrets = dict(platform.settings.credentials)
        self.services: dict[str, Service] = {
            "kinesis": JsonService("kinesis", KinesisApi(platform.streams)),
            "firehose": JsonService("firehose", FirehoseApi(platform.delivery, platform.streams.stream_name_from_arn)),
            "s3": S3Service(platform.objects),
            "athena": JsonService("athena", AthenaApi(platform.queries, platform.catalog, platform.settings.account_id)),
            "glue": JsonService("glue", GlueApi(platform.catalog, platform.crawlers)),
            "lambda": RestJsonService("lambda", LambdaApi(platform.functions), EventSourceMappingApi(platform.mappings)),
            "events": JsonService("events", EventsApi(platform.schedules)),
            "dynamodb": JsonService("dynamodb", DynamoDbApi(platform.tables)),
            "logs": JsonService("logs", LogsApi(platform.functions)),
        }

    @property
    def service_names(self) -> list[str]:
        return sorted(self.services)

    async def __call__(self, request: Request) -> Response:
        name = resolve_service(request.headers, request.query_params, request.url.path)
        service = self.services.get(name)
        if service is None:
            return self._unknown(name)
        # S3 streams object bodies itself; its SigV4 payload hash is the x-amz-content-sha256 header.
        streams = getattr(service, "streams_body", False) and "x-amz-content-sha256" in request.headers
        body = b"" if streams else await request.body()
        if self.secrets:
            try:
                verify(request.method, _signed_url(request), request.headers, body, self.secrets)
            except SignatureError as error:
                return service.error_response(error, str(uuid.uuid4()))
        return await service(request, body)

    def _unknown(self, name: str) -> Response:
        served = ", ".join(self.service_names)
        error = Unsupported(f"tidelake does not serve the {name} API. It serves: {served}.")
        return JsonService.plain_error(error)


def _signed_url(request: Request) -> str:
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode()
    query = request.scope.get("query_string", b"").decode()
    host = request.headers.get("host", "localhost")
    return f"http://{host}{raw_path}" + (f"?{query}" if query else "")
