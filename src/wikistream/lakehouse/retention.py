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
from pyiceberg.table.snapshots import Snapshot

from wikistream.exceptions import ConcurrentWriter
from wikistream.lakehouse import commits
from wikistream.lakehouse.positions import (
    MAINTENANCE_KEY,
    MAX_EVENT_TS_KEY,
    SOURCE_KEY,
    Positions,
    lineage,
    newest_event_holder,
    position_properties,
    positions_in,
    stored_positions,
    summary_value,
)


def oldest_snapshot_time(table: Table, needed: set[int]) -> datetime | None:
    """When the oldest snapshot a consumer still reads from was committed: its incremental
    read spans every snapshot from there to now, so none of them may expire."""
    stamps = [s.timestamp_ms for s in table.metadata.snapshots if s.snapshot_id in needed]
    return datetime.fromtimestamp(min(stamps) / 1000, UTC) if stamps else None


def carry_positions(table: Table, cutoff: datetime, keep_last: int) -> list[str]:
    """Re-commit (in an empty snapshot) the positions of each source one of whose position
    snapshots would expire (all partitions of a partitioned source together)."""
    chain = lineage(table)
    kept = {s.snapshot_id for s in chain[:keep_last]}
    limit = int(cutoff.timestamp() * 1000)
    by_id = {s.snapshot_id: s for s in chain}
    holders = _holders(chain)
    carried = []
    for source, positions in stored_positions(table).items():
        old = [by_id[holders[(source, label)]] for label in positions]
        if all(h.timestamp_ms >= limit or h.snapshot_id in kept for h in old):
            continue
        empty = table.schema().as_arrow().empty_table()
        properties = {
            SOURCE_KEY: source,
            MAINTENANCE_KEY: "position",
            **position_properties(positions),
        }
        try:
            commits.append(table, empty, properties, guard=_unchanged(source, positions))
        except ConcurrentWriter:
            continue  # a writer of that source just committed: its positions are fresh
        carried.append(source)
    return carried


def carry_newest_event(table: Table, cutoff: datetime, keep_last: int) -> bool:
    """Re-commit (in an empty snapshot) the newest event time the table holds when the
    snapshot that recorded it would expire: freshness stays what the table holds."""
    holder = newest_event_holder(table)
    kept = {s.snapshot_id for s in lineage(table)[:keep_last]}
    if holder is None or holder.snapshot_id in kept:
        return False
    if holder.timestamp_ms >= int(cutoff.timestamp() * 1000):
        return False
    stamp = summary_value(holder, MAX_EVENT_TS_KEY) or ""
    empty = table.schema().as_arrow().empty_table()
    commits.append(table, empty, {MAINTENANCE_KEY: "newest-event", MAX_EVENT_TS_KEY: stamp})
    return True


def position_holders(table: Table) -> set[int]:
    """The snapshots holding each source's newest positions (what a restart resumes from)."""
    return set(_holders(lineage(table)).values())


def _holders(chain: list[Snapshot]) -> dict[tuple[str, str], int]:
    """(source, partition label) -> the newest snapshot that stored its position."""
    holders: dict[tuple[str, str], int] = {}
    for snapshot in chain:
        source = summary_value(snapshot, SOURCE_KEY)
        if source is None:
            continue
        for label in positions_in(snapshot):
            holders.setdefault((source, label), snapshot.snapshot_id)
    return holders


def _unchanged(source: str, positions: Positions) -> Callable[[Table], None]:
    def check(table: Table) -> None:
        if stored_positions(table).get(source) != positions:
            raise ConcurrentWriter(f"{source} moved on while its positions were carried")

    return check
