"""The dashboard's views over one warehouse, each cached for `web.cache_s` seconds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from wikistream.lakehouse.inspect import lakehouse_status
from wikistream.lakehouse.store import Lakehouse
from wikistream.ops.health import kafka_partitions
from wikistream.ops.status import status_document
from wikistream.settings import Settings
from wikistream.web import views
from wikistream.web.cache import ViewCache
from wikistream.web.models import (
    Activity,
    AlertSent,
    Deletion,
    EditorMix,
    Gates,
    Overview,
    RiskEntry,
    UserEdit,
    WikiNow,
)

ACTIVITY_HOURS = 6.0


class Dashboard:
    """Read-only views of a warehouse; safe to call from many threads at once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ViewCache(settings.web.cache_s)
        self._lakehouse: Lakehouse | None = None
        self._lock = threading.Lock()

    @property
    def lakehouse(self) -> Lakehouse:
        """A read-only lakehouse; opened again while the warehouse has no catalog yet (the
        server may start before the pipeline creates it)."""
        with self._lock:
            if self._lakehouse is None or self._lakehouse.iceberg_catalog() is None:
                self._lakehouse = Lakehouse.reader(self.settings)
            return self._lakehouse

    # the cached views ---------------------------------------------------------------------

    def until(self) -> datetime:
        found = self.cache.get("until", None, lambda: views.data_until(self.lakehouse))
        return found or datetime.now(UTC)

    def windows(self, hours: float) -> pa.Table:
        until = self.until()
        return self.cache.get(
            "windows", (hours, until), lambda: views.recent_windows(self.lakehouse, until, hours)
        )

    def activity(self, hours: float = ACTIVITY_HOURS, wikis: int = 5) -> Activity:
        return self.cache.get(
            "activity",
            (hours, wikis),
            lambda: views.activity(self.windows(hours), self.until(), hours, wikis),
        )

    def top_wikis(self, limit: int = 10) -> list[WikiNow]:
        return self.cache.get(
            "top_wikis",
            limit,
            lambda: views.top_wikis(self.windows(ACTIVITY_HOURS), self.until(), limit),
        )

    def mix(self) -> EditorMix:
        return self.cache.get(
            "mix", None, lambda: views.editor_mix(self.windows(ACTIVITY_HOURS), self.until())
        )

    def risk(self, limit: int = 20) -> list[RiskEntry]:
        return self.cache.get(
            "risk", limit, lambda: views.risk_leaders(self.lakehouse, self.until(), limit)
        )

    def user_edits(self, user: str, limit: int = 50) -> list[UserEdit]:
        return self.cache.get(
            "user_edits",
            (user, limit),
            lambda: views.user_edits(self.lakehouse, self.until(), user, limit),
        )

    def deletions(self, limit: int = 20) -> list[Deletion]:
        return self.cache.get(
            "deletions", limit, lambda: views.large_deletions(self.lakehouse, self.until(), limit)
        )

    def gates(self) -> Gates:
        return self.cache.get("gates", None, lambda: views.gates(self.lakehouse))

    def tables(self) -> list[dict[str, Any]]:
        return self.cache.get("tables", None, lambda: lakehouse_status(self.lakehouse))

    def problems(self) -> list[str]:
        return self.cache.get(
            "problems", None, lambda: views.problems(self.lakehouse, self.tables())
        )

    def alerts(self, limit: int = 20) -> list[AlertSent]:
        return self.cache.get("alerts", limit, lambda: views.alerts_sent(self.lakehouse, limit))

    def status(self) -> dict[str, Any]:
        """The document of `wikistream status --output json`."""
        return self.cache.get("status", None, lambda: status_document(self.lakehouse))

    def kafka(self) -> list[dict[str, Any]]:
        return self.cache.get("kafka", None, lambda: kafka_partitions(self.lakehouse))

    def cached_overview_json(self) -> bytes | None:
        """`overview_json()` if it is at hand without computing (see ViewCache.peek)."""
        found, value = self.cache.peek("overview", None)
        return value if found else None

    def overview_json(self) -> bytes:
        """`overview()` serialized, cached: a poll costs no model building or encoding."""
        return self.cache.get("overview", None, lambda: self.overview().model_dump_json().encode())

    def overview(self) -> Overview:
        until = self.cache.get("until", None, lambda: views.data_until(self.lakehouse))
        status, problems = self.tables(), self.problems()
        return Overview(
            generated_at=datetime.now(UTC).isoformat(),
            refresh_s=self.settings.web.refresh_s,
            data_until=until.isoformat() if until else None,
            healthy=not problems,
            problems=problems,
            activity=self.activity(),
            top_wikis=self.top_wikis(),
            mix=self.mix(),
            risk=self.risk(),
            risk_model=self.cache.get("risk_model", None, views.risk_model),
            deletions=self.deletions(),
            gates=self.gates(),
            freshness=views.freshness(status),
            tables=views.table_health(status),
            alerts=self.alerts(),
        )

    def metrics_snapshot(self) -> dict[str, Any]:
        """What the /metrics gauges read (see web/exposition.py)."""
        status = self.tables()
        return {
            "tables": status,
            "freshness": views.freshness(status),
            "held": self.gates().held,
            "kafka": self.kafka(),
            "problems": self.problems(),
        }
