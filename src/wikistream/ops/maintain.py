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

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from wikistream.exceptions import ConcurrentWriter
from wikistream.lakehouse import commits
from wikistream.lakehouse.catalog import ensure_table
from wikistream.lakehouse.maintenance import (
    CompactionReport,
    ExpiryReport,
    OrphanReport,
    compact,
    expire,
    remove_orphans,
)
from wikistream.lakehouse.positions import (
    MAINTENANCE_KEY,
    POSITION_KEY,
    SOURCE_KEY,
    lineage,
    stored_position,
    stored_positions,
    summary_value,
)
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
    catalog: Catalog,
    settings: MaintenanceSettings,
    tables: Iterable[str] | None = None,
    now: datetime | None = None,
    on_table: Callable[[str], None] | None = None,
) -> list[TableMaintenance]:
    """Maintain `tables` (every WikiStream table that exists if None)."""
    now = now or datetime.now(UTC)
    names = [n for n in (tables or TABLES) if catalog.table_exists(n)]
    consumers = _consumer_positions(catalog)
    reports = []
    for name in names:
        if on_table is not None:
            on_table(name)
        started = datetime.now(UTC)
        table = ensure_table(catalog, TABLES[name])
        report = TableMaintenance(name)
        target = settings.target_file_mb * 1024 * 1024
        report.compaction = compact(table, target, settings.min_small_files)
        needed = consumers.get(name, set())
        needed_since = _oldest(table, needed)
        cutoff = now - timedelta(hours=settings.snapshot_retention_h)
        if needed_since is not None:
            cutoff = min(cutoff, needed_since)
        report.carried_positions = _carry_positions(table, cutoff, settings.keep_last_snapshots)
        protected = needed | _position_holders(table)
        report.expiry = expire(table, cutoff, settings.keep_last_snapshots, protected,
                               settings.max_snapshots, needed_since)  # fmt: skip
        report.orphans = remove_orphans(table, now - timedelta(hours=settings.orphan_age_h))
        report.seconds = round((datetime.now(UTC) - started).total_seconds(), 2)
        log.info("maintained table", extra={
            "table": name, "files_before": report.compaction.files_before,
            "files_after": report.compaction.files_after, "expired": report.expiry.expired,
            "orphans_removed": len(report.orphans.removed)})  # fmt: skip
        reports.append(report)
    return reports


def _consumer_positions(catalog: Catalog) -> dict[str, set[int]]:
    """For each table, the snapshot ids the layers reading it stored as their position."""
    needed: dict[str, set[int]] = {}
    if catalog.table_exists(SILVER_EVENTS.identifier):
        silver = catalog.load_table(SILVER_EVENTS.identifier)
        position = stored_position(silver, BRONZE_EVENTS.identifier)
        if position:
            needed.setdefault(BRONZE_EVENTS.identifier, set()).add(int(position))
    for table_def in GOLD_TABLES:
        if catalog.table_exists(table_def.identifier):
            position = stored_position(catalog.load_table(table_def.identifier),
                                       SILVER_EVENTS.identifier)  # fmt: skip
            if position:
                needed.setdefault(SILVER_EVENTS.identifier, set()).add(int(position))
    return needed


def _oldest(table: Table, needed: set[int]) -> datetime | None:
    """When the oldest snapshot a consumer still reads from was committed: its incremental
    read spans every snapshot from there to now, so none of them may expire."""
    stamps = [s.timestamp_ms for s in table.metadata.snapshots if s.snapshot_id in needed]
    return datetime.fromtimestamp(min(stamps) / 1000, UTC) if stamps else None


def _carry_positions(table: Table, cutoff: datetime, keep_last: int) -> list[str]:
    """Re-commit (in an empty snapshot) each source position whose snapshot would expire."""
    chain = lineage(table)
    kept = {s.snapshot_id for s in chain[:keep_last]}
    limit = int(cutoff.timestamp() * 1000)
    carried = []
    for source, position in stored_positions(table).items():
        holder = next(s for s in chain if summary_value(s, SOURCE_KEY) == source)
        if holder.timestamp_ms >= limit or holder.snapshot_id in kept:
            continue
        empty = TABLES[".".join(table.name())].schema.empty_table()
        properties = {SOURCE_KEY: source, POSITION_KEY: position, MAINTENANCE_KEY: "position"}
        try:
            commits.append(table, empty, properties, guard=_unchanged(source, position))
        except ConcurrentWriter:
            continue  # the writer of that source just committed: its position is fresh
        carried.append(source)
    return carried


def _position_holders(table: Table) -> set[int]:
    """The snapshot holding each source's newest position (what a restart resumes from)."""
    holders: dict[str, int] = {}
    for snapshot in lineage(table):
        source = summary_value(snapshot, SOURCE_KEY)
        if source is not None:
            holders.setdefault(source, snapshot.snapshot_id)
    return set(holders.values())


def _unchanged(source: str, position: str) -> Callable[[Table], None]:
    def check(table: Table) -> None:
        if stored_position(table, source) != position:
            raise ConcurrentWriter(f"{source} moved on while its position was carried")

    return check
