"""Snapshot history, time travel and rollback of one table."""

from __future__ import annotations

from typing import Any

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from wikistream.exceptions import ConfigError
from wikistream.lakehouse.positions import (
    COMMIT_KEY,
    MAINTENANCE_KEY,
    lineage,
    snapshot_time,
    summary_value,
)
from wikistream.times import iso_instant


def history(table: Table) -> list[dict[str, Any]]:
    """Every snapshot the table still knows, newest first: id, time, operation, summary.

    `current_lineage` is false for snapshots a rollback left behind.
    """
    current = {s.snapshot_id for s in lineage(table)}
    halves = intermediate_snapshots(table)
    head = table.current_snapshot()
    rows = []
    for snapshot in sorted(table.metadata.snapshots, key=lambda s: -s.timestamp_ms):
        summary = dict(snapshot.summary.additional_properties) if snapshot.summary else {}
        operation = snapshot.summary.operation.value if snapshot.summary else None
        rows.append(
            {
                "snapshot_id": snapshot.snapshot_id,
                "parent_id": snapshot.parent_snapshot_id,
                "committed_at": snapshot_time(snapshot).isoformat(),
                "operation": operation,
                "current": head is not None and snapshot.snapshot_id == head.snapshot_id,
                "current_lineage": snapshot.snapshot_id in current,
                "intermediate": snapshot.snapshot_id in halves,
                "summary": summary,
            }
        )
    return rows


def resolve(table: Table, ref: str) -> int:
    """A snapshot id, or the snapshot that was current at an ISO-8601 time.

    Raises:
        ConfigError: no such snapshot, or the table had none at that time.
    """
    name = ".".join(table.name())
    halves = intermediate_snapshots(table)
    if ref.isdigit() or (ref.startswith("-") and ref[1:].isdigit()):
        if table.snapshot_by_id(int(ref)) is None:
            raise ConfigError(f"{name} has no snapshot {ref} (see: wikistream history {name})")
        if int(ref) in halves:
            raise ConfigError(
                f"snapshot {ref} of {name} is the first half of a replacement (its rows deleted, "
                f"the new ones not yet added; an older version wrote it): roll back to "
                f"{halves[int(ref)]}, the state that replacement committed, or to one before it"
            )
        return int(ref)
    moment = iso_instant(ref)
    if moment is None:
        raise ConfigError(f"not a snapshot id or ISO-8601 time: {ref!r}")
    head = table.current_snapshot()
    if head is not None and moment > snapshot_time(head):
        raise ConfigError(
            f"{moment.isoformat()} is after {name}'s newest snapshot "
            f"({snapshot_time(head).isoformat()}): there is nothing to roll back to there; "
            f"pick a time or snapshot from: wikistream history {name}"
        )
    snapshot = table.snapshot_as_of_timestamp(int(moment.timestamp() * 1000))
    if snapshot is None:
        raise ConfigError(f"{name} had no snapshot yet at {moment.isoformat()}")
    # A time between the two halves of an older version's replacement: the committed state.
    return halves.get(int(snapshot.snapshot_id), int(snapshot.snapshot_id))


def intermediate_snapshots(table: Table) -> dict[int, int]:
    """Snapshots no reader ever saw as current: the delete half of a replacement that older
    versions (and PyIceberg's `overwrite`) committed as a delete and an append in one
    catalog commit. Maps each to the snapshot that completed it."""
    chain = list(reversed(lineage(table)))  # oldest first
    halves: dict[int, int] = {}
    for first, second in zip(chain, chain[1:], strict=False):
        token = summary_value(first, COMMIT_KEY)
        same_commit = token is not None and token == summary_value(second, COMMIT_KEY)
        compaction = (
            summary_value(first, MAINTENANCE_KEY) is not None
            and summary_value(second, MAINTENANCE_KEY) is not None
            and _operation(first) in ("delete", "overwrite")
            and _operation(second) == "append"
        )
        if same_commit or compaction:
            halves[first.snapshot_id] = second.snapshot_id
    for snapshot_id, completed in list(halves.items()):  # a chain of three: the last one
        while completed in halves:
            completed = halves[completed]
        halves[snapshot_id] = completed
    return halves


def _operation(snapshot: Snapshot) -> str | None:
    return snapshot.summary.operation.value if snapshot.summary else None


def rollback(table: Table, snapshot_id: int) -> None:
    """Make `snapshot_id` (an ancestor of the current one) the current snapshot again.

    Raises:
        ConfigError: the snapshot is not in the current lineage.
    """
    if snapshot_id not in {s.snapshot_id for s in lineage(table)}:
        raise ConfigError(
            f"snapshot {snapshot_id} is not an ancestor of the current state of "
            f"{'.'.join(table.name())}; roll back only to a snapshot in its current lineage"
        )
    current = table.current_snapshot()
    if current is not None and current.snapshot_id == snapshot_id:
        return
    table.manage_snapshots().rollback_to_snapshot(snapshot_id).commit()
    table.refresh()


def reload(table: Table) -> Table:
    """The table as the catalog has it now (the handle is refreshed in place)."""
    table.refresh()
    return table


def has_snapshot(table: Table, snapshot_id: int) -> bool:
    """Whether the table still knows snapshot `snapshot_id` (any lineage)."""
    return table.snapshot_by_id(snapshot_id) is not None


def parent_of(table: Table, snapshot_id: int) -> int | None:
    """The snapshot `snapshot_id` was committed on top of (None: the first, or unknown)."""
    snapshot = table.snapshot_by_id(snapshot_id)
    return None if snapshot is None else snapshot.parent_snapshot_id


def current_id(table: Table) -> int | None:
    """The id of the table's current snapshot (None: no data yet)."""
    snapshot = table.current_snapshot()
    return None if snapshot is None else int(snapshot.snapshot_id)


def row_count(table: Table) -> int:
    """Rows in the current snapshot, from its summary (no data files read)."""
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.additional_properties.get("total-records", 0))
