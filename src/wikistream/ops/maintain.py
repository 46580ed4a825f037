"""`wikistream maintain`: compaction, snapshot expiry and orphan removal for every table,
without breaking the incremental positions of the layers above.

Expiry never removes a snapshot a consumer still needs: the cutoff moves back to the oldest
snapshot another layer stored as its position, and a source position about to expire is
first carried forward in an empty snapshot, so every writer resumes where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from wikistream.lakehouse.maintenance import (
    CompactionReport,
    ExpiryReport,
    OrphanReport,
    compact,
    expire,
    remove_orphans,
)
from wikistream.lakehouse.positions import stored_position
from wikistream.lakehouse.retention import (
    carry_newest_event,
    carry_positions,
    oldest_snapshot_time,
    position_holders,
)
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS, GOLD_TABLES, SILVER_EVENTS, TABLES
from wikistream.settings import MaintenanceSettings

log = logging.getLogger(__name__)


@dataclass
class TableMaintenance:
    table: str
    compaction: CompactionReport = field(default_factory=CompactionReport)
    carried_positions: list[str] = field(default_factory=list)
    expiry: ExpiryReport = field(default_factory=ExpiryReport)
    orphans: OrphanReport = field(default_factory=OrphanReport)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def maintain(
    lakehouse: Lakehouse,
    settings: MaintenanceSettings,
    tables: Iterable[str] | None = None,
    now: datetime | None = None,
    on_table: Callable[[str], None] | None = None,
) -> list[TableMaintenance]:
    """Maintain `tables` (every WikiStream table that exists if None)."""
    now = now or datetime.now(UTC)
    names = [n for n in (tables or TABLES) if lakehouse.exists(n)]
    consumers = _consumer_positions(lakehouse)
    reports = []
    for name in names:
        if on_table is not None:
            on_table(name)
        started = datetime.now(UTC)
        table = lakehouse.table(TABLES[name])
        report = TableMaintenance(name)
        target = settings.target_file_mb * 1024 * 1024
        report.compaction = compact(table, target, settings.min_small_files)
        needed = consumers.get(name, set())
        needed_since = oldest_snapshot_time(table, needed)
        cutoff = now - timedelta(hours=settings.snapshot_retention_h)
        if needed_since is not None:
            cutoff = min(cutoff, needed_since)
        report.carried_positions = carry_positions(table, cutoff, settings.keep_last_snapshots)
        carry_newest_event(table, cutoff, settings.keep_last_snapshots)
        protected = needed | position_holders(table)
        report.expiry = expire(
            table,
            cutoff,
            settings.keep_last_snapshots,
            protected,
            settings.max_snapshots,
            needed_since,
        )
        if settings.remove_orphans:
            report.orphans = remove_orphans(table, now - timedelta(hours=settings.orphan_age_h))
        report.seconds = round((datetime.now(UTC) - started).total_seconds(), 2)
        log.info(
            "maintained table",
            extra={
                "table": name,
                "files_before": report.compaction.files_before,
                "files_after": report.compaction.files_after,
                "expired": report.expiry.expired,
                "orphans_removed": len(report.orphans.removed),
            },
        )
        reports.append(report)
    return reports


def _consumer_positions(lakehouse: Lakehouse) -> dict[str, set[int]]:
    """For each table, the snapshot ids the layers reading it stored as their position."""
    needed: dict[str, set[int]] = {}
    if lakehouse.exists(SILVER_EVENTS.identifier):
        silver = lakehouse.table(SILVER_EVENTS.identifier)
        position = stored_position(silver, BRONZE_EVENTS.identifier)
        if position:
            needed.setdefault(BRONZE_EVENTS.identifier, set()).add(int(position))
    for table_def in GOLD_TABLES:
        if lakehouse.exists(table_def.identifier):
            position = stored_position(
                lakehouse.table(table_def.identifier), SILVER_EVENTS.identifier
            )
            if position:
                needed.setdefault(SILVER_EVENTS.identifier, set()).add(int(position))
    return needed
