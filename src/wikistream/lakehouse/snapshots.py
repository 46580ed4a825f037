"""Snapshot history, time travel and rollback of one table."""

from __future__ import annotations

from typing import Any

from pyiceberg.table import Table

from wikistream.exceptions import ConfigError
from wikistream.lakehouse.positions import lineage, snapshot_time
from wikistream.times import iso_instant


def history(table: Table) -> list[dict[str, Any]]:
    """Every snapshot the table still knows, newest first: id, time, operation, summary.

    `current_lineage` is false for snapshots a rollback left behind.
    """
    current = {s.snapshot_id for s in lineage(table)}
    head = table.current_snapshot()
    rows = []
    for snapshot in sorted(table.metadata.snapshots, key=lambda s: -s.timestamp_ms):
        summary = dict(snapshot.summary.additional_properties) if snapshot.summary else {}
        operation = snapshot.summary.operation.value if snapshot.summary else None
        rows.append({
            "snapshot_id": snapshot.snapshot_id,
            "parent_id": snapshot.parent_snapshot_id,
            "committed_at": snapshot_time(snapshot).isoformat(),
            "operation": operation,
            "current": head is not None and snapshot.snapshot_id == head.snapshot_id,
            "current_lineage": snapshot.snapshot_id in current,
            "summary": summary,
        })  # fmt: skip
    return rows


def resolve(table: Table, ref: str) -> int:
    """A snapshot id, or the snapshot that was current at an ISO-8601 time.

    Raises:
        ConfigError: no such snapshot, or the table had none at that time.
    """
    name = ".".join(table.name())
    if ref.isdigit() or (ref.startswith("-") and ref[1:].isdigit()):
        if table.snapshot_by_id(int(ref)) is None:
            raise ConfigError(f"{name} has no snapshot {ref} (see: wikistream history {name})")
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
    return int(snapshot.snapshot_id)


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
