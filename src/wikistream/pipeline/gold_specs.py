"""Each gold table declared once: its windows, what it reads, how it is computed.

The processor loops over `GOLD_SPECS`; adding a gold table touches its spec here, its schema
(`lakehouse/tables.py`), its transform (`layers/gold.py` or `risk/`) and its checks
(`quality/checks.toml`), nothing else. Every window lies inside one `event_date`: a window is
recomputed from the silver rows of that day alone (a rebuild goes a day, or an hour, at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wikistream.lakehouse.reads import rows_where
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import (
    GOLD_DAILY,
    GOLD_HOURLY,
    GOLD_METRICS_10MIN,
    GOLD_RISK,
    TableDef,
)
from wikistream.layers import gold
from wikistream.pipeline.handoff import SilverReads
from wikistream.risk.scores import RISK_INPUTS, risk_scores


@dataclass(frozen=True)
class GoldSpec:
    """One gold table.

    Attributes:
        table: its definition.
        window: its window column (what a recompute replaces).
        minutes: the window's length in minutes (60: an hour; 1440: a day).
        inputs: the silver columns it reads (none: `built_from` other gold tables).
        compute: input rows -> the table's rows for their windows.
        built_from: gold tables it is computed from instead of silver (it waits while one
            of them is held).
    """

    table: TableDef
    window: str
    minutes: int
    inputs: tuple[str, ...]
    compute: Callable[[pa.Table, Lakehouse], pa.Table]
    built_from: tuple[TableDef, ...] = ()

    @property
    def name(self) -> str:
        return self.table.identifier

    def windows_of(self, silver_rows: pa.Table) -> list[Any]:
        """The windows the silver rows fall in."""
        if silver_rows.num_rows == 0:
            return []
        if self.minutes >= 1440:
            values = silver_rows.column("event_date")
        else:
            values = pc.floor_temporal(
                silver_rows.column("event_ts"), multiple=self.minutes, unit="minute"
            )
        return sorted(pc.unique(values).to_pylist())

    def rows(self, lakehouse: Lakehouse, silver: SilverReads, windows: list[Any]) -> pa.Table:
        """Its input rows for `windows` (a rebuild reads whole chunks: `chunk_work`)."""
        if self.built_from:
            return rows_where(lakehouse.table(self.built_from[0]), self.window, windows)
        columns = self.inputs
        if windows is not None and self.minutes < 60:
            hours = sorted({w.replace(minute=0) for w in windows})
            rows = silver.where("event_hour", hours, columns)
            return self._within(rows, lambda s: pc.is_in(s, pa.array(windows, s.type)))
        return silver.where("event_hour", windows, columns)

    def _within(self, rows: pa.Table, keep: Callable[[pa.Array], pa.Array]) -> pa.Table:
        """Rows of windows shorter than an hour: only those `keep` accepts."""
        if self.minutes >= 60 or rows.num_rows == 0:
            return rows
        starts = pc.floor_temporal(rows.column("event_ts"), multiple=self.minutes, unit="minute")
        return rows.filter(keep(starts))


def _daily(hourly: pa.Table, lakehouse: Lakehouse) -> pa.Table:
    """The daily summary of the days `hourly` covers, with the users and risk of those days."""
    days = sorted(pc.unique(hourly.column("event_date")).to_pylist()) if hourly.num_rows else []
    metrics = rows_where(
        lakehouse.table(GOLD_METRICS_10MIN), "event_date", days, ("event_date", "scope", "entity")
    )
    users = metrics.filter(pc.equal(metrics.column("scope"), "user"))
    risk_rows = rows_where(lakehouse.table(GOLD_RISK), "event_date", days)
    settings = lakehouse.settings
    return gold.daily_summary(
        hourly,
        users,
        risk_rows,
        settings.risk.high_at,
        settings.risk.medium_at,
        settings.silver.regions,
    )


GOLD_SPECS: tuple[GoldSpec, ...] = (
    GoldSpec(GOLD_HOURLY, "event_hour", 60, gold.HOURLY_INPUTS,
             lambda rows, _: gold.hourly_stats(rows)),
    GoldSpec(GOLD_METRICS_10MIN, "window_start", 10, gold.METRICS_INPUTS,
             lambda rows, _: gold.metrics_10min(rows)),
    GoldSpec(GOLD_RISK, "window_start", 60, RISK_INPUTS,
             lambda rows, lakehouse: risk_scores(rows, lakehouse.settings.risk)),
    # Built from the tables above, in this order: it comes last.
    GoldSpec(GOLD_DAILY, "event_date", 1440, (), _daily,
             built_from=(GOLD_HOURLY, GOLD_METRICS_10MIN, GOLD_RISK)),
)  # fmt: skip
