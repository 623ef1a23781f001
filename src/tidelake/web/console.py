"""The console's overview page: what the platform holds right now, refreshed every few seconds.

Server-rendered from the in-process Platform (no API round trips), escaped with ``html.escape``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from html import escape

from tidelake import __version__
from tidelake.platform import Platform

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2733;background:#f7f9fb}
h1{font-size:1.4rem;margin:0 0 .2rem} h2{font-size:1.05rem;margin:1.6rem 0 .5rem}
table{border-collapse:collapse;background:#fff;min-width:40rem} td,th{padding:.35rem .8rem;border-bottom:1px solid #e3e8ee;text-align:left}
th{font-weight:600;background:#eef2f6} .muted{color:#6b7785} code{background:#eef2f6;padding:0 .3rem;border-radius:3px}
"""


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _utc(seconds: float | None) -> str:
    if seconds is None or seconds == float("inf"):
        return "-"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _text(value: object) -> str:
    return str(getattr(value, "value", value))


def overview(platform: Platform, endpoint_url: str) -> str:
    streams = [[s.stream_name, platform.streams.status(s).value, s.stream_mode.value, len(s.open_shards),
                f"{s.retention_period_hours} h", _utc(s.created_at)]
               for s in platform.streams.list_streams()]
    deliveries = []
    for d in platform.delivery.list_delivery_streams():
        m = platform.delivery.metrics(d.delivery_stream_name)
        deliveries.append([d.delivery_stream_name, d.source_type.value, f"s3://{d.destination.bucket}/{d.destination.prefix or ''}",
                           f"{m.delivered_records:,}", f"{m.delivered_objects:,}", f"{m.backlog_records:,}",
                           f"{m.oldest_undelivered_age_seconds:.1f} s", sum(m.failed_records.values())])
    buckets = [[b.name] for b in platform.objects.list_buckets()]
    functions = [[f.function_name, f.runtime, f.handler, f"{f.timeout} s", "{} busy, {} idle".format(
        *platform.functions.workers(f.function_name)), _utc(f.last_modified)] for f in platform.functions.list_functions()]
    mappings = [[m.uuid, platform.streams.stream_name_from_arn(m.event_source_arn),
                 m.function_arn.rsplit(":", 1)[-1], _text(m.state), m.batch_size, m.last_processing_result]
                for m in platform.mappings.list_event_source_mappings()[0]]
    rules = [[r.name, r.schedule_expression or "(event pattern)", r.state,
              ", ".join(t.arn.rsplit(":", 1)[-1] for t in platform.schedules.list_targets_by_rule(r.name)) or "-",
              _utc(platform.schedules.next_slot(r.name))] for r in platform.schedules.list_rules()]
    tables = []
    for name in platform.tables.list_tables():
        t = platform.tables.describe_table(name)
        keys = t.hash_key.name + (f", {t.range_key.name}" if t.range_key else "")
        tables.append([name, keys, f"{t.item_count:,}", f"{t.table_size_bytes:,} B"])
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>tidelake</title><style>{_STYLE}</style></head><body>
<h1>tidelake</h1><p class="muted">version {escape(__version__)} &middot; endpoint <code>{escape(endpoint_url)}</code>
&middot; data in <code>{escape(str(platform.settings.data_dir.resolve()))}</code> &middot; <a href="/_tidelake/metrics">metrics</a></p>
<h2>Streams</h2>{_table(["stream", "status", "mode", "open shards", "retention", "created (UTC)"], streams,
                        "No streams yet: aws kinesis create-stream --stream-name NAME --shard-count 1 --endpoint-url " + endpoint_url)}
<h2>Delivery streams</h2>{_table(["delivery stream", "source", "destination", "delivered records", "objects", "backlog",
                                  "freshness", "failed records"], deliveries, "No delivery streams yet.")}
<h2>Lake buckets</h2>{_table(["bucket"], buckets, "No buckets yet.")}
<h2>Functions</h2>{_table(["function", "runtime", "handler", "timeout", "workers", "modified (UTC)"], functions,
                          "No functions yet: tidelake functions create NAME --handler module.function --code DIR")}
<h2>Event source mappings</h2>{_table(["uuid", "stream", "function", "state", "batch size", "last result"], mappings,
                                      "No event source mappings yet.")}
<h2>Schedules</h2>{_table(["rule", "schedule", "state", "targets", "next (UTC)"], rules, "No rules yet.")}
<h2>Key-value tables</h2>{_table(["table", "key", "items", "size"], tables, "No tables yet.")}
</body></html>"""
