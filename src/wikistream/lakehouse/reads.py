"""Small, targeted reads the writers need (not user queries: see `query.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThanOrEqual,
)
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import ManifestContent, ManifestEntryStatus
from pyiceberg.table import ManifestGroupPlanner, Table
from pyiceberg.table.snapshots import Snapshot

from wikistream.exceptions import PositionLost
from wikistream.lakehouse.positions import (
    MAINTENANCE_KEY,
    SOURCE_KEY,
    WRITER_KEY,
    lineage,
    summary_value,
)
from wikistream.lakehouse.tables import TableDef

if TYPE_CHECKING:
    from wikistream.lakehouse.store import Lakehouse


def recent_values(
    table: Table, column: str, since: datetime, source: str | None = None, limit: int | None = None
) -> list[tuple[datetime, list[str]]]:
    """Values of `column` in rows ingested at or after `since`, grouped by their
    `ingested_at` (one group per commit), oldest first; the newest `limit` values at most.

    File statistics on `ingested_at` prune old data files, so this reads little.
    """
    if table.current_snapshot() is None:
        return []
    condition = _predicate(GreaterThanOrEqual, "ingested_at", since.isoformat())
    if source is not None:
        condition = And(condition, _predicate(EqualTo, "source", source))
    rows: pa.Table = table.scan(
        row_filter=condition, selected_fields=(column, "ingested_at")
    ).to_arrow()
    rows = rows.sort_by("ingested_at")
    if limit and rows.num_rows > limit:
        rows = rows.slice(rows.num_rows - limit)
    if rows.num_rows == 0:
        return []
    groups = rows.group_by("ingested_at", use_threads=False).aggregate([(column, "list")])
    groups = groups.sort_by("ingested_at")
    return list(
        zip(
            groups.column("ingested_at").to_pylist(),
            groups.column(f"{column}_list").to_pylist(),
            strict=True,
        )
    )


@dataclass(frozen=True)
class Added:
    """What other writers appended since a snapshot a writer last looked at."""

    values: pa.Array | None  # None: that snapshot is gone, compare with the whole table
    upto: int | None  # the snapshot read up to (the table's current one)
    snapshots: int  # how many snapshots of other writers were read


def added_by_others(
    table: Table, column: str, since: int | None, writer: str, *, newest: int | None = None
) -> Added:
    """Values of `column` in the rows that snapshots after `since` (every snapshot if None)
    appended, leaving out those `writer` committed itself and maintenance rewrites.

    Each of those snapshots' own added files is read (one column), so the cost follows what
    the others committed, not the size of the table. `newest`: stop looking after that many
    snapshots back (the caller then treats the rest as lost).
    """
    current = table.current_snapshot()
    upto = None if current is None else current.snapshot_id
    theirs: list[Snapshot] = []
    found = since is None
    for depth, snapshot in enumerate(lineage(table)):
        if snapshot.snapshot_id == since:
            found = True
            break
        if newest is not None and depth >= newest:
            break
        operation = snapshot.summary.operation if snapshot.summary else None
        if operation is None or operation.value != "append" or _is_maintenance(snapshot):
            continue
        if summary_value(snapshot, WRITER_KEY) != writer:
            theirs.append(snapshot)
    if not found:
        return Added(None, upto, len(theirs))
    field_type = table.schema().as_arrow().field(column).type
    if not theirs:
        return Added(pa.array([], field_type), upto, 0)
    rows = _added_rows(table, theirs, (column,))
    values = rows.column(column).combine_chunks() if rows.num_rows else pa.array([], field_type)
    return Added(values, upto, len(theirs))


def added_by_source(table: Table, column: str, source: str, since_ms: int | None) -> pa.Array:
    """Values of `column` in the rows that `source`'s snapshots committed at or after
    `since_ms` (wall clock milliseconds; None: ever) appended."""
    theirs = [
        snapshot
        for snapshot in lineage(table)
        if summary_value(snapshot, SOURCE_KEY) == source
        and (since_ms is None or snapshot.timestamp_ms >= since_ms)
        and not _is_maintenance(snapshot)
    ]
    field_type = table.schema().as_arrow().field(column).type
    if not theirs:
        return pa.array([], field_type)
    rows = _added_rows(table, theirs, (column,))
    return rows.column(column).combine_chunks() if rows.num_rows else pa.array([], field_type)


def _added_rows(table: Table, snapshots: list[Snapshot], columns: tuple[str, ...]) -> pa.Table:
    """`columns` of the rows `snapshots` added (their own new files only)."""
    ids = {s.snapshot_id for s in snapshots}
    manifests = list(
        {
            manifest.manifest_path: manifest
            for snapshot in snapshots
            for manifest in snapshot.manifests(table.io)
            if manifest.content == ManifestContent.DATA and manifest.added_snapshot_id in ids
        }.values()
    )
    tasks = ManifestGroupPlanner(table.metadata, table.io).plan_files(
        manifests=manifests,
        manifest_entry_filter=lambda entry: (
            entry.snapshot_id in ids and entry.status == ManifestEntryStatus.ADDED
        ),
    )
    projection = table.schema().select(*columns)
    return ArrowScan(table.metadata, table.io, projection, AlwaysTrue()).to_table(tasks)


def _predicate(kind: Any, column: str, value: object) -> BooleanExpression:
    # PyIceberg documents `EqualTo("col", value)`; its pydantic-generated signature hides that.
    predicate: BooleanExpression = kind(column, value)
    return predicate


def appended_since(
    table: Table,
    snapshot_id: int | None,
    upto: int | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[pa.Table, int | None]:
    """Rows appended after `snapshot_id` (all rows if None) up to `upto` (default: the
    current snapshot), and the snapshot read up to; `columns` only, if given (bronze's raw
    JSON is most of its bytes). Maintenance rewrites (compaction) add no new rows and are
    skipped."""
    fields = ("*",) if columns is None else tuple(columns)
    empty = table.schema().as_arrow().empty_table()
    if columns is not None:
        empty = empty.select(list(columns))
    current = table.current_snapshot()
    if current is None:
        return empty, None
    end = current.snapshot_id if upto is None else upto
    if snapshot_id == end:
        return empty, snapshot_id
    chain = lineage(table)
    known = {s.snapshot_id for s in chain}
    for wanted in (snapshot_id, upto):
        if wanted is not None and wanted not in known:
            raise PositionLost(
                f"snapshot {wanted} of {'.'.join(table.name())}, where the layer above "
                "stopped, is no longer in its history (rolled back or expired); rebuild the "
                "layer above with: wikistream process --full-refresh"
            )
    if snapshot_id is None:  # everything: a plain scan (older snapshots may be expired)
        return table.scan(snapshot_id=end, selected_fields=fields).to_arrow(), end
    parts = [
        table.incremental_append_scan(
            from_snapshot_id_exclusive=start,
            to_snapshot_id_inclusive=stop,
            selected_fields=fields,
        ).to_arrow()
        for start, stop in _segments(chain, snapshot_id, end)
    ]
    if not parts:
        return empty, end
    return pa.concat_tables(parts), end


def _segments(chain: list[Snapshot], start: int | None, end: int) -> list[tuple[int | None, int]]:
    """(from exclusive, to inclusive) ranges between `start` and `end` that leave out
    maintenance snapshots (a compaction re-appends rows that are already there)."""
    window: list[Snapshot] = []  # after `start`, up to and including `end`
    collecting = False
    for snapshot in chain:  # newest first
        collecting = collecting or snapshot.snapshot_id == end
        if snapshot.snapshot_id == start:
            break
        if collecting:
            window.append(snapshot)
    ranges: list[tuple[int | None, int]] = []
    begin = start
    for snapshot in reversed(window):
        if _is_maintenance(snapshot):
            parent = snapshot.parent_snapshot_id
            if parent is not None and parent != begin:
                ranges.append((begin, parent))
            begin = snapshot.snapshot_id
    if begin != end:
        ranges.append((begin, end))
    return ranges


def _is_maintenance(snapshot: Snapshot) -> bool:
    return summary_value(snapshot, MAINTENANCE_KEY) is not None


def rewritten_since(table: Table, snapshot_id: int | None) -> bool:
    """Whether a snapshot after `snapshot_id` did more than append (overwrite, delete);
    maintenance rewrites, which keep every row, do not count."""
    if snapshot_id is None:
        return False
    for snapshot in lineage(table):
        if snapshot.snapshot_id == snapshot_id:
            return False
        operation = snapshot.summary.operation if snapshot.summary else None
        if operation is not None and operation.value != "append" and not _is_maintenance(snapshot):
            return True
    return False


def rows_where(
    table: Table,
    column: str,
    values: list[object] | None,
    columns: Sequence[str] = ("*",),
    where: Mapping[str, list[object]] | None = None,
) -> pa.Table:
    """`columns` of the rows whose `column` is in `values` (every row if None) and, for each
    column of `where`, whose value is one of its values.

    Partition values and file statistics prune the files read; only `columns` are decoded.
    Values are bound as literals of an Iceberg expression, never spliced into text.
    """
    if table.current_snapshot() is None or values == []:
        schema = table.schema().as_arrow()
        names = schema.names if tuple(columns) == ("*",) else list(columns)
        return pa.schema([schema.field(n) for n in names]).empty_table()
    conditions = [] if values is None else [_predicate(In, column, as_literals(values))]
    conditions += [
        _predicate(In, name, as_literals(list(allowed))) for name, allowed in (where or {}).items()
    ]
    if not conditions:
        return table.scan(selected_fields=tuple(columns)).to_arrow()
    condition = conditions[0] if len(conditions) == 1 else And(*conditions)
    return table.scan(row_filter=condition, selected_fields=tuple(columns)).to_arrow()


def rows_of(
    lakehouse: Lakehouse,
    definition: TableDef,
    column: str,
    values: list[object] | None,
    columns: Sequence[str] = ("*",),
    where: Mapping[str, list[object]] | None = None,
) -> pa.Table:
    """`rows_where` on a table that may not exist yet (then: no rows); never creates it."""
    table = lakehouse.find(definition.identifier)
    if table is None:
        names = definition.schema.names if tuple(columns) == ("*",) else list(columns)
        return pa.schema([definition.schema.field(n) for n in names]).empty_table()
    return rows_where(table, column, values, columns, where)


def rows_from(table: Table, column: str, low: object, columns: Sequence[str] = ("*",)) -> pa.Table:
    """`columns` of the rows whose `column` is at least `low` (partitions and stats prune)."""
    if table.current_snapshot() is None:
        return rows_where(table, column, [], columns)
    condition = _predicate(GreaterThanOrEqual, column, as_literals([low])[0])
    return table.scan(row_filter=condition, selected_fields=tuple(columns)).to_arrow()


def values_between(table: Table, column: str, low: object, high: object, value: str) -> pa.Array:
    """`value` of the rows with `low <= column <= high`; min/max file statistics prune."""
    if table.current_snapshot() is None:
        return pa.array([], table.schema().as_arrow().field(value).type)
    condition = And(
        _predicate(GreaterThanOrEqual, column, as_literals([low])[0]),
        _predicate(LessThanOrEqual, column, as_literals([high])[0]),
    )
    return table.scan(row_filter=condition, selected_fields=(value,)).to_arrow().column(value)


def without_known(table: Table, rows: pa.Table) -> pa.Table:
    """`rows` minus those whose event_id `table` already holds. A repeat of an event has the
    same event time, so only files whose event_ts range overlaps `rows` are read."""
    if rows.num_rows == 0:
        return rows
    low, high = pc.min(rows.column("event_ts")).as_py(), pc.max(rows.column("event_ts")).as_py()
    known = values_between(table, "event_ts", low, high, "event_id")
    if len(known) == 0:
        return rows
    return rows.filter(pc.invert(pc.is_in(rows.column("event_id"), known)))


def as_literals(values: list[object]) -> list[object]:
    """Python values as PyIceberg predicate literals (dates and times as ISO strings)."""
    return [v.isoformat() if isinstance(v, datetime | date) else v for v in values]


def rows_matching(
    table: Table,
    condition: BooleanExpression,
    columns: Sequence[str] = ("*",),
    snapshot_id: int | None = None,
) -> pa.Table:
    """`columns` of the rows matching an Iceberg `condition` (a rebuild's chunk), at
    `snapshot_id` (default: the current state)."""
    if table.current_snapshot() is None:
        return rows_where(table, "event_date", [], columns)
    scan = table.scan(row_filter=condition, selected_fields=tuple(columns), snapshot_id=snapshot_id)
    return scan.to_arrow()
