"""Source positions stored in snapshot summaries, so data and position commit atomically.

A source's position is opaque here. A partitioned source (Kafka) has one per partition,
each under its own key, and several writers may each commit some partitions: the stored
position of a partition is the one in the newest snapshot of the lineage that has it.
`Positions` maps a partition label to its position; an unpartitioned source uses the label
"" (stored under `wikistream.position`, as always).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from wikistream.exceptions import ConcurrentWriter

SOURCE_KEY = "wikistream.source"
POSITION_KEY = "wikistream.position"
MAX_EVENT_TS_KEY = "wikistream.max-event-ts"
WRITER_KEY = "wikistream.writer"
MAINTENANCE_KEY = "wikistream.maintenance"  # compaction, carried positions: no new rows
COMMIT_KEY = "wikistream.commit"  # a token per commit: a retry finds out it went through
PARTITION_PREFIX = POSITION_KEY + "."  # + a partition label

Positions = dict[str, str]  # partition label ("" when unpartitioned) -> position


def table_name(table: Table) -> str:
    """`namespace.table`, for messages."""
    return ".".join(table.name())


def summary_value(snapshot: Snapshot, key: str) -> str | None:
    """One property of a snapshot's summary, or None."""
    if snapshot.summary is None:
        return None
    value = snapshot.summary[key]
    return None if value is None else str(value)


def lineage(table: Table, start: int | None = None) -> list[Snapshot]:
    """The current snapshot (or snapshot `start`) and its ancestors, newest first."""
    by_id = {s.snapshot_id: s for s in table.metadata.snapshots}
    chain: list[Snapshot] = []
    snapshot = table.current_snapshot() if start is None else by_id.get(start)
    while snapshot is not None:
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = by_id.get(parent) if parent is not None else None
    return chain


def positions_in(snapshot: Snapshot) -> Positions:
    """The positions one snapshot's summary holds (several for a partitioned source)."""
    if snapshot.summary is None:
        return {}
    found: Positions = {}
    for key, value in snapshot.summary.additional_properties.items():
        if key == POSITION_KEY:
            found[""] = str(value)
        elif key.startswith(PARTITION_PREFIX):
            found[key.removeprefix(PARTITION_PREFIX)] = str(value)
    return found


def position_properties(positions: Positions) -> dict[str, str]:
    """Snapshot summary properties that store `positions`."""
    return {
        POSITION_KEY if label == "" else PARTITION_PREFIX + label: position
        for label, position in positions.items()
    }


def as_snapshot_id(position: str | None) -> int | None:
    """A stored position that names a snapshot of the layer below, as its id."""
    return int(position) if position else None


def as_position(snapshot_id: int | None) -> str | None:
    """A snapshot id as a stored position (None stays None)."""
    return None if snapshot_id is None else str(snapshot_id)


def stored_position(table: Table, source: str) -> str | None:
    """The position of the newest commit from an unpartitioned `source`."""
    for snapshot in lineage(table):
        if summary_value(snapshot, SOURCE_KEY) == source:
            return summary_value(snapshot, POSITION_KEY)
    return None


def stored_source_positions(table: Table, source: str, labels: set[str] | None = None) -> Positions:
    """The stored position of every partition of `source` (label "" if unpartitioned), or
    of `labels` only: the lineage is then read back only until each of them is found."""
    if labels is None:
        return stored_positions(table).get(source, {})
    found: Positions = {}
    for snapshot in lineage(table):
        if summary_value(snapshot, SOURCE_KEY) != source:
            continue
        for label, position in positions_in(snapshot).items():
            if label in labels:
                found.setdefault(label, position)
        if len(found) == len(labels):
            break
    return found


def stored_positions(table: Table) -> dict[str, Positions]:
    """For every source that committed to the table, its newest position per partition."""
    positions: dict[str, Positions] = {}
    for snapshot in lineage(table):
        source = summary_value(snapshot, SOURCE_KEY)
        if source is None:
            continue
        mine = positions.setdefault(source, {})
        for label, position in positions_in(snapshot).items():
            mine.setdefault(label, position)
    return {source: found for source, found in positions.items() if found}


def last_commit_ms(table: Table, source: str) -> int | None:
    """When `source` last committed to the table (wall clock milliseconds), or None."""
    for snapshot in lineage(table):
        if summary_value(snapshot, SOURCE_KEY) == source:
            return snapshot.timestamp_ms
    return None


def partition_writers(table: Table, source: str) -> dict[str, str]:
    """Per partition label of `source`: the writer that last committed its position."""
    writers: dict[str, str] = {}
    for snapshot in lineage(table):
        if summary_value(snapshot, SOURCE_KEY) != source:
            continue
        writer = summary_value(snapshot, WRITER_KEY) or ""
        for label in positions_in(snapshot):
            writers.setdefault(label, writer)
    return writers


def as_text(positions: Positions) -> str:
    """One string: a plain position, or `label:position,…` (what a Kafka replay's --from
    takes, and how dead letters name where they were read)."""
    if set(positions) == {""}:
        return positions[""]
    return ",".join(f"{label}:{value}" for label, value in sorted(positions.items()))


def shown(positions: Positions) -> str | Positions:
    """For people and JSON: a plain position, or the positions by partition."""
    return positions[""] if set(positions) == {""} else dict(sorted(positions.items()))


def snapshot_time(snapshot: Snapshot) -> datetime:
    """When a snapshot was committed, as an aware UTC datetime."""
    return datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC)


def newest_event_ts(table: Table, snapshot_id: int | None = None) -> str | None:
    """The newest event time the table holds up to a snapshot (default: the current one):
    the latest of what every commit of the lineage recorded, so a replay of old events
    committed last does not make the table look old (maintenance carries it forward)."""
    holder = newest_event_holder(table, snapshot_id)
    return None if holder is None else summary_value(holder, MAX_EVENT_TS_KEY)


def newest_event_holder(table: Table, snapshot_id: int | None = None) -> Snapshot | None:
    """The snapshot of the lineage that recorded the newest event time."""
    newest: tuple[datetime, Snapshot] | None = None
    for snapshot in lineage(table, snapshot_id):
        stamp = summary_value(snapshot, MAX_EVENT_TS_KEY)
        if not stamp:
            continue
        moment = datetime.fromisoformat(stamp)
        if newest is None or moment > newest[0]:
            newest = (moment, snapshot)
    return None if newest is None else newest[1]


def guard_position(source: str, expected: int | None) -> Callable[[Table], None]:
    """A commit guard: refuses when the table's stored `source` position is not `expected`."""

    def check(table: Table) -> None:
        stored = as_snapshot_id(stored_position(table, source))
        if stored != expected:
            raise ConcurrentWriter(
                f"another process advanced {table_name(table)} to {source} snapshot "
                f"{stored} (expected {expected}); stopping to avoid double counting. Make sure "
                "one process writes silver and gold (a `wikistream run` with processing, or "
                "process / replay / rollback), then run the command again: it resumes from "
                "the stored positions"
            )

    return check
