"""What a table holds per `event_date`, and which days changed since a snapshot: read from
manifests only (row counts per data file), never from the data, so a rebuild can plan its
chunks for a year of history in the memory of its metadata."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyiceberg.manifest import DataFile, ManifestContent, ManifestEntryStatus
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from wikistream.exceptions import PositionLost
from wikistream.lakehouse.positions import MAINTENANCE_KEY, lineage, summary_value

EPOCH = date(1970, 1, 1)


def day_rows(table: Table, snapshot_id: int | None = None) -> dict[date, int]:
    """Rows per `event_date` in the table (at `snapshot_id`; default: its current state)."""
    if table.current_snapshot() is None:
        return {}
    counts: Counter[date] = Counter()
    for task in table.scan(snapshot_id=snapshot_id).plan_files():
        counts[_day_of(table, task.file)] += task.file.record_count
    return dict(sorted(counts.items()))


@dataclass
class Changes:
    """What snapshots after a given one did to a table, by `event_date`."""

    appended_rows: int = 0  # rows appended (not rewritten)
    appended: Counter[date] = field(default_factory=Counter)  # only when asked for days
    rewritten: set[date] = field(default_factory=set)  # days an overwrite or delete touched

    @property
    def days(self) -> set[date]:
        return set(self.appended) | self.rewritten


def changes_since(table: Table, since: int | None, *, appended_days: bool = False) -> Changes:
    """The rows appended and the days rewritten after snapshot `since` (None: everything,
    as appended). Appends are counted from snapshot summaries; their days (`appended_days`)
    and the days of rewrites come from the snapshots' own manifest entries. Maintenance
    (compaction) keeps every row and does not count."""
    changes = Changes()
    found = since is None
    for snapshot in lineage(table):
        if snapshot.snapshot_id == since:
            found = True
            break
        if summary_value(snapshot, MAINTENANCE_KEY) is not None or snapshot.summary is None:
            continue
        if snapshot.summary.operation.value == "append":
            changes.appended_rows += int(summary_value(snapshot, "added-records") or 0)
            if appended_days:
                for data_file, _ in _entries(table, snapshot):
                    changes.appended[_day_of(table, data_file)] += data_file.record_count
        else:
            changes.rewritten |= {_day_of(table, f) for f, _ in _entries(table, snapshot)}
    if not found:
        raise PositionLost(
            f"snapshot {since} of {'.'.join(table.name())} is no longer in its history "
            "(rolled back or expired); rebuild with: wikistream process --full-refresh"
        )
    return changes


def appends_after(table: Table, since: int | None) -> list[tuple[int, int]]:
    """(snapshot id, rows it appended) of the appends after `since`, oldest first."""
    found: list[tuple[int, int]] = []
    for snapshot in lineage(table):
        if snapshot.snapshot_id == since:
            break
        if summary_value(snapshot, MAINTENANCE_KEY) is not None or snapshot.summary is None:
            continue
        if snapshot.summary.operation.value == "append":
            found.append((snapshot.snapshot_id, int(summary_value(snapshot, "added-records") or 0)))
    return found[::-1]


def _entries(table: Table, snapshot: Snapshot) -> list[tuple[DataFile, ManifestEntryStatus]]:
    """The data files `snapshot` itself added or deleted."""
    found: list[tuple[DataFile, ManifestEntryStatus]] = []
    for manifest in snapshot.manifests(table.io):
        if manifest.content != ManifestContent.DATA:
            continue
        if manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
            if entry.snapshot_id == snapshot.snapshot_id and entry.status in (
                ManifestEntryStatus.ADDED,
                ManifestEntryStatus.DELETED,
            ):
                found.append((entry.data_file, entry.status))
    return found


def _day_of(table: Table, data_file: DataFile) -> date:
    """The `event_date` partition value of a data file."""
    spec = table.metadata.specs()[data_file.spec_id]
    schema = table.schema()
    for position, spec_field in enumerate(spec.fields):
        if schema.find_column_name(spec_field.source_id) == "event_date":
            value = data_file.partition[position]
            return value if isinstance(value, date) else EPOCH + timedelta(days=int(value))
    raise ValueError(f"{'.'.join(table.name())} is not partitioned by event_date")
