"""Platform: owns and wires the services, in-process. Everything works from a Python shell:

    >>> from tidelake import Platform, Settings
    >>> with Platform(Settings(data_dir=Path("/tmp/tl"))) as platform:
    ...     platform.streams.create_stream("retail-trans", 2)
"""
from __future__ import annotations

import fcntl
import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Callable

from tidelake.clock import Clock, SystemClock
from tidelake.config import Settings
from tidelake.delivery.service import DeliveryService
from tidelake.errors import InUse
from tidelake.functions.mappings import EventSourceMappings
from tidelake.functions.invoker import FunctionInvoker
from tidelake.functions.service import FunctionService
from tidelake.functions.schedules import Schedules
from tidelake.lake.catalog.crawler import CrawlerService
from tidelake.lake.catalog.store import Catalog
from tidelake.lake.objects import LocalObjectStore, ObjectStore, S3ObjectStore
from tidelake.query.executions import QueryExecutions
from tidelake.stream.store import StreamStore
from tidelake.tables.store import TableStore

if TYPE_CHECKING:
    from tidelake.query.engine import QueryEngine

log = logging.getLogger("tidelake")


class Platform:
    def __init__(self, settings: Settings | None = None, clock: Clock | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.clock = clock or SystemClock()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock(self.settings.data_dir)
        self.streams = StreamStore.open(self.settings, self.clock)
        self.objects = _object_store(self.settings)
        self.catalog = Catalog(self.settings.data_dir / "catalog" / "catalog.db", self.clock, self.settings.account_id)
        self.crawlers = CrawlerService(self.settings.data_dir / "catalog" / "crawlers.db", self.catalog, self.objects,
                                       self.clock)
        self.functions = FunctionService(self.settings, self.clock)
        self.mappings = EventSourceMappings(self.settings, self.clock, self.streams, self.functions, self.objects)
        # A Lambda processor's ARN names a registered function; it runs in its worker like any invocation.
        self.delivery = DeliveryService(self.settings, self.clock, self.streams, self.objects,
                                        FunctionInvoker(self.functions))
        self.queries = QueryExecutions(self.settings, self.clock, _query_engine(self), self.objects)
        self.schedules = Schedules(self.settings, self.clock, self.functions, self.streams, self.delivery)
        self.tables = TableStore(self.settings.data_dir / "tables" / "tables.db", self.clock, self.settings.region,
                                 self.settings.account_id, fsync=self.settings.durability == "fsync")
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> "Platform":
        """Start the background workers: retention, crawler and rule schedules, one worker per delivery stream."""
        self._spawn("retention", self.settings.retention_check_seconds, self.streams.trim_expired)
        self._spawn("crawler-schedules", self.settings.crawler_schedule_seconds, self.crawlers.tick)
        self._spawn("schedules", self.settings.schedule_check_seconds, self.schedules.tick)
        self.delivery.start()
        self.mappings.start()
        return self

    def _spawn(self, name: str, every: float, task: Callable[[], object]) -> None:
        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    task()
                except Exception:  # a failing pass must not end the worker; the next pass retries
                    log.exception("background task %s failed", name)
        thread = threading.Thread(target=loop, name=f"tidelake-{name}", daemon=True)
        thread.start()
        self._workers.append(thread)

    def close(self) -> None:
        """Stop workers, then flush and close storage."""
        self._stop.set()
        for thread in self._workers:
            thread.join()
        self.delivery.close()  # workers finish their flush (or leave its intent) before the log closes
        self.queries.close()  # before the catalog: a running query may still read it
        self.crawlers.close()  # a running crawl ends (CANCELLED) before the catalog closes
        self.schedules.close()  # after the workers: no tick is firing
        self.mappings.close()  # before functions and streams: a batch in flight ends, or stays uncommitted
        self.functions.close()  # after everything that invokes functions: their workers stop last
        self.tables.close()  # after the workers and functions that may read or write a table
        self.streams.close()
        self.catalog.close()
        self._lock_file.close()

    def __enter__(self) -> "Platform":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _lock(data_dir: Path) -> IO[bytes]:
    """One platform per data dir: two would each keep their own view of the same files."""
    handle = open(data_dir / ".lock", "wb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InUse(f"Another tidelake process is using {data_dir.resolve()}. Stop it, or choose another "
                    "--data-dir.") from None
    return handle


def _query_engine(platform: Platform) -> "QueryEngine":
    from tidelake.query.engine import QueryEngine  # DuckDB and sqlglot load with the engine
    return QueryEngine(platform.catalog, platform.settings.data_dir / "lake", platform.objects,
                       timeout_seconds=platform.settings.query_timeout_seconds)


def _object_store(settings: Settings) -> ObjectStore:
    if settings.lake_endpoint_url:
        return S3ObjectStore(settings.lake_endpoint_url, settings.lake_access_key or None,
                             settings.lake_secret_key or None, settings.lake_region, dict(settings.lake_bucket_map))
    return LocalObjectStore(settings.data_dir / "lake", fsync=settings.durability == "fsync")
