"""What snapshot expiry must keep: positions writers resume from, snapshots readers need.

A source position is stored in the snapshot that committed it; when that snapshot is about
to expire, the position is carried forward in an empty snapshot so the writer still finds
it. A layer's incremental read spans every snapshot after its stored one, so none of those
may expire either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pyiceberg.table import Table

from wikistream.exceptions import ConcurrentWriter
from wikistream.lakehouse import commits
from wikistream.lakehouse.positions import (
    MAINTENANCE_KEY,
    POSITION_KEY,
    SOURCE_KEY,
    lineage,
    stored_position,
    stored_positions,
    summary_value,
)


def oldest_snapshot_time(table: Table, needed: set[int]) -> datetime | None:
    """When the oldest snapshot a consumer still reads from was committed: its incremental
    read spans every snapshot from there to now, so none of them may expire."""
    stamps = [s.timestamp_ms for s in table.metadata.snapshots if s.snapshot_id in needed]
    return datetime.fromtimestamp(min(stamps) / 1000, UTC) if stamps else None


def carry_positions(table: Table, cutoff: datetime, keep_last: int) -> list[str]:
    """Re-commit (in an empty snapshot) each source position whose snapshot would expire."""
    chain = lineage(table)
    kept = {s.snapshot_id for s in chain[:keep_last]}
    limit = int(cutoff.timestamp() * 1000)
    carried = []
    for source, position in stored_positions(table).items():
        holder = next(s for s in chain if summary_value(s, SOURCE_KEY) == source)
        if holder.timestamp_ms >= limit or holder.snapshot_id in kept:
            continue
        empty = table.schema().as_arrow().empty_table()
        properties = {SOURCE_KEY: source, POSITION_KEY: position, MAINTENANCE_KEY: "position"}
        try:
            commits.append(table, empty, properties, guard=_unchanged(source, position))
        except ConcurrentWriter:
            continue  # the writer of that source just committed: its position is fresh
        carried.append(source)
    return carried


def position_holders(table: Table) -> set[int]:
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
