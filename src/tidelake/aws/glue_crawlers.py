"""Glue crawler operations (``AWSGlue.*Crawler*``): translate, call the CrawlerService, answer.

A mixin of ``GlueApi``: wire shapes (Targets, SchemaChangePolicy, RecrawlPolicy, the ``Schedule``
string) become ``tidelake.lake.catalog.crawler`` dataclasses here; outputs are those dataclasses,
whose attributes are the Glue members in snake_case. Only S3 targets are crawled.
"""
from __future__ import annotations

from typing import Any

from tidelake.errors import InvalidArgument, Unsupported
from tidelake.lake.catalog.crawler import (Crawler, CrawlerService, CrawlerTargets, RecrawlPolicy, S3Target, Schedule,
                                           SchemaChangePolicy)

P = dict[str, Any]
DEFAULT_CRAWLER_PAGE = 100
_UNSUPPORTED_TARGETS = ("JdbcTargets", "MongoDBTargets", "DynamoDBTargets", "CatalogTargets", "DeltaTargets",
                        "IcebergTargets", "HudiTargets")


class GlueCrawlersMixin:
    crawlers: CrawlerService | None

    def _crawlers(self) -> CrawlerService:
        if self.crawlers is None:
            raise Unsupported("Crawlers are not available in this tidelake process.")
        return self.crawlers

    def create_crawler(self, p: P) -> None:
        if not p.get("DatabaseName"):
            raise InvalidArgument("DatabaseName is required for a crawler with S3 targets.")
        self._crawlers().create_crawler(Crawler(
            name=p["Name"], role=p["Role"], database_name=p["DatabaseName"], targets=_targets(p["Targets"]),
            description=p.get("Description"), classifiers=p.get("Classifiers") or [],
            table_prefix=p.get("TablePrefix"), schema_change_policy=_schema_policy(p.get("SchemaChangePolicy")),
            recrawl_policy=_recrawl(p.get("RecrawlPolicy")), schedule=_schedule(p.get("Schedule")),
            configuration=p.get("Configuration")))

    def get_crawler(self, p: P) -> P:
        return {"Crawler": self._crawlers().get_crawler(p["Name"])}

    def get_crawlers(self, p: P) -> P:
        page, token = _crawler_page(self._crawlers().list_crawlers(), lambda c: c.name, p)
        return {"Crawlers": page, "NextToken": token}

    def list_crawlers(self, p: P) -> P:
        page, token = _crawler_page(self._crawlers().list_crawlers(), lambda c: c.name, p)
        return {"CrawlerNames": [c.name for c in page], "NextToken": token}

    def batch_get_crawlers(self, p: P) -> P:
        known = {c.name: c for c in self._crawlers().list_crawlers()}
        return {"Crawlers": [known[n] for n in p["CrawlerNames"] if n in known],
                "CrawlersNotFound": [n for n in p["CrawlerNames"] if n not in known]}

    def update_crawler(self, p: P) -> None:
        changes: P = {}
        simple = {"Role": "role", "DatabaseName": "database_name", "Description": "description",
                  "Classifiers": "classifiers", "TablePrefix": "table_prefix", "Configuration": "configuration"}
        for member, attr in simple.items():
            if member in p:
                changes[attr] = p[member]
        if "Targets" in p:
            changes["targets"] = _targets(p["Targets"])
        if "SchemaChangePolicy" in p:
            changes["schema_change_policy"] = _schema_policy(p["SchemaChangePolicy"])
        if "RecrawlPolicy" in p:
            changes["recrawl_policy"] = _recrawl(p["RecrawlPolicy"])
        if "Schedule" in p:
            changes["schedule"] = _schedule(p["Schedule"])
        self._crawlers().update_crawler(p["Name"], **changes)

    def delete_crawler(self, p: P) -> None:
        self._crawlers().delete_crawler(p["Name"])

    def start_crawler(self, p: P) -> None:
        self._crawlers().start_crawler(p["Name"])

    def stop_crawler(self, p: P) -> None:
        self._crawlers().stop_crawler(p["Name"])

    def get_crawler_metrics(self, p: P) -> P:
        metrics = self._crawlers().get_crawler_metrics(p.get("CrawlerNameList") or None)
        page, token = _crawler_page(metrics, lambda m: m.crawler_name, p)
        # The shape holds no timestamp, so the serializer passes dicts through: build them here.
        return {"CrawlerMetricsList": [{"CrawlerName": m.crawler_name, "TimeLeftSeconds": m.time_left_seconds,
                                        "StillEstimating": m.still_estimating,
                                        "LastRuntimeSeconds": m.last_runtime_seconds,
                                        "MedianRuntimeSeconds": m.median_runtime_seconds,
                                        "TablesCreated": m.tables_created, "TablesUpdated": m.tables_updated,
                                        "TablesDeleted": m.tables_deleted} for m in page],
                "NextToken": token}


def _targets(t: P) -> CrawlerTargets:
    others = [name for name in _UNSUPPORTED_TARGETS if t.get(name)]
    if others:
        raise Unsupported(f"tidelake crawls S3 targets only, not {', '.join(others)}.")
    return CrawlerTargets([S3Target(s["Path"], list(s.get("Exclusions") or []), s.get("SampleSize"))
                           for s in t.get("S3Targets") or [] if s.get("Path")])


def _schema_policy(p: P | None) -> SchemaChangePolicy:
    p = p or {}
    return SchemaChangePolicy(p.get("UpdateBehavior") or "UPDATE_IN_DATABASE",
                              p.get("DeleteBehavior") or "DEPRECATE_IN_DATABASE")


def _recrawl(p: P | None) -> RecrawlPolicy:
    return RecrawlPolicy((p or {}).get("RecrawlBehavior") or "CRAWL_EVERYTHING")


def _schedule(expression: str | None) -> Schedule | None:
    return Schedule(expression) if expression else None


def _crawler_page(items: list[Any], name: Any, p: P) -> tuple[list[Any], str | None]:
    from tidelake.aws.glue import _page  # one pagination for the whole Glue API
    return _page(items, name, p, DEFAULT_CRAWLER_PAGE)
