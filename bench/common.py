"""What every benchmark shares: a server under test, percentiles, and the figures table."""
from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def arguments(doc: str) -> argparse.Namespace:
    """The options every benchmark of a durable store takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds in all, for CI")
    parser.add_argument("--durability", default="fsync", choices=["fsync", "flush"])
    return parser.parse_args()


@contextmanager
def moto_server() -> Iterator[str | None]:
    """moto's server in this process, for the baselines: its URL, or None if moto is not installed."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


class ServerUnderTest:
    """`tidelake up` in its own process (as users run it) with a temporary data dir."""

    def __init__(self, **settings: str) -> None:
        self.settings = {f"TIDELAKE_{k.upper()}": v for k, v in settings.items()}
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="tidelake-bench-")

    def __enter__(self) -> str:
        env = {**os.environ, "TIDELAKE_TRANSITION_SECONDS": "0", "TIDELAKE_LOG_LEVEL": "warning", **self.settings}
        self.process = subprocess.Popen([sys.executable, "-m", "tidelake", "up", "--port", str(self.port),
                                         "--data-dir", str(Path(self._tmp.name) / "data")], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_tidelake/health", timeout=1):
                    return url
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._tmp.cleanup()


def machine_info() -> str:
    import platform
    return (f"{platform.node()}: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; load avg {os.getloadavg()[0]:.2f}")


def print_table(title: str, rows: list[tuple[str, str, str]]) -> None:
    """The figures, captioned with the machine they were measured on."""
    from rich.console import Console
    from rich.table import Table
    table = Table("measure", "figure", "detail", title=title, caption=machine_info())
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)
