"""What this process counts while it runs, as Prometheus metrics (served at `/metrics`).

The components count into prometheus_client's default registry; `web/` serves it, together
with what it reads from the lakehouse at scrape time (rows, files, freshness: see
`web/exposition.py`). Counting is a few atomic adds: it costs nothing when nobody scrapes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series: noise

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

EVENTS_READ = Counter("wikistream_events_read", "Records read from the source by bronze.")
EVENTS_ACCEPTED = Counter("wikistream_events_accepted", "Events committed to bronze.events.")
EVENTS_QUARANTINED = Counter(
    "wikistream_events_quarantined", "Records committed to bronze.quarantine (dead letters)."
)
EVENTS_DROPPED = Counter(
    "wikistream_events_dropped",
    "Records bronze dropped on purpose (canary, filtered domain or type, duplicate, window).",
    ["reason"],
)
COMMIT_SECONDS = Histogram(
    "wikistream_commit_seconds", "Duration of one bronze commit (Parquet and catalog).",
    buckets=_SECONDS,
)  # fmt: skip
BATCH_EVENTS = Histogram(
    "wikistream_batch_events", "Records per bronze commit.",
    buckets=(1, 10, 100, 500, 1000, 5000, 10_000, 50_000, 100_000),
)  # fmt: skip
CYCLE_SECONDS = Histogram(
    "wikistream_cycle_seconds", "Duration of a silver or gold cycle (all its tables).",
    ["layer"], buckets=_SECONDS,
)  # fmt: skip
GATE_CHECKS = Counter(
    "wikistream_gate_checks", "Quality checks evaluated by the gates, by verdict.",
    ["table", "check", "verdict"],
)  # fmt: skip
GATE_RUNS = Counter(
    "wikistream_gate_runs", "Gate decisions: promoted, held, released.", ["table", "gate"]
)
RESTARTS = Counter(
    "wikistream_restarts", "Restarts of a component of `wikistream run`.", ["component"]
)
ALERTS = Counter(
    "wikistream_alerts", "Alert deliveries per channel: delivered or failed.",
    ["channel", "outcome"],
)  # fmt: skip
SSE_RECONNECTS = Counter(
    "wikistream_sse_reconnects", "Times the SSE client reconnected after an interruption."
)
RUNNING = Gauge(
    "wikistream_run_running", "1 while a pipeline (`wikistream run`) runs in this process."
)
WEB_CACHE_MISSES = Counter(
    "wikistream_web_cache_misses",
    "Times a dashboard view was computed (from the lakehouse or other views), by view.",
    ["view"],
)
LIFTWING_SCORED = Counter("wikistream_liftwing_scored", "Edits LiftWing scored.")
LIFTWING_DROPPED = Counter(
    "wikistream_liftwing_dropped",
    "Edits left unscored: queue full, the service failing, or an answer that was no score.",
    ["reason"],
)
