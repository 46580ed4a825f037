"""Quarantine replay: after a fix, re-process quarantined rows through the normal path.

silver: the quarantined events are re-read from bronze, transformed and judged again by the
silver row-level checks (not freshness: a replay is deliberate). Rows that pass are appended
to silver (skipping any already there) and then leave the quarantine; a crash in between is
repaired by running the replay again. Rows that still fail stay where they are.

bronze: dead letters are decoded again with the current decoder and filters; events that are
accepted now go to bronze.events (skipping known event ids) and leave the quarantine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from wikistream.events.arrow import decode_chunk
from wikistream.events.decode import EventDecoder
from wikistream.lakehouse import commits
from wikistream.lakehouse.reads import rows_where, without_known
from wikistream.lakehouse.snapshots import current_id, reload
from wikistream.lakehouse.store import Lakehouse, Table
from wikistream.lakehouse.tables import (
    BRONZE_EVENTS,
    BRONZE_QUARANTINE,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
)
from wikistream.layers.silver import to_silver
from wikistream.quality.gates import QualityGates

ROW_TYPES_REJUDGED = ("validity", "consistency")


@dataclass
class ReplayReport:
    """What a replay did."""

    layer: str
    selected: int = 0
    promoted: int = 0  # now in the layer's table (including rows already there)
    still_failing: int = 0
    dry_run: bool = False


def replay_silver_quarantine(
    lakehouse: Lakehouse,
    gates: QualityGates,
    check: str | None = None,
    dry_run: bool = False,
    fence: Callable[[], None] | None = None,
) -> ReplayReport:
    """Re-process silver.quarantine rows (those that failed `check`, or all); `fence` is
    called right before the silver commit (the processing lease)."""
    quarantine = lakehouse.table(SILVER_QUARANTINE)
    rows = rows_where(quarantine, "event_id", None, ("event_id", "event_ts", "failed_checks"))
    if check is not None and rows.num_rows:
        rows = rows.filter(_failed(rows, check))
    report = ReplayReport("silver", selected=rows.num_rows, dry_run=dry_run)
    if rows.num_rows == 0:
        return report
    ids = pc.unique(rows.column("event_id"))
    bronze = _bronze_rows(lakehouse, rows)
    bronze = bronze.filter(pc.is_in(bronze.column("event_id"), ids))
    candidates = to_silver(bronze, lakehouse.settings.silver, datetime.now(UTC))
    rejudged = [c.type for c in gates.checks.silver if c.type not in ROW_TYPES_REJUDGED]
    run, outcome = gates.judge(
        "silver", SILVER_QUARANTINE.identifier, candidates, (None, None), exclude=tuple(rejudged)
    )
    failed = outcome.failed_rows() if outcome.row_failures else None
    good = candidates if failed is None else candidates.filter(pc.invert(failed))
    report.still_failing = candidates.num_rows - good.num_rows
    report.promoted = good.num_rows
    if dry_run or good.num_rows == 0:
        gates.flush()
        return report
    silver = lakehouse.table(SILVER_EVENTS)
    unseen = without_known(silver, good)
    if unseen.num_rows:
        guard = None if fence is None else (lambda _table: fence())
        commits.append(silver, unseen, {"wikistream.replay": run.run_id}, guard=guard, fresh=True)
    commits.delete(quarantine, "event_id", good.column("event_id").to_pylist())
    gates.flush()
    return report


def replay_bronze_quarantine(lakehouse: Lakehouse, dry_run: bool = False) -> ReplayReport:
    """Decode bronze.quarantine records again; accepted events move to bronze.events."""
    quarantine = lakehouse.table(BRONZE_QUARANTINE)
    dead = rows_where(quarantine, "quarantine_id", None, ("quarantine_id", "source", "raw"))
    report = ReplayReport("bronze", selected=dead.num_rows, dry_run=dry_run)
    if dead.num_rows == 0:
        return report
    filters = lakehouse.settings.filters
    decoder = EventDecoder(filters.domains, filters.types)
    accepted: list[pa.Table] = []
    replayed_ids: list[str] = []
    for source in pc.unique(dead.column("source")).to_pylist():
        group = dead.filter(pc.equal(dead.column("source"), source))
        records = group.column("raw").to_pylist()
        chunk = decode_chunk(decoder, records, source, datetime.now(UTC))
        if chunk.table.num_rows:
            accepted.append(chunk.table)
        rejected = {r.index for r in chunk.rejections}
        ids = group.column("quarantine_id").to_pylist()
        replayed_ids += [ids[i] for i in range(len(ids)) if i not in rejected]
    events = pa.concat_tables(accepted) if accepted else BRONZE_EVENTS.schema.empty_table()
    events = _first_per_event(events)
    report.promoted = events.num_rows
    report.still_failing = dead.num_rows - len(replayed_ids)
    if dry_run:
        return report
    _append_unseen(lakehouse.table(BRONZE_EVENTS), events)
    if replayed_ids:
        commits.delete(quarantine, "quarantine_id", replayed_ids)
    return report


def _append_unseen(bronze: Table, events: pa.Table) -> None:
    """Append the events bronze does not hold, checked against the exact table state the
    commit lands on: a live writer committing the same event meanwhile means check again."""
    while True:
        checked = current_id(reload(bronze))
        unseen = without_known(bronze, events)
        if unseen.num_rows == 0:
            return
        properties = {"wikistream.replay": "bronze.quarantine"}
        try:
            commits.append(bronze, unseen, properties, guard=_unchanged_since(checked), fresh=True)
        except _Moved:
            continue
        return


class _Moved(Exception):  # a signal to check again, not an error
    """Bronze changed after its ids were checked."""


def _unchanged_since(checked: int | None) -> Callable[[Table], None]:
    def check(table: Table) -> None:
        if current_id(table) != checked:
            raise _Moved

    return check


def _first_per_event(events: pa.Table) -> pa.Table:
    first: dict[str, int] = {}
    for index, event_id in enumerate(events.column("event_id").to_pylist()):
        first.setdefault(event_id, index)
    return events.take(pa.array(sorted(first.values()), pa.int64()))


def _failed(rows: pa.Table, check: str) -> pa.Array:
    return pa.array([check in names for names in rows.column("failed_checks").to_pylist()])


def _bronze_rows(lakehouse: Lakehouse, quarantined: pa.Table) -> pa.Table:
    """The bronze rows of the quarantined events (event-time statistics prune the files)."""
    bronze = lakehouse.table(BRONZE_EVENTS)
    days = sorted(pc.unique(pc.cast(quarantined.column("event_ts"), pa.date32())).to_pylist())
    return rows_where(bronze, "event_date", list(days))
