"""Platform metrics in the Prometheus text exposition format (``GET /_tidelake/metrics``)."""
from __future__ import annotations

from tidelake.platform import Platform


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(platform: Platform) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP tidelake_{name} {help_}")
        lines.append(f"# TYPE tidelake_{name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"tidelake_{name}{{{text}}} {value}")

    streams = platform.delivery.list_delivery_streams()
    snapshots = [(s.delivery_stream_name, platform.delivery.metrics(s.delivery_stream_name)) for s in streams]
    for field, kind, help_ in (
            ("incoming_records", "counter", "Records received by the delivery stream."),
            ("incoming_bytes", "counter", "Bytes received by the delivery stream."),
            ("delivered_records", "counter", "Records written to the lake."),
            ("delivered_bytes", "counter", "Bytes of objects written to the lake."),
            ("delivered_objects", "counter", "Objects written to the lake."),
            ("backlog_records", "gauge", "Records received but not yet delivered."),
            ("oldest_undelivered_age_seconds", "gauge", "Data freshness: age of the oldest undelivered record.")):
        metric(f"delivery_{field}", kind, help_,
               [({"delivery_stream": name}, float(getattr(m, field))) for name, m in snapshots])
    metric("delivery_failed_records", "counter", "Records written under the error prefix, by error output type.",
           [({"delivery_stream": name, "type": kind}, float(n)) for name, m in snapshots
            for kind, n in m.failed_records.items()])
    metric("delivery_write_failures", "counter", "Failed attempts to write an object (retried), by error.",
           [({"delivery_stream": name, "error": kind}, float(n)) for name, m in snapshots
            for kind, n in m.write_failures.items()])
    metric("stream_open_shards", "gauge", "Open shards per stream.",
           [({"stream": s.stream_name}, float(len(s.open_shards))) for s in platform.streams.list_streams()])
    return "\n".join(lines) + "\n"
