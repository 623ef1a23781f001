"""The ASGI app: health, metrics and admin calls under ``/_tidelake``, the console under ``/ui/``;
every other request is an AWS API call. Also runs it under uvicorn for ``tidelake up``."""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gc
import logging
import queue
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Callable, Iterator

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import (HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response,
                                 StreamingResponse)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tidelake import __version__
from tidelake.aws.gateway import Gateway
from tidelake.aws.protocol.json_service import JsonService
from tidelake.delivery.convert import Column, TableSchema
from tidelake.errors import InvalidArgument, NotFound, TidelakeError
from tidelake.metrics import prometheus_text
from tidelake.platform import Platform
from tidelake.web.console import overview

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("tidelake.server")


def create_app(platform: Platform) -> ASGIApp:
    gateway = Gateway(platform)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, "services": gateway.service_names,
                             "data_dir": str(platform.settings.data_dir)})

    async def metrics(request: Request) -> Response:
        text = await run_in_threadpool(prometheus_text, platform)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def flush(request: Request) -> Response:
        """Force a delivery stream's buffers out and wait until the lake has them (tests, demos)."""
        name = request.path_params["name"]
        timeout = float(request.query_params.get("timeout", "60"))
        done = await run_in_threadpool(platform.delivery.flush, name, timeout)
        if done:
            return JSONResponse({"flushed": True})
        return JSONResponse({"flushed": False, "message": f"{name}: not everything received is in the lake after "
                             f"{timeout:g} s; the destination may be failing (describe the delivery stream)."},
                            status_code=504)

    async def put_schema(request: Request) -> Response:
        """Declare a table schema that record format conversion can name (until the catalog exists)."""
        body = await request.json()
        schema = TableSchema(tuple(Column(c["name"], c["type"]) for c in body["columns"]))
        await run_in_threadpool(platform.delivery.register_schema, request.path_params["database"],
                                request.path_params["table"], schema)
        return JSONResponse({"columns": len(schema.columns)})

    async def compact(request: Request) -> Response:
        """Run a compaction (``tidelake compact``) in a thread: the report as JSON, or with ``Accept:
        application/x-ndjson`` one line per partition done, then the report line."""
        from tidelake.query.compaction import compact as run_compaction
        body = await request.json()
        events: queue.Queue[tuple[str, object]] = queue.Queue()

        def work() -> None:
            try:
                report = run_compaction(
                    platform.catalog, platform.queries.engine, platform.objects, _table_ref(body.get("source")),
                    _table_ref(body.get("target")), partitions=body.get("partition") or None,
                    closed=not body.get("all"), target_location=body.get("location") or None,
                    clock=platform.clock, progress=lambda done, total, item: events.put(("progress", {
                        "done": done, "total": total, "partition": item and dataclasses.asdict(item)})))
                events.put(("report", dataclasses.asdict(report)))
            except Exception as error:  # noqa: BLE001 -- handed to the request, raised or streamed there
                events.put(("error", error))
        threading.Thread(target=work, name="tidelake-compaction", daemon=True).start()
        kind, value = await run_in_threadpool(events.get)  # planning errors answer with their status
        if kind == "error":
            raise value  # type: ignore[misc]
        if "application/x-ndjson" not in request.headers.get("accept", ""):
            while kind == "progress":
                kind, value = await run_in_threadpool(events.get)
            if kind == "error":
                raise value  # type: ignore[misc]
            return JSONResponse(value)

        async def lines():  # type: ignore[no-untyped-def]
            event, item = kind, value
            while True:
                if isinstance(item, Exception):
                    item = {"error": type(item).__name__, "message": str(item)}
                yield orjson.dumps({"event": event, **item}) + b"\n"  # type: ignore[dict-item]
                if event != "progress":
                    return
                event, item = await run_in_threadpool(events.get)
        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def console(request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(overview, platform, str(request.base_url).rstrip("/")))

    async def admin_errors(request: Request, error: Exception) -> Response:
        status = 404 if isinstance(error, NotFound) else 400
        return JSONResponse({"error": type(error).__name__, "message": str(error)}, status_code=status)

    admin = Starlette(routes=[
        Route("/_tidelake/health", health, methods=["GET"]),
        Route("/_tidelake/metrics", metrics, methods=["GET"]),
        Route("/_tidelake/delivery/{name}/flush", flush, methods=["POST"]),
        Route("/_tidelake/schemas/{database}/{table}", put_schema, methods=["PUT"]),
        Route("/_tidelake/compact", compact, methods=["POST"]),
        Route("/ui/", console, methods=["GET"]),
    ], exception_handlers={TidelakeError: admin_errors, KeyError: admin_errors})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """AWS calls go straight to the gateway, without Starlette's middleware stack and route
        matching (per-call work they do not need; errors are answered by the services themselves,
        and by this handler's own net). Lifespan, /_tidelake and the console are Starlette's."""
        if scope["type"] != "http" or scope["path"].startswith("/_tidelake/") or scope["path"] == "/ui/":
            await admin(scope, receive, send)
            return
        request = Request(scope, receive)
        if scope["path"] == "/" and _is_browser(request):
            response: Response = RedirectResponse("/ui/")
        else:
            try:
                response = await gateway(request)
            except ClientDisconnect:
                return
            except Exception as error:  # noqa: BLE001 -- an AWS-shaped 500; the server lives on
                log.exception("%s %s failed", scope["method"], scope["path"])
                response = JsonService.plain_error(error)
        await response(scope, receive, send)
    return app


def _table_ref(text: object) -> tuple[str, str]:
    """``db.table`` -> (db, table)."""
    db, _, name = str(text or "").partition(".")
    if not db or not name:
        raise InvalidArgument(f"Name a table as DATABASE.TABLE, not {text!r}")
    return db, name


def _is_browser(request: Request) -> bool:
    """A person's browser asks for HTML and signs nothing; every AWS client signs (S3 ListBuckets is GET /)."""
    return "authorization" not in request.headers and "text/html" in request.headers.get("accept", "")


def _server(platform: Platform) -> "uvicorn.Server":
    import uvicorn

    class Server(uvicorn.Server):
        """Ctrl-C and SIGTERM stop gracefully and return, so the caller can flush and close the
        platform (uvicorn would re-raise the signal after shutdown and end the process first)."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            # Everything loaded so far (service models, DuckDB, the catalog) lives as long as the
            # server: frozen, full collections stop rescanning its ~100k objects (~70 ms each, every
            # few hundred PutRecords calls). A 500-record call allocates ~1,500 containers that
            # reference counting frees; a larger first threshold stops ~2 collections per call.
            gc.freeze()
            atexit.register(gc.unfreeze)  # for an exit that skips shutdown (see below)
            gc.set_threshold(10_000, 50, 50)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            # Frozen objects are never collected, not even at exit: DuckDB's bindings would then
            # report them as leaked on stderr when the interpreter ends.
            gc.unfreeze()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    settings = platform.settings
    config = uvicorn.Config(create_app(platform), host=settings.host, port=settings.port,
                            log_level=settings.log_level, access_log=settings.log_level == "debug",
                            timeout_graceful_shutdown=5)
    return Server(config)


def serve(platform: Platform, ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; the caller closes the platform afterwards."""
    server = _server(platform)
    if ready is not None:
        original = server.startup

        async def startup(sockets=None) -> None:
            await original(sockets)
            if server.started:
                ready()
        server.startup = startup  # type: ignore[method-assign]
    logging.getLogger("tidelake").setLevel(platform.settings.log_level.upper())
    server.run()


class BackgroundServer:
    """Serve a platform from a thread (the demo and benchmarks): ``with BackgroundServer(p) as url``."""

    def __init__(self, platform: Platform) -> None:
        self.server = _server(platform)
        self.url = platform.settings.endpoint_url
        self._thread = threading.Thread(target=self.server.run, name="tidelake-server", daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server could not start on {self.url} (is the port in use?)")
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join()
