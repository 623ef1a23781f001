"""Crawlers: definitions, runs on a background thread, schedules, metrics; durable in SQLite.

    crawlers = CrawlerService(data_dir / "catalog" / "crawlers.db", catalog, objects, clock)
    crawlers.create_crawler(Crawler("retail", role="r", database_name="lake",
                                    targets=CrawlerTargets([S3Target("s3://raw/json-data/")])))
    crawlers.start_crawler("retail"); crawlers.wait("retail")

States READY -> RUNNING -> (STOPPING ->) READY, one run at a time per crawler. A run is a
``crawl.CrawlRun``. Scheduled crawlers start when ``tick`` finds their cron expression due (AWS's
six-field ``cron(m h dom mon dow year)``, in UTC, translated for croniter). Model attributes are the
Glue members in snake_case, so the wire layer returns them as they are.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import statistics
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tidelake import sqlite
from tidelake.clock import Clock
from tidelake.lake.catalog.crawl import Cancelled, CrawlRun, CrawlSpec
from tidelake.lake.catalog.errors import (CrawlerAlreadyExists, CrawlerNotFound, CrawlerNotRunning, CrawlerRunning,
                                          CrawlerStopping, InvalidCrawler)
from tidelake.lake.catalog.store import Catalog
from tidelake.lake.objects import ObjectStore
from tidelake.schedule_expressions import CronSchedule, InvalidScheduleExpression, parse_schedule

log = logging.getLogger("tidelake.crawler")
UPDATE_BEHAVIORS = ("UPDATE_IN_DATABASE", "LOG")
DELETE_BEHAVIORS = ("DEPRECATE_IN_DATABASE", "DELETE_FROM_DATABASE", "LOG")
RECRAWL_BEHAVIORS = ("CRAWL_EVERYTHING", "CRAWL_NEW_FOLDERS_ONLY")


@dataclass(slots=True)
class S3Target:
    path: str
    exclusions: list[str] = field(default_factory=list)
    sample_size: int | None = None  # files classified per leaf folder (None: all)


@dataclass(slots=True)
class CrawlerTargets:
    s3_targets: list[S3Target] = field(default_factory=list)


@dataclass(slots=True)
class SchemaChangePolicy:
    update_behavior: str = "UPDATE_IN_DATABASE"
    delete_behavior: str = "DEPRECATE_IN_DATABASE"


@dataclass(slots=True)
class RecrawlPolicy:
    recrawl_behavior: str = "CRAWL_EVERYTHING"


@dataclass(slots=True)
class Schedule:
    schedule_expression: str
    state: str = "SCHEDULED"  # or NOT_SCHEDULED


@dataclass(slots=True)
class LastCrawlInfo:
    status: str  # SUCCEEDED | CANCELLED | FAILED
    start_time: float
    error_message: str | None = None
    log_group: str = "/aws-glue/crawlers"
    log_stream: str = ""
    message_prefix: str = ""


@dataclass(slots=True)
class Crawler:
    name: str
    role: str
    database_name: str
    targets: CrawlerTargets
    description: str | None = None
    classifiers: list[str] = field(default_factory=list)
    table_prefix: str | None = None
    schema_change_policy: SchemaChangePolicy = field(default_factory=SchemaChangePolicy)
    recrawl_policy: RecrawlPolicy = field(default_factory=RecrawlPolicy)
    schedule: Schedule | None = None
    configuration: str | None = None  # Glue's crawler configuration JSON
    state: str = "READY"  # READY | RUNNING | STOPPING
    crawl_elapsed_time: int = 0  # milliseconds, while running
    creation_time: float = 0.0
    last_updated: float = 0.0
    last_crawl: LastCrawlInfo | None = None
    version: int = 1


@dataclass(slots=True)
class CrawlerMetrics:
    crawler_name: str
    time_left_seconds: float = 0.0
    still_estimating: bool = False
    last_runtime_seconds: float = 0.0
    median_runtime_seconds: float = 0.0
    tables_created: int = 0
    tables_updated: int = 0
    tables_deleted: int = 0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS crawlers (name TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS runs (crawler TEXT NOT NULL, started REAL NOT NULL, seconds REAL NOT NULL,
    created INTEGER NOT NULL, updated INTEGER NOT NULL, deleted INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS folders (crawler TEXT NOT NULL, location TEXT NOT NULL, PRIMARY KEY (crawler, location));
"""


@dataclass(slots=True)
class _Active:
    thread: threading.Thread
    stop: threading.Event
    started: float


class CrawlerService:
    def __init__(self, path: Path, catalog: Catalog, objects: ObjectStore, clock: Clock) -> None:
        self.catalog, self.objects, self.clock = catalog, objects, clock
        self._lock = threading.RLock()
        self._conn = sqlite.connect(path)
        self._conn.executescript(_SCHEMA)
        self._active: dict[str, _Active] = {}
        self._due: dict[str, float] = {}
        for crawler in self.list_crawlers():
            if crawler.state != "READY":  # the process stopped during a run
                crawler.state = "READY"
                crawler.last_crawl = LastCrawlInfo("FAILED", crawler.last_crawl.start_time if crawler.last_crawl
                                                   else self.clock.now(), "The crawl was interrupted.")
                self._save(crawler)
            self._plan_schedule(crawler)

    def close(self) -> None:
        for active in list(self._active.values()):
            active.stop.set()
            active.thread.join()
        with self._lock:
            self._conn.close()

    # -- definitions ----------------------------------------------------------------------------

    def create_crawler(self, crawler: Crawler) -> Crawler:
        _validate(crawler)
        now = self.clock.now()
        crawler = dataclasses.replace(crawler, state="READY", creation_time=now, last_updated=now, version=1,
                                      last_crawl=None, crawl_elapsed_time=0)
        with self._lock:
            if self._conn.execute("SELECT 1 FROM crawlers WHERE name = ?", (crawler.name,)).fetchone():
                raise CrawlerAlreadyExists(crawler.name)
            self._conn.execute("INSERT INTO crawlers VALUES (?, ?)", (crawler.name, orjson.dumps(crawler)))
            self._plan_schedule(crawler)
        return crawler

    def get_crawler(self, name: str) -> Crawler:
        with self._lock:
            row = self._conn.execute("SELECT doc FROM crawlers WHERE name = ?", (name,)).fetchone()
            if not row:
                raise CrawlerNotFound(name)
            crawler = _crawler(orjson.loads(row[0]))
            active = self._active.get(name)
        if active is not None:
            crawler.crawl_elapsed_time = int((self.clock.now() - active.started) * 1000)
        return crawler

    def list_crawlers(self) -> list[Crawler]:
        with self._lock:
            names = [n for (n,) in self._conn.execute("SELECT name FROM crawlers ORDER BY name")]
        return [self.get_crawler(n) for n in names]

    def update_crawler(self, name: str, **changes: Any) -> Crawler:
        """Replace the given members (UpdateCrawler leaves the others as they are)."""
        with self._lock:
            crawler = self.get_crawler(name)
            if crawler.state != "READY":
                raise CrawlerRunning(name)
            crawler = dataclasses.replace(crawler, **changes, last_updated=self.clock.now(),
                                          version=crawler.version + 1)
            _validate(crawler)
            self._save(crawler)
            self._plan_schedule(crawler)
            return crawler

    def delete_crawler(self, name: str) -> None:
        with self._lock:
            if self.get_crawler(name).state != "READY":
                raise CrawlerRunning(name)
            for table in ("crawlers", "runs", "folders"):
                self._conn.execute(f"DELETE FROM {table} WHERE {'name' if table == 'crawlers' else 'crawler'} = ?",
                                   (name,))
            self._due.pop(name, None)

    def _save(self, crawler: Crawler) -> None:
        with self._lock:
            self._conn.execute("UPDATE crawlers SET doc = ? WHERE name = ?",
                               (orjson.dumps(dataclasses.replace(crawler, crawl_elapsed_time=0)), crawler.name))

    # -- runs -----------------------------------------------------------------------------------

    def start_crawler(self, name: str) -> None:
        with self._lock:
            crawler = self.get_crawler(name)
            if crawler.state == "STOPPING":
                raise CrawlerStopping(name)
            if crawler.state != "READY":
                raise CrawlerRunning(name)
            crawler.state = "RUNNING"  # LastCrawl keeps the previous run's outcome until this one ends
            self._save(crawler)
            stop = threading.Event()
            thread = threading.Thread(target=self._run, args=(name, stop), name=f"tidelake-crawler-{name}",
                                      daemon=True)
            self._active[name] = _Active(thread, stop, self.clock.now())
            thread.start()

    def stop_crawler(self, name: str) -> None:
        with self._lock:
            crawler = self.get_crawler(name)
            if crawler.state == "STOPPING":
                raise CrawlerStopping(name)
            if crawler.state != "RUNNING" or name not in self._active:
                raise CrawlerNotRunning(name)
            crawler.state = "STOPPING"
            self._save(crawler)
            self._active[name].stop.set()

    def wait(self, name: str, timeout: float | None = None) -> Crawler:
        """Block until the crawler's current run (if any) ends; returns the crawler."""
        active = self._active.get(name)
        if active is not None:
            active.thread.join(timeout)
        return self.get_crawler(name)

    def _run(self, name: str, stop: threading.Event) -> None:
        crawler = self.get_crawler(name)
        started = self.clock.now()
        error, status = None, "SUCCEEDED"
        result = None
        try:
            result = CrawlRun(_spec(crawler), self.catalog, self.objects, self.clock, self._seen(name),
                              stop.is_set).run()
            if stop.is_set():
                status = "CANCELLED"
        except Cancelled:
            status = "CANCELLED"
        except Exception as failure:  # reported in LastCrawl, as Glue does; the service lives on
            log.exception("crawler %s failed", name)
            status, error = "FAILED", f"{type(failure).__name__}: {failure}"
        seconds = max(0.0, self.clock.now() - started)
        with self._lock:
            if result is not None:
                self._conn.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)", (
                    name, started, seconds, result.tables_created, result.tables_updated, result.tables_deleted))
                if status == "SUCCEEDED":
                    self._conn.executemany("INSERT OR IGNORE INTO folders VALUES (?, ?)",
                                           [(name, f) for f in sorted(result.folders)])
            try:
                crawler = self.get_crawler(name)
            except CrawlerNotFound:
                self._active.pop(name, None)
                return
            crawler.state = "READY"
            crawler.last_crawl = LastCrawlInfo(status, started, error, log_stream=name,
                                               message_prefix=str(uuid.uuid4()))
            self._save(crawler)
            self._active.pop(name, None)

    def _seen(self, name: str) -> set[str]:
        with self._lock:
            return {f for (f,) in self._conn.execute("SELECT location FROM folders WHERE crawler = ?", (name,))}

    def get_crawler_metrics(self, names: list[str] | None = None) -> list[CrawlerMetrics]:
        crawlers = [self.get_crawler(n) for n in names] if names else self.list_crawlers()
        out = []
        for crawler in crawlers:
            with self._lock:
                runs = self._conn.execute("SELECT seconds, created, updated, deleted FROM runs WHERE crawler = ? "
                                          "ORDER BY started", (crawler.name,)).fetchall()
            metrics = CrawlerMetrics(crawler.name)
            if runs:
                seconds, metrics.tables_created, metrics.tables_updated, metrics.tables_deleted = runs[-1]
                metrics.last_runtime_seconds = seconds
                metrics.median_runtime_seconds = statistics.median(r[0] for r in runs)
            if crawler.state != "READY":
                elapsed = crawler.crawl_elapsed_time / 1000
                metrics.still_estimating = not runs
                metrics.time_left_seconds = max(0.0, metrics.median_runtime_seconds - elapsed) if runs else 0.0
            out.append(metrics)
        return out

    # -- schedules ------------------------------------------------------------------------------

    def _plan_schedule(self, crawler: Crawler) -> None:
        schedule = crawler.schedule
        if schedule is None or schedule.state != "SCHEDULED":
            self._due.pop(crawler.name, None)
            return
        self._due[crawler.name] = next_run(schedule.schedule_expression, self.clock.now())

    def tick(self) -> list[str]:
        """Start the scheduled crawlers that are due (a platform worker calls this); returns them."""
        now = self.clock.now()
        started = []
        with self._lock:
            due = [name for name, at in self._due.items() if at <= now]
        for name in due:
            crawler = self.get_crawler(name)
            if crawler.schedule is not None:
                self._due[name] = next_run(crawler.schedule.schedule_expression, now)
            try:
                self.start_crawler(name)
                started.append(name)
            except (CrawlerRunning, CrawlerStopping):
                log.info("crawler %s is still running; its scheduled run is skipped", name)
        return started


# -- cron -----------------------------------------------------------------------------------------

def cron_schedule(expression: str) -> CronSchedule:
    """A crawler's schedule: AWS's six-field cron only (Glue crawlers take no rate expressions)."""
    try:
        schedule = parse_schedule(expression)
    except InvalidScheduleExpression as error:
        raise InvalidCrawler(f"Invalid schedule expression: {expression}. {error.reason}") from None
    if not isinstance(schedule, CronSchedule):
        raise InvalidCrawler(f"Invalid schedule expression: {expression}. Use cron(Minutes Hours Day-of-month "
                             "Month Day-of-week Year), for example cron(15 12 * * ? *).")
    return schedule


def next_run(expression: str, after: float) -> float:
    """The next time (epoch seconds, UTC) the expression fires after ``after``; inf if never."""
    return cron_schedule(expression).first_after(after)


# -- validation and documents ---------------------------------------------------------------------

def _validate(crawler: Crawler) -> None:
    if not crawler.targets.s3_targets:
        raise InvalidCrawler("Crawler must have at least one target (S3Targets).")
    for target in crawler.targets.s3_targets:
        if not re.match(r"(?i)s3a?://[^/]+", target.path or ""):
            raise InvalidCrawler(f"Invalid S3 path {target.path!r}: expected s3://bucket/prefix.")
    policy, recrawl = crawler.schema_change_policy, crawler.recrawl_policy
    if policy.update_behavior not in UPDATE_BEHAVIORS or policy.delete_behavior not in DELETE_BEHAVIORS \
            or recrawl.recrawl_behavior not in RECRAWL_BEHAVIORS:
        raise InvalidCrawler("Invalid SchemaChangePolicy or RecrawlPolicy.")
    if recrawl.recrawl_behavior == "CRAWL_NEW_FOLDERS_ONLY" and (
            policy.update_behavior != "LOG" or policy.delete_behavior != "LOG"):
        raise InvalidCrawler("The SchemaChangePolicy for Crawl New Folders Only Amazon S3 target can have only LOG "
                             "DeleteBehavior value and LOG UpdateBehavior value.")
    if crawler.schedule is not None:
        cron_schedule(crawler.schedule.schedule_expression)
    _configuration(crawler.configuration)


def _configuration(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        config = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidCrawler("Crawler configuration not valid: it is not JSON.") from None
    if not isinstance(config, dict):
        raise InvalidCrawler("Crawler configuration not valid: expected a JSON object.")
    return config


def _spec(crawler: Crawler) -> CrawlSpec:
    config = _configuration(crawler.configuration)
    grouping = (config.get("Grouping") or {}).get("TableGroupingPolicy")
    tables = ((config.get("CrawlerOutput") or {}).get("Tables") or {}).get("AddOrUpdateBehavior")
    return CrawlSpec(
        name=crawler.name, database=crawler.database_name,
        targets=[(t.path, list(t.exclusions), t.sample_size) for t in crawler.targets.s3_targets],
        table_prefix=crawler.table_prefix or "", update_behavior=crawler.schema_change_policy.update_behavior,
        delete_behavior=crawler.schema_change_policy.delete_behavior,
        new_folders_only=crawler.recrawl_policy.recrawl_behavior == "CRAWL_NEW_FOLDERS_ONLY",
        combine_compatible=grouping == "CombineCompatibleSchemas", merge_new_columns=tables == "MergeNewColumns")


def _crawler(doc: dict[str, Any]) -> Crawler:
    doc["targets"] = CrawlerTargets([S3Target(**t) for t in (doc.get("targets") or {}).get("s3_targets", [])])
    doc["schema_change_policy"] = SchemaChangePolicy(**(doc.get("schema_change_policy") or {}))
    doc["recrawl_policy"] = RecrawlPolicy(**(doc.get("recrawl_policy") or {}))
    doc["schedule"] = Schedule(**doc["schedule"]) if doc.get("schedule") else None
    doc["last_crawl"] = LastCrawlInfo(**doc["last_crawl"]) if doc.get("last_crawl") else None
    return Crawler(**doc)
