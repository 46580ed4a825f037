"""The status document: what `wikistream status --output json` prints and `/api/status` serves."""

from __future__ import annotations

from typing import Any

from wikistream.lakehouse.inspect import lakehouse_status
from wikistream.lakehouse.store import Lakehouse
from wikistream.ops.health import health, kafka_partitions


def status_document(lakehouse: Lakehouse, max_lag: float | None = None) -> dict[str, Any]:
    """Tables, Kafka partitions, gates, components and `problems` (empty when healthy)."""
    tables = lakehouse_status(lakehouse)
    report = health(lakehouse, tables, max_lag)
    kafka = kafka_partitions(lakehouse)
    return {
        "catalog": lakehouse.describe(),
        "healthy": not report["problems"],
        "warehouse": lakehouse.settings.warehouse_shown,
        "tables": tables,
        **({"kafka": kafka} if kafka else {}),
        **report,
    }
