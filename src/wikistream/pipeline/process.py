"""One processing cycle: bronze -> silver -> gold, incremental and idempotent.

Silver appends the silver rows of the bronze snapshots it has not processed yet; the newest
bronze snapshot id it consumed is stored in the same silver snapshot (the same exactly-once
mechanism as bronze). Each gold table reads the silver rows appended since its own stored
silver snapshot, finds the windows they touch (hours, 10-minute windows, days), recomputes
those windows from all of silver and replaces them in one snapshot.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from wikistream import metrics
from wikistream.engine import configure_engine
from wikistream.lakehouse import commits
from wikistream.lakehouse.commits import DataFile
from wikistream.lakehouse.filters import Filter, is_everything, values_in
from wikistream.lakehouse.partitions import appends_after, changes_since, day_rows
from wikistream.lakehouse.positions import (
    MAX_EVENT_TS_KEY,
    POSITION_KEY,
    SOURCE_KEY,
    WRITER_KEY,
    as_position,
    as_snapshot_id,
    guard_position,
    newest_event_ts,
    stored_position,
)
from wikistream.lakehouse.reads import (
    appended_since,
    rows_where,
    without_known,
)
from wikistream.lakehouse.snapshots import current_id, parent_of, row_count
from wikistream.lakehouse.store import Lakehouse, Table
from wikistream.lakehouse.tables import (
    BRONZE_EVENTS,
    GOLD_TABLES,
    SILVER_EVENTS,
    SILVER_QUARANTINE,
    TIMESTAMP,
    TableDef,
)
from wikistream.layers.silver import BRONZE_COLUMNS, to_silver
from wikistream.pipeline.chunks import REBUILD_KEY, Rebuild, rebuild_in_progress
from wikistream.pipeline.gold_specs import GOLD_SPECS, GoldSpec
from wikistream.pipeline.handoff import Committed, SilverReads
from wikistream.pipeline.rebuild import REBUILD_EXCLUDES, Rebuilder
from wikistream.quality.audit import GateRun
from wikistream.quality.evaluate import GateOutcome
from wikistream.quality.gates import HELD, QualityGates

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    """What one cycle did, per table: rows written, seconds spent, batches held back."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # table -> run id of the held batch

    @property
    def changed(self) -> bool:
        return any(self.rows.values())

    def add(self, table: str, rows: int, seconds: float) -> None:
        """Count a commit (a rebuild commits a table once per chunk)."""
        self.rows[table] = self.rows.get(table, 0) + rows
        self.seconds[table] = self.seconds.get(table, 0.0) + seconds


class Processor:
    """Runs silver and gold cycles, each batch through its quality gate, on one catalog."""

    def __init__(
        self,
        lakehouse: Lakehouse,
        gates: QualityGates | None = None,
        fence: Callable[[], None] | None = None,
    ) -> None:
        """
        Args:
            fence: called right before every commit; raises when this process may no
                longer write silver and gold (the processing lease, `Lease.fence`).
        """
        settings = lakehouse.settings
        configure_engine(settings.engine)
        self._lakehouse = lakehouse
        self.lakehouse = lakehouse
        self._settings = settings
        self.fence = fence
        # Names this process in silver and gold commits (and as the processing lease holder).
        self.writer_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        if gates is None and settings.dq.enabled:
            gates = QualityGates(lakehouse)
        self.gates = gates
        self._committed: Committed | None = None  # silver's rows of this cycle, for gold
        self._rebuilder = Rebuilder(self)

    def run(
        self,
        layer: str = "all",
        full_refresh: bool = False,
        lookback_hours: float | None = None,
        since: datetime | None = None,
        days: list[date] | None = None,
    ) -> CycleReport:
        """One cycle. `lookback_hours` / `since`: also recompute every gold window from then
        on; `days`: also recompute every gold window of these days."""
        report = CycleReport()
        if lookback_hours is not None:
            back = datetime.now(UTC) - timedelta(hours=lookback_hours)
            since = back if since is None else min(since, back)
        try:
            if layer in ("silver", "all"):
                with metrics.CYCLE_SECONDS.labels(layer="silver").time():
                    self._silver(report, full_refresh)
            if layer in ("gold", "all"):
                with metrics.CYCLE_SECONDS.labels(layer="gold").time():
                    self._gold(report, full_refresh, since, days or [])
        finally:
            self._committed = None
            if self.gates is not None:
                self.gates.flush()
        return report

    def close(self) -> None:
        if self.gates is not None:
            self.gates.close()

    def __enter__(self) -> Processor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, layer: str, whole_tables: bool = False) -> list[GateRun]:
        """Run a layer's gate on demand, without promoting anything.

        bronze and silver judge the batch waiting for the next cycle (`whole_tables`: every
        row of the layer's table); gold judges its whole tables against all of silver.
        """
        gates = self.gates or QualityGates(self._lakehouse)
        bronze = self._lakehouse.table(BRONZE_EVENTS)
        silver = self._lakehouse.table(SILVER_EVENTS)
        done = as_snapshot_id(stored_position(silver, BRONZE_EVENTS.identifier))
        batches: list[tuple[TableDef, pa.Table, int | None]] = []
        if layer == "bronze":
            rows = (
                rows_where(bronze, "event_date", None)
                if whole_tables
                else appended_since(bronze, done)[0]
            )
            batches.append((BRONZE_EVENTS, rows, None))
        elif layer == "silver":
            if whole_tables:
                rows = rows_where(silver, "event_date", None)
            else:
                pending = appended_since(bronze, done)[0]
                rows = without_known(
                    silver, to_silver(pending, self._settings.silver, datetime.now(UTC))
                )
            batches.append((SILVER_EVENTS, rows, None))
        else:
            silver_rows = row_count(silver)
            for table_def in GOLD_TABLES:
                rows = rows_where(self._lakehouse.table(table_def), "event_date", None)
                batches.append((table_def, rows, silver_rows))
        runs = [
            gates.judge(
                layer,
                table_def.identifier,
                rows,
                (None, None),
                reference_rows=reference,
                on_demand=True,
            )[0]
            for table_def, rows, reference in batches
        ]
        gates.flush()
        return runs

    # silver -----------------------------------------------------------------------------

    def _silver(self, report: CycleReport, full_refresh: bool) -> None:
        silver = self._lakehouse.table(SILVER_EVENTS)
        marker = rebuild_in_progress(silver, BRONZE_EVENTS.identifier)
        if (marker is not None or full_refresh) and not self._rebuilder.silver(report, marker):
            return  # a chunk was held
        while self._silver_batch(report):
            pass

    def _silver_batch(self, report: CycleReport) -> bool:
        """Promote the next bronze increment, at most `process.max_rows_per_chunk` rows of
        whole bronze snapshots; True when more is waiting."""
        started = time.perf_counter()
        bronze = self._lakehouse.table(BRONZE_EVENTS)
        silver = self._lakehouse.table(SILVER_EVENTS)
        done = as_snapshot_id(stored_position(silver, BRONZE_EVENTS.identifier))
        released = self._releases((BRONZE_EVENTS, SILVER_EVENTS), done)
        limit = next(iter(released.values()), None)
        if limit is None:
            limit = self._chunk_end(bronze, done)
        rows, upto = appended_since(bronze, done, limit, self._bronze_columns())
        if upto is None or upto == done:
            return False
        batch_range = (as_position(done), as_position(upto))
        if self._held(report, "bronze", BRONZE_EVENTS, rows, batch_range, upto, released):
            return False
        out = without_known(silver, to_silver(rows, self._settings.silver, datetime.now(UTC)))
        del rows
        self.promote_silver(report, out, (batch_range, upto, done), released, None, started)
        return SILVER_EVENTS.identifier not in report.held and upto != current_id(bronze)

    def _chunk_end(self, bronze: Table, done: int | None) -> int | None:
        """The last bronze snapshot of the next increment under the row budget (None: all
        of what is there fits). A snapshot larger than the budget is one increment."""
        budget = self._settings.process.max_rows_per_chunk
        appends = appends_after(bronze, done)
        if sum(rows for _, rows in appends) <= budget:
            return None
        taken = 0
        for index, (snapshot_id, rows) in enumerate(appends):
            taken += rows
            if taken > budget:
                return appends[max(0, index - 1)][0] if index else snapshot_id
        return None

    def _bronze_columns(self) -> list[str]:
        """What silver and the bronze gate read: never the raw JSON unless a check asks."""
        names = BRONZE_EVENTS.schema.names
        checked = self.gates.checks.columns("bronze", names) if self.gates is not None else set()
        return [n for n in names if n in checked or n in BRONZE_COLUMNS]

    def recompute_silver(self, dates: list[date]) -> CycleReport:
        """Rebuild silver's `event_date` partitions in `dates` from bronze (a replay), in
        chunks under the row budget.

        Each chunk and its quarantine are replaced in one snapshot; silver keeps its bronze
        position, so rows bronze holds beyond it still come in the next cycle (once: the
        cycle drops rows silver already has). Gold sees the rewritten days and rebuilds them.
        """
        report = CycleReport()
        if not dates:
            return report
        try:
            self._rebuilder.silver(report, None, sorted(set(dates)))
        finally:
            if self.gates is not None:
                self.gates.flush()
        return report

    def promote_silver(
        self,
        report: CycleReport,
        out: pa.Table,
        span: tuple[tuple[str | None, str | None], int | None, int | None],
        released: dict[str, int],
        rewrite: Filter | None,
        started: float,
        *,
        position: int | None = None,
        marker: Rebuild | None = None,
        files: list[DataFile] | None = None,
    ) -> None:
        """Gate `out`, quarantine its failed rows, and append it to silver (or, with
        `rewrite`, replace the rows matching that condition: a rebuild's chunk).

        `span` is (batch range, bronze snapshot read up to, silver's stored bronze position
        when the batch was read: the commit is refused if it moved meanwhile). A rebuild's
        chunk stores `position` (the rebuild's target on its last chunk) and its `marker`.
        `files`: `out` already written as silver's data files (a Ray task).
        """
        batch_range, upto, stored = span
        silver = self._lakehouse.table(SILVER_EVENTS)
        # A rebuild re-reads old events on purpose: freshness and volume are not its to judge.
        exclude = REBUILD_EXCLUDES if rewrite is not None else ()
        run, outcome = self.judge(
            "silver", SILVER_EVENTS, out, batch_range, upto, released, exclude=exclude
        )
        if run is not None and run.gate == HELD:
            report.held[SILVER_EVENTS.identifier] = run.run_id
            return
        summary = self._summary(BRONZE_EVENTS, upto if rewrite is None else position, marker)
        if run is not None and outcome is not None and outcome.row_failures:
            out = self._quarantine(report, out, outcome, run.run_id, summary, rewrite)
            files = None  # the worker wrote the failed rows too: write what is left here
        elif rewrite is not None:  # the rebuilt rows come with a rebuilt quarantine
            table = self._lakehouse.table(SILVER_QUARANTINE)
            empty = SILVER_QUARANTINE.schema.empty_table()
            commits.replace_where(table, empty, rewrite, summary, guard=self.fenced(), fresh=True)
        if out.num_rows:
            summary[MAX_EVENT_TS_KEY] = pc.max(out.column("event_ts")).as_py().isoformat()
        # Checked against the exact state the commit is placed on, the first attempt too.
        guard = self.fenced(guard_position(BRONZE_EVENTS.identifier, stored))
        if rewrite is not None:
            snapshot_id = commits.replace_where(
                silver, out, rewrite, summary, files=files, guard=guard, fresh=True
            )
        else:
            snapshot_id = commits.append(silver, out, summary, guard=guard, fresh=True)
        parent = parent_of(silver, snapshot_id)
        whole = parent is None or is_everything(rewrite)
        self._committed = Committed(snapshot_id, parent, out, whole)
        report.add(SILVER_EVENTS.identifier, out.num_rows, time.perf_counter() - started)

    def _quarantine(
        self,
        report: CycleReport,
        rows: pa.Table,
        outcome: GateOutcome,
        run_id: str,
        summary: dict[str, str],
        rewrite: Filter | None,
    ) -> pa.Table:
        """Move the rows that failed row-level checks to silver.quarantine; return the rest.

        Written before silver: if we crash in between, the redo finds them already there.
        """
        failed = outcome.failed_rows()
        table = self._lakehouse.table(SILVER_QUARANTINE)
        bad = rows.filter(failed)
        checks = outcome.failed_checks(failed)
        reasons = pa.array([_reason(names, outcome) for names in checks.to_pylist()], pa.string())
        now = pa.scalar(datetime.now(UTC), TIMESTAMP)
        bad = (
            bad.append_column("quarantine_reason", reasons)
            .append_column("failed_checks", checks)
            .append_column("run_id", pa.repeat(pa.scalar(run_id), bad.num_rows))
            .append_column("quarantined_at", pa.repeat(now, bad.num_rows))
            .cast(SILVER_QUARANTINE.schema)
        )
        if rewrite is not None:
            commits.replace_where(table, bad, rewrite, summary, guard=self.fenced(), fresh=True)
        else:
            bad = without_known(table, bad)
            if bad.num_rows:
                commits.append(table, bad, summary, guard=self.fenced(), fresh=True)
        quarantined = report.quarantined.get(SILVER_QUARANTINE.identifier, 0)
        report.quarantined[SILVER_QUARANTINE.identifier] = quarantined + bad.num_rows
        return rows.filter(pc.invert(failed))

    # gates ------------------------------------------------------------------------------

    def _releases(self, tables: tuple[TableDef, ...], done: int | None) -> dict[str, int]:
        """The released batches that start at `done`, by the table whose gate held them."""
        if self.gates is None:
            return {}
        ends = {
            t.identifier: self.gates.release_end(t.identifier, as_position(done)) for t in tables
        }
        return {table: int(end) for table, end in ends.items() if end is not None}

    def judge(
        self,
        layer: str,
        table_def: TableDef,
        batch: pa.Table,
        batch_range: tuple[str | None, str | None],
        upto: int | None,
        released: dict[str, int],
        reference_rows: int | None = None,
        exclude: tuple[str, ...] = (),
    ) -> tuple[GateRun | None, GateOutcome | None]:
        if self.gates is None or batch.num_rows == 0:
            return None, None
        return self.gates.judge(
            layer,
            table_def.identifier,
            batch,
            batch_range,
            snapshot_id=upto,
            reference_rows=reference_rows,
            released=table_def.identifier in released,
            exclude=exclude,
        )

    def _held(
        self,
        report: CycleReport,
        layer: str,
        table_def: TableDef,
        batch: pa.Table,
        batch_range: tuple[str | None, str | None],
        upto: int | None,
        released: dict[str, int],
    ) -> bool:
        run, _ = self.judge(layer, table_def, batch, batch_range, upto, released)
        if run is not None and run.gate == HELD:
            report.held[table_def.identifier] = run.run_id
            return True
        return False

    # gold -------------------------------------------------------------------------------

    def _gold(
        self, report: CycleReport, full_refresh: bool, since: datetime | None, days: list[date]
    ) -> None:
        silver = self._lakehouse.table(SILVER_EVENTS)
        reads = SilverReads(silver, self._committed)
        increments: dict[tuple[int | None, int | None], tuple[pa.Table, int | None]] = {}
        for spec in GOLD_SPECS:
            table_def = spec.table
            held = [t.identifier for t in spec.built_from if t.identifier in report.held]
            if held:
                log.info("%s waits for its held inputs", spec.name, extra={"held": ",".join(held)})
                continue  # its position stays: it catches up once they are released
            started = time.perf_counter()
            table = self._lakehouse.table(table_def)
            stored = as_snapshot_id(stored_position(table, SILVER_EVENTS.identifier))
            marker = rebuild_in_progress(table, SILVER_EVENTS.identifier)
            if marker is None:
                marker = self._gold_rebuild(silver, stored, full_refresh, since, days)
            if marker is not None:
                if not self._rebuilder.gold(report, spec, marker, stored):
                    continue  # held
                stored = marker.upto
            self._gold_increment(report, spec, reads, increments, stored, started)

    def _gold_rebuild(
        self,
        silver: Table,
        stored: int | None,
        full_refresh: bool,
        since: datetime | None,
        asked: list[date],
    ) -> Rebuild | None:
        """The days a gold table must rebuild in chunks, or None when the silver rows
        appended since `stored` fit one increment. A rewrite of some silver days (a replay,
        a rollback) rebuilds those days only: no gold window reaches beyond its day."""
        upto = current_id(silver)
        if upto is None or (upto == stored and not (full_refresh or since or asked)):
            return None
        if full_refresh:
            return Rebuild(upto)
        changes = changes_since(silver, stored)
        budget = self._settings.process.max_rows_per_chunk
        if not (changes.rewritten or since or asked) and changes.appended_rows <= budget:
            return None
        days = changes_since(silver, stored, appended_days=True).days | set(asked)
        if since is not None:
            days |= {d for d in day_rows(silver) if d >= since.astimezone(UTC).date()}
        return Rebuild(upto, tuple(sorted(days)))

    def _gold_increment(
        self,
        report: CycleReport,
        spec: GoldSpec,
        reads: SilverReads,
        increments: dict[tuple[int | None, int | None], tuple[pa.Table, int | None]],
        stored: int | None,
        started: float,
    ) -> None:
        """Recompute the windows the silver rows appended since `stored` fall in."""
        table_def = spec.table
        table = self._lakehouse.table(table_def)
        released = self._releases((table_def,), stored)
        limit = released.get(table_def.identifier)
        if (stored, limit) not in increments:  # each silver increment is read once
            increments[(stored, limit)] = reads.appended_since(stored, limit)
        new_rows, upto = increments[(stored, limit)]
        if upto is None or upto == stored:
            return
        windows = spec.windows_of(new_rows)
        source_rows = spec.rows(self._lakehouse, reads, windows)
        out = spec.compute(source_rows, self._lakehouse)
        batch_range = (as_position(stored), as_position(upto))
        run, _ = self.judge(
            "gold", table_def, out, batch_range, upto, released, reference_rows=source_rows.num_rows
        )
        if run is not None and run.gate == HELD:
            report.held[table_def.identifier] = run.run_id
            return
        summary = self.gold_summary(upto, None)
        guard = self.fenced(guard_position(SILVER_EVENTS.identifier, stored))
        condition = values_in(spec.window, windows)
        commits.replace_where(table, out, condition, summary, guard=guard, fresh=True)
        report.add(table_def.identifier, out.num_rows, time.perf_counter() - started)

    def gold_summary(self, position: int | None, marker: Rebuild | None) -> dict[str, str]:
        """A gold commit's snapshot properties: silver read up to, as fresh as that silver."""
        silver = self._lakehouse.table(SILVER_EVENTS)
        summary = self._summary(SILVER_EVENTS, position, marker)
        newest = newest_event_ts(silver, position) if position is not None else None
        if newest is not None:  # gold is as fresh as the silver it was computed from
            summary[MAX_EVENT_TS_KEY] = newest
        return summary

    def _summary(
        self, consumed: TableDef, upto: int | None, marker: Rebuild | None = None
    ) -> dict[str, str]:
        """The snapshot properties of a commit: the input snapshot read up to, and who; a
        rebuild's chunk also says how far the rebuild got."""
        summary = {SOURCE_KEY: consumed.identifier, WRITER_KEY: self.writer_id}
        if upto is not None:
            summary[POSITION_KEY] = str(upto)
        if marker is not None:
            summary[REBUILD_KEY] = marker.to_text()
        return summary

    def fenced(self, guard: Callable[[Table], None] | None = None) -> Callable[[Table], None]:
        """`guard` with the processing lease's fence first (if this processor has one)."""
        fence = self.fence

        def check(table: Table) -> None:
            if fence is not None:
                fence()
            if guard is not None:
                guard(table)

        return check


def _reason(failed_checks: list[str], outcome: GateOutcome) -> str:
    """A short, readable reason: the first failed check and what it is about."""
    check = next(r.check for r in outcome.results if r.check.name == failed_checks[0])
    about = check.description or check.type
    return f"{check.name}: {about}"
