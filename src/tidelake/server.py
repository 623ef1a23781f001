"""The ASGI app: health and (later) the console under ``/_tidelake`` and ``/ui``; every other
request is an AWS API call. Also runs it under uvicorn for ``tidelake up``."""
from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Callable, Iterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tidelake import __version__
from tidelake.aws.gateway import Gateway
from tidelake.platform import Platform

if TYPE_CHECKING:
    import uvicorn

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def create_app(platform: Platform) -> Starlette:
    gateway = Gateway(platform)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, "services": gateway.service_names,
                             "data_dir": str(platform.settings.data_dir)})

    async def aws(request: Request) -> Response:
        return await gateway(request)

    return Starlette(routes=[
        Route("/_tidelake/health", health, methods=["GET"]),
        Route("/{path:path}", aws, methods=ALL_METHODS),
    ])


def _server(platform: Platform) -> "uvicorn.Server":
    import uvicorn

    class Server(uvicorn.Server):
        """Ctrl-C and SIGTERM stop gracefully and return, so the caller can flush and close the
        platform (uvicorn would re-raise the signal after shutdown and end the process first)."""

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
