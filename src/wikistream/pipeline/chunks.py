"""Rebuilds in chunks: whole `event_date` partitions (or hour-aligned slices of one large
day) under a row budget, and the marker a rebuild leaves in each commit so that a killed
rebuild resumes at the next chunk.

Every silver row and every gold window belongs to one day and one hour, so replacing a
chunk's rows is exact: nothing outside it is touched, nothing inside it is missed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from wikistream.lakehouse.filters import Filter, days_and_hours, either, values_in
from wikistream.lakehouse.positions import SOURCE_KEY, lineage, summary_value
from wikistream.lakehouse.store import Table

REBUILD_KEY = "wikistream.rebuild"  # a rebuild in progress: how far it got


@dataclass(frozen=True)
class Chunk:
    """Days, or the hours [start, end) of one day, and the rows they hold."""

    days: tuple[date, ...]
    rows: int
    start: datetime | None = None
    end: datetime | None = None

    @property
    def until(self) -> datetime:
        """Where the chunk ends in event time (exclusive): a resumed rebuild starts there."""
        if self.end is not None:
            return self.end
        return datetime.combine(self.days[-1] + timedelta(days=1), time(), UTC)

    def condition(self, time_column: str = "event_ts") -> Filter:
        """The rows of the chunk, as a filter (partitions and file statistics prune)."""
        return days_and_hours(self.days, self.start, self.end, time_column)

    def or_days(self, extra: list[date], time_column: str = "event_ts") -> Filter:
        """The chunk's rows and every row of `extra` days (days the source no longer has)."""
        if not extra:
            return self.condition(time_column)
        return either(self.condition(time_column), values_in("event_date", extra))


def plan_chunks(
    rows_per_day: Mapping[date, int], budget: int, whole_days: bool = False
) -> list[Chunk]:
    """Consecutive days grouped while they fit `budget` rows; a day above it alone is cut
    into equal hour-aligned slices (at most 24: an hour is the smallest chunk), or with
    `whole_days` is a chunk by itself."""
    chunks: list[Chunk] = []
    group: list[date] = []
    held = 0
    for day, rows in sorted(rows_per_day.items()):
        if rows > budget:
            if group:
                chunks.append(Chunk(tuple(group), held))
                group, held = [], 0
            chunks += [Chunk((day,), rows)] if whole_days else _slices(day, rows, budget)
            continue
        if group and held + rows > budget:
            chunks.append(Chunk(tuple(group), held))
            group, held = [], 0
        group.append(day)
        held += rows
    if group:
        chunks.append(Chunk(tuple(group), held))
    return chunks


def _slices(day: date, rows: int, budget: int) -> list[Chunk]:
    pieces = min(24, math.ceil(rows / budget))
    bounds = [round(24 * i / pieces) for i in range(pieces + 1)]
    midnight = datetime.combine(day, time(), UTC)
    return [
        Chunk(
            (day,),
            rows // pieces,
            midnight + timedelta(hours=low),
            midnight + timedelta(hours=high),
        )
        for low, high in zip(bounds, bounds[1:], strict=False)
    ]


@dataclass(frozen=True)
class Rebuild:
    """A rebuild in progress, stored with each of its commits but the last.

    Attributes:
        upto: the snapshot of the input table it rebuilds from.
        days: the days it rebuilds (None: every day the input holds).
        through: where its last committed chunk ended (None: none committed yet).
    """

    upto: int
    days: tuple[date, ...] | None = None
    through: datetime | None = None

    def to_text(self) -> str:
        return json.dumps(
            {
                "upto": self.upto,
                "days": None if self.days is None else [d.isoformat() for d in self.days],
                "through": None if self.through is None else self.through.isoformat(),
            }
        )

    @staticmethod
    def from_text(text: str) -> Rebuild:
        found = json.loads(text)
        days = found.get("days")
        through = found.get("through")
        return Rebuild(
            int(found["upto"]),
            None if days is None else tuple(date.fromisoformat(d) for d in days),
            None if through is None else datetime.fromisoformat(through),
        )

    def after(self, chunk: Chunk) -> Rebuild:
        return replace(self, through=chunk.until)

    def pending(self, chunks: list[Chunk]) -> list[Chunk]:
        """The chunks it has not committed yet."""
        through = self.through
        return [c for c in chunks if through is None or c.until > through]


def rebuild_in_progress(table: Table, source: str) -> Rebuild | None:
    """The rebuild the table's newest commit from `source` left unfinished, if any."""
    for snapshot in lineage(table):
        if summary_value(snapshot, SOURCE_KEY) == source:
            marker = summary_value(snapshot, REBUILD_KEY)
            return None if not marker else Rebuild.from_text(marker)
    return None
