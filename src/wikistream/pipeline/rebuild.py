"""Rebuilds in chunks: silver from bronze (`--full-refresh`, a replay of some days) and a
gold table from silver (a full refresh, the days a silver rewrite touched, a catch-up
larger than one increment).

Each chunk is read with partition filters, computed (`chunk_work`: here, or as Ray tasks),
gated and committed with the rebuild's marker (`chunks.Rebuild`): the table's stored
position moves to the rebuild's target with its last chunk only, so a rebuild killed
midway resumes at its next chunk and no window is missing or counted twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

from wikistream.lakehouse import commits
from wikistream.lakehouse.filters import Filter, nothing, values_in
from wikistream.lakehouse.partitions import day_rows
from wikistream.lakehouse.positions import (
    as_position,
    as_snapshot_id,
    guard_position,
    stored_position,
)
from wikistream.lakehouse.reads import rows_where
from wikistream.lakehouse.snapshots import current_id
from wikistream.lakehouse.store import Table
from wikistream.lakehouse.tables import BRONZE_EVENTS, SILVER_EVENTS
from wikistream.pipeline.chunk_work import ChunkDone, ChunkTask, run_chunks
from wikistream.pipeline.chunks import Chunk, Rebuild, plan_chunks
from wikistream.pipeline.gold_specs import GoldSpec
from wikistream.quality.gates import HELD

if TYPE_CHECKING:
    from wikistream.pipeline.process import CycleReport, Processor

log = logging.getLogger(__name__)

# Checks that judge a stream as it arrives, not history read again on purpose.
REBUILD_EXCLUDES = ("timeliness", "volume", "drift")


class Rebuilder:
    """The chunked rebuilds of one processor (its gates, fence and writer id)."""

    def __init__(self, processor: Processor) -> None:
        self._processor = processor
        self._lakehouse = processor.lakehouse
        self._budget = self._lakehouse.settings.process.max_rows_per_chunk

    def silver(
        self, report: CycleReport, marker: Rebuild | None, days: list[date] | None = None
    ) -> bool:
        """Rebuild silver from bronze: every day (a full refresh, resumed from `marker` if
        one is in progress), or `days` only (a replay: silver keeps its position). False
        when a chunk's batch was held by the gate."""
        processor = self._processor
        bronze = self._lakehouse.table(BRONZE_EVENTS)
        silver = self._lakehouse.table(SILVER_EVENTS)
        stored = as_snapshot_id(stored_position(silver, BRONZE_EVENTS.identifier))
        replay = days is not None
        if marker is None:
            upto = current_id(bronze)
            if upto is None:
                return True
            marker = Rebuild(upto, None if days is None else tuple(days))
        chunks, stale = self._plan(bronze, silver, marker)
        tasks = [ChunkTask(SILVER_EVENTS.identifier, c, marker.upto) for c in chunks]
        span = ((as_position(stored), as_position(marker.upto)), marker.upto, stored)
        for index, done in enumerate(self._computed(tasks, SILVER_EVENTS.identifier)):
            last = index == len(tasks) - 1
            started = time.perf_counter()
            finished = last and not replay
            processor.promote_silver(
                report,
                done.rows,
                span,
                {},
                _rewrite(done, last, stale),
                started,
                position=marker.upto if finished else stored,
                marker=None if finished or replay else marker.after(done.task.chunk),
                files=done.files,
            )
            if SILVER_EVENTS.identifier in report.held:
                return False
            _progress(SILVER_EVENTS.identifier, done, index, len(tasks))
        return True

    def gold(
        self, report: CycleReport, spec: GoldSpec, marker: Rebuild, stored: int | None
    ) -> bool:
        """Rebuild a gold table's windows of `marker`'s days (all: a full refresh) from
        silver, chunk by chunk; its position moves to `marker.upto` with the last one."""
        processor = self._processor
        silver = self._lakehouse.table(SILVER_EVENTS)
        table = self._lakehouse.table(spec.table)
        # A table built from gold tables reads their rows of whole days: as many days as
        # hold the budget's silver rows (its user rows grow with them), at least one.
        chunks, stale = self._plan(silver, table, marker, whole_days=bool(spec.built_from))
        tasks = [ChunkTask(spec.name, c) for c in chunks]
        guard = processor.fenced(guard_position(SILVER_EVENTS.identifier, stored))
        for index, done in enumerate(self._computed(tasks, spec.name, spec)):
            last = index == len(tasks) - 1
            started = time.perf_counter()
            out, chunk = done.rows, done.task.chunk
            batch_range = (as_position(stored), as_position(marker.upto))
            run, _ = processor.judge(
                "gold",
                spec.table,
                out,
                batch_range,
                marker.upto,
                {},
                reference_rows=done.input_rows,
                exclude=REBUILD_EXCLUDES,
            )
            if run is not None and run.gate == HELD:
                report.held[spec.name] = run.run_id
                return False
            summary = (
                processor.gold_summary(marker.upto, None)
                if last
                else processor.gold_summary(stored, marker.after(chunk))
            )
            condition = _rewrite(done, last, stale, spec.window)
            commits.replace_where(
                table, out, condition, summary, files=done.files, guard=guard, fresh=True
            )
            report.add(spec.name, out.num_rows, time.perf_counter() - started)
            _progress(spec.name, done, index, len(tasks))
        return True

    def _plan(
        self,
        source: Table,
        target: Table,
        marker: Rebuild,
        whole_days: bool = False,
    ) -> tuple[list[Chunk], list[date]]:
        """The chunks still to do, and the days the target holds that the source no longer
        does (emptied with the last chunk). There is always a last chunk: it moves the
        position even when nothing is left to read."""
        held = day_rows(source, marker.upto)
        wanted = set(held) if marker.days is None else set(marker.days)
        known = set(day_rows(target)) if marker.days is None else wanted
        stale = sorted(known - set(held))
        counts = {d: n for d, n in held.items() if d in wanted}
        chunks = marker.pending(plan_chunks(counts, self._budget, whole_days))
        if not chunks:
            chunks = [Chunk((), 0)]
        return chunks, stale

    def _computed(
        self, tasks: list[ChunkTask], table: str, spec: GoldSpec | None = None
    ) -> Iterator[ChunkDone]:
        """Each task's result, in order; empty chunks and tables built from gold here."""
        if spec is not None and spec.built_from:
            for task in tasks:
                days = list(task.chunk.days)
                source = self._lakehouse.table(spec.built_from[0])
                rows = rows_where(source, "event_date", days)  # type: ignore[arg-type]
                out = spec.compute(rows, self._lakehouse)
                yield ChunkDone(task, rows.num_rows, out, None, "driver")
            return
        work = [t for t in tasks if t.chunk.days]
        results = run_chunks(self._lakehouse, work)
        for task in tasks:
            if task.chunk.days:
                yield next(results)
            else:
                empty = self._lakehouse.table(table).schema().as_arrow().empty_table()
                yield ChunkDone(task, 0, empty, None, "driver")


def _rewrite(
    done: ChunkDone, last: bool, stale: list[date], time_column: str = "event_ts"
) -> Filter:
    """The rows a chunk replaces: its own, and on the last chunk the stale days too."""
    chunk = done.task.chunk
    if last and stale:
        gone = values_in("event_date", stale)
        return chunk.or_days(stale, time_column) if chunk.days else gone
    return chunk.condition(time_column) if chunk.days else nothing()


def _progress(table: str, done: ChunkDone, index: int, total: int) -> None:
    chunk = done.task.chunk
    days = f"{chunk.days[0]}..{chunk.days[-1]}" if chunk.days else "-"
    log.info(
        "rebuild chunk committed",
        extra={
            "table": table,
            "chunk": f"{index + 1}/{total}",
            "days": days,
            "rows": done.rows.num_rows,
            "worker": done.worker,
        },
    )
