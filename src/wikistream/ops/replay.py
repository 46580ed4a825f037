"""Replays: re-read a source into bronze, or recompute silver or gold from the layer below.

Each is idempotent, so running one twice leaves the tables as running it once: a bronze
replay drops events bronze already holds, a silver replay replaces whole `event_date`
partitions, a gold replay replaces every window from a point on.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from wikistream.exceptions import ConfigError
from wikistream.lakehouse.partitions import changes_since, day_rows
from wikistream.lakehouse.snapshots import has_snapshot, resolve
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS, SILVER_EVENTS, TABLES, TableDef
from wikistream.layers.bronze import STREAM_GRACE, BronzeStats, EventWindow
from wikistream.pipeline.reading import StopToken
from wikistream.pipeline.runner import Replay, RunSummary, run_ingest
from wikistream.settings import Settings
from wikistream.sources.registry import open_source
from wikistream.times import iso_instant

if TYPE_CHECKING:
    from wikistream.pipeline.process import CycleReport, Processor

EARLIEST = "earliest"
SSE_RETENTION = timedelta(days=7)  # what EventStreams keeps (see docs/architecture.md)


@dataclass(frozen=True)
class Origin:
    """Where a replay starts: the beginning (both None), a position or snapshot id, or a time."""

    position: str | None = None
    time: datetime | None = None

    @classmethod
    def parse(cls, text: str) -> Origin:
        """`earliest`, an ISO-8601 time, or anything else as a position / snapshot id."""
        if text == EARLIEST:
            return cls()
        moment = None if text.lstrip("-").isdigit() else iso_instant(text)
        return cls(time=moment) if moment is not None else cls(position=text)


def replay_bronze(
    settings: Settings,
    spec: str,
    origin: Origin,
    until: datetime | None = None,
    stop: StopToken | None = None,
    on_progress: Callable[[BronzeStats, float], None] | None = None,
) -> RunSummary:
    """Re-read `spec` from `origin` up to the event time `until` (default: now) into bronze.

    SSE starts at `?since=` (a time, or the stream's retention for `earliest`); a file or
    the synthetic stream starts at a position (byte offset / event number) or reads from
    its beginning and keeps the events at or after the time. Kafka reads every partition
    from the earliest offset, from `P:OFFSET,…`, or from the offsets the broker gives for
    the time, to the end it finds.
    """
    since = None
    kind = spec.partition(":")[0]
    if kind in ("live", "sse") and origin.position is None:
        since = (origin.time or datetime.now(UTC) - SSE_RETENTION).isoformat()
    elif kind == "kafka" and origin.time is not None:
        since = origin.time.isoformat()  # offsets for that time; the window filters the rest
    source = open_source(spec, settings, since=since)
    end = until or datetime.now(UTC)
    # Endless sources stop past the end (a stream: by a grace for late events); files and
    # a topic are read to their end, so no event inside the window is left out.
    stop_at = {"live": end + STREAM_GRACE, "sse": end + STREAM_GRACE, "synthetic": end}.get(kind)
    window = EventWindow(origin.time, end, stop_at)
    return run_ingest(
        settings,
        source,
        stop=stop,
        on_progress=on_progress,
        replay=Replay(start=origin.position, window=window),
    )


def replay_silver(lakehouse: Lakehouse, origin: Origin) -> CycleReport:
    """Recompute silver from bronze, then gold from silver.

    `earliest`: everything. A bronze snapshot id: the days of the rows bronze appended after
    it. A time: every day from that time's day on. Whole days are replaced, so a replay
    also brings in rows the silver transform or checks now treat differently.
    """
    with _processor(lakehouse, "replaying silver") as processor:
        if origin == Origin():
            return processor.run("all", full_refresh=True)
        bronze = lakehouse.table(BRONZE_EVENTS)
        if origin.position is not None:
            start = _below(lakehouse, BRONZE_EVENTS, origin.position, "silver")
            days = sorted(changes_since(bronze, start, appended_days=True).days)
        else:
            assert origin.time is not None  # noqa: S101 - parse() sets one of the two
            days = [d for d in day_rows(bronze) if d >= origin.time.date()]
        report = processor.recompute_silver(sorted(days))
        if report.held:
            return report
        after = processor.run("all")  # gold sees the rewrite and rebuilds from silver
        return _merged(report, after)


def replay_gold(lakehouse: Lakehouse, origin: Origin) -> CycleReport:
    """Recompute gold from silver: everything (`earliest`), every day from a time's day on,
    or the days of the rows silver appended after a snapshot id (found in its metadata)."""
    from wikistream.pipeline.process import CycleReport  # Daft, on demand

    with _processor(lakehouse, "replaying gold") as processor:
        if origin == Origin():
            return processor.run("gold", full_refresh=True)
        since = origin.time
        if origin.position is not None:
            silver = lakehouse.table(SILVER_EVENTS)
            start = _below(lakehouse, SILVER_EVENTS, origin.position, "gold")
            days = changes_since(silver, start, appended_days=True).days
            if not days:
                return CycleReport()
            return processor.run("gold", days=sorted(days))
        return processor.run("gold", since=since)


def _below(lakehouse: Lakehouse, below: TableDef, snapshot: str, layer: str) -> int:
    """`--from SNAPSHOT` of a silver or gold replay: a snapshot of the layer below, the one
    the replay recomputes from; an id of another table says which one to look in."""
    try:
        return resolve(lakehouse.table(below), snapshot)
    except ConfigError:
        for definition in TABLES.values():
            table = lakehouse.find(definition.identifier)
            if table is not None and has_snapshot(table, int(snapshot)):
                raise ConfigError(
                    f"snapshot {snapshot} is one of {definition.identifier}; `replay --layer "
                    f"{layer} --from` takes a snapshot of {below.identifier}, the layer it is "
                    f"recomputed from (see: wikistream history {below.identifier})"
                ) from None
        raise


def _processor(lakehouse: Lakehouse, action: str) -> AbstractContextManager[Processor]:
    """A processor holding the processing lease (refused while a `run` keeps the layers
    current)."""
    from wikistream.pipeline.exclusive import exclusive_processor  # Daft

    return exclusive_processor(lakehouse, action)


def _merged(first: CycleReport, second: CycleReport) -> CycleReport:
    for name in ("rows", "seconds", "quarantined"):
        merged = getattr(first, name)
        for table, value in getattr(second, name).items():
            merged[table] = merged.get(table, 0) + value
    first.held.update(second.held)
    return first
