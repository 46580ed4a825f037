"""Source positions stored in snapshot summaries, so data and position commit atomically."""

from __future__ import annotations

from datetime import UTC, datetime

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

SOURCE_KEY = "wikistream.source"
POSITION_KEY = "wikistream.position"
MAX_EVENT_TS_KEY = "wikistream.max-event-ts"
WRITER_KEY = "wikistream.writer"
MAINTENANCE_KEY = "wikistream.maintenance"  # compaction, carried positions: no new rows
COMMIT_KEY = "wikistream.commit"  # a token per commit: a retry finds out it went through


def table_name(table: Table) -> str:
    """`namespace.table`, for messages."""
    return ".".join(table.name())


def summary_value(snapshot: Snapshot, key: str) -> str | None:
    """One property of a snapshot's summary, or None."""
    if snapshot.summary is None:
        return None
    value = snapshot.summary[key]
    return None if value is None else str(value)


def lineage(table: Table) -> list[Snapshot]:
    """The current snapshot and its ancestors, newest first."""
    by_id = {s.snapshot_id: s for s in table.metadata.snapshots}
    chain: list[Snapshot] = []
    snapshot = table.current_snapshot()
    while snapshot is not None:
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = by_id.get(parent) if parent is not None else None
    return chain


def stored_position(table: Table, source: str) -> str | None:
    """The position of the newest commit from `source` in the table's current lineage."""
    for snapshot in lineage(table):
        if summary_value(snapshot, SOURCE_KEY) == source:
            return summary_value(snapshot, POSITION_KEY)
    return None


def stored_positions(table: Table) -> dict[str, str]:
    """The newest stored position of every source that committed to the table."""
    positions: dict[str, str] = {}
    for snapshot in lineage(table):
        source = summary_value(snapshot, SOURCE_KEY)
        position = summary_value(snapshot, POSITION_KEY)
        if source is not None and position is not None:
            positions.setdefault(source, position)
    return positions


def snapshot_time(snapshot: Snapshot) -> datetime:
    """When a snapshot was committed, as an aware UTC datetime."""
    return datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC)
