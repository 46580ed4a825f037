"""`/metrics`: this process's counters plus what the lakehouse says at scrape time.

Table sizes, freshness and held gates come from the (cached) status views, so a scrape costs
the lakehouse at most one read per cache interval, and `wikistream serve` beside a running
pipeline reports them as well as `run --serve` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Snapshot = Callable[[], dict[str, Any]]


class LakehouseCollector(Collector):
    """Gauges from a snapshot of the lakehouse: tables, layers, gates, Kafka lag, health."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self._snapshot()
        tables = state["tables"]
        per_table = {
            "rows": "Rows in the table (its current snapshot).",
            "data_files": "Data files in the table.",
            "small_files": "Data files below the compaction threshold.",
            "snapshots": "Snapshots the table keeps.",
            "seconds_since_commit": "Seconds since the table's last commit.",
        }
        for key, text in per_table.items():
            family = GaugeMetricFamily(f"wikistream_table_{key}", text, labels=["table"])
            for t in tables:
                if t["exists"] and t.get(key) is not None:
                    family.add_metric([t["table"]], float(t[key]))
            yield family
        lag = GaugeMetricFamily(
            "wikistream_freshness_lag_seconds",
            "How far a layer's newest event is behind now (its stalest table).",
            labels=["layer", "table"],
        )
        for layer in state["freshness"]:
            if layer.lag_s is not None:
                lag.add_metric([layer.layer, layer.table], layer.lag_s)
        yield lag
        held = GaugeMetricFamily(
            "wikistream_gate_held_batches", "Batches a quality gate holds now.", labels=["table"]
        )
        counts: dict[str, int] = {t["table"]: 0 for t in tables if t["exists"]}
        for batch in state["held"]:
            counts[batch["table"]] = counts.get(batch["table"], 0) + 1
        for table, count in sorted(counts.items()):
            held.add_metric([table], count)
        yield held
        kafka = GaugeMetricFamily(
            "wikistream_kafka_lag_messages",
            "Messages in a partition not yet in bronze.",
            labels=["topic", "partition"],
        )
        for row in state["kafka"]:
            if row["lag"] is not None:
                kafka.add_metric([row["topic"], str(row["partition"])], row["lag"])
        yield kafka
        healthy = GaugeMetricFamily(
            "wikistream_healthy", "1 when `wikistream status` would exit 0."
        )
        healthy.add_metric([], 0.0 if state["problems"] else 1.0)
        yield healthy


def exposition(lakehouse_registry: CollectorRegistry) -> bytes:
    """The text format: this process's counters, then the lakehouse gauges."""
    return generate_latest(REGISTRY) + generate_latest(lakehouse_registry)
