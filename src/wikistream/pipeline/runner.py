"""The ingest loop: a reader thread pulls from the source, the main thread commits bronze.

Commits happen on time even while the source is silent (the reader hands batches over a
bounded queue, `reading.py`). SIGINT/SIGTERM stop reading, and whatever was already read
is committed before the loop returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wikistream.lakehouse.positions import Positions, shown
from wikistream.lakehouse.store import Lakehouse
from wikistream.layers.bronze import BronzeStats, BronzeWriter, EventWindow
from wikistream.pipeline.reading import BackgroundReader, Ended, StopToken
from wikistream.settings import Settings
from wikistream.sources.base import PartitionedSource, Source

log = logging.getLogger(__name__)

_LEAVE_GROUP_S = 60.0


@dataclass
class RunSummary:
    """What one run did; printed by the CLI, returned to tests and benchmarks."""

    source: str
    start_position: str | Positions | None  # per partition for a partitioned source
    end_position: str | Positions | None
    seconds: float
    stats: BronzeStats
    stopped_by: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.stats.read / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        s = self.stats
        return {
            "source": self.source,
            "start_position": self.start_position,
            "end_position": self.end_position,
            "stopped_by": self.stopped_by,
            "seconds": round(self.seconds, 3),
            "events_read": s.read,
            "accepted": s.accepted,
            "quarantined": s.quarantined,
            "duplicates_dropped": s.duplicates,
            "filtered": dict(s.dropped),
            "commits": s.commits,
            "events_per_s": round(self.events_per_s, 1),
            "last_commit_at": s.last_commit_at.isoformat() if s.last_commit_at else None,
            **self.extra,
        }


@dataclass(frozen=True)
class Replay:
    """Re-read a source into bronze alongside its live ingestion.

    Attributes:
        start: a position the source produced; None: its beginning.
        window: keep only events with `since <= event time < until`; reading stops at the
            first batch that reaches `until`.
        kind: positions are stored under `<kind>:<source name>` (`backfill:<run>` for a
            backfill), so the live position stays where it is.
        resume: start from the position stored under that name, if there is one.
    """

    start: str | None = None
    window: EventWindow = EventWindow()
    kind: str = "replay"
    resume: bool = False


@dataclass
class Attempt:
    """What one run of `run_ingest` got to, readable even after it raised."""

    start_position: str | Positions | None = None
    stats: BronzeStats = field(default_factory=BronzeStats)


def run_ingest(
    settings: Settings,
    source: Source,
    *,
    max_events: int | None = None,
    max_seconds: float | None = None,
    stop: StopToken | None = None,
    on_progress: Callable[[BronzeStats, float], None] | None = None,
    replay: Replay | None = None,
    isolate: bool = False,
    attempt: Attempt | None = None,
    idle_exit_s: float | None = None,
) -> RunSummary:
    """Ingest from `source` into bronze until it ends, a limit is hit, or `stop` is set.

    With `replay`, read from the replay's start instead of the stored position, store
    positions under `replay:<source>` (the live position stays where it is) and drop
    events bronze already holds, so running a replay twice equals running it once.
    `isolate`: suspect the data of any failed commit (see `BronzeWriter`). `attempt` is
    filled in as the run goes, so a caller can see where a failed run started.
    `idle_exit_s`: end when no record came for that long (for a partitioned source: while it
    holds partitions; a new assignment restarts the clock). A partitioned source is bound
    to the writer (not for a replay, which reads the whole topic under its own name).
    """
    stop = stop or StopToken()
    name = source.name if replay is None else f"{replay.kind}:{source.name}"
    writer = BronzeWriter(
        Lakehouse(settings),
        name,
        replay_of=None if replay is None else source.name,
        window=None if replay is None else replay.window,
        isolate=isolate,
    )
    group = source if replay is None and isinstance(source, PartitionedSource) else None
    if group is not None:
        group.bind(writer)
    start_position = writer.position
    if replay is not None and not (replay.resume and writer.position is not None):
        start_position = replay.start
    shown_start = shown(writer.positions) if group and writer.positions else start_position
    if attempt is not None:
        attempt.start_position, attempt.stats = shown_start, writer.stats
    log.info("ingest starting", extra={"source": name, "position": str(shown_start)})
    reader = BackgroundReader(source, start_position, stop)
    began = time.monotonic()
    reader.start()
    try:
        stopped_by, error = _loop(
            writer,
            reader,
            source,
            group,
            stop,
            settings,
            max_events,
            max_seconds,
            on_progress,
            idle_exit_s,
            began,
        )
    except BaseException:
        writer.close(quiet=True)  # a commit in flight ends before the next attempt starts
        raise
    try:
        writer.flush()  # commit everything already read, whatever ended the run
    finally:
        writer.close()
    if error is not None:
        raise error
    return RunSummary(
        source=name,
        start_position=shown_start,
        end_position=shown(writer.positions) if writer.positions else None,
        seconds=time.monotonic() - began,
        stats=writer.stats,
        stopped_by=stopped_by,
    )


def _loop(
    writer: BronzeWriter,
    reader: BackgroundReader,
    source: Source,
    group: PartitionedSource | None,
    stop: StopToken,
    settings: Settings,
    max_events: int | None,
    max_seconds: float | None,
    on_progress: Callable[[BronzeStats, float], None] | None,
    idle_exit_s: float | None,
    began: float,
) -> tuple[str, BaseException | None]:
    """Read and flush until something ends the run; what ended it, and the source's error."""
    commit_every = settings.commit.max_seconds
    first_pending_at: float | None = None
    last_progress = last_record = began
    epoch = 0
    error: BaseException | None = None
    stopped_by = "source ended"
    try:
        while True:
            now = time.monotonic()
            if max_seconds is not None and now - began >= max_seconds:
                stopped_by = "max seconds"
                break
            if stop.event.is_set():
                stopped_by = stop.reason
                break
            if group is not None and not group.assigned:
                last_record = now  # waiting for the group to hand out partitions: not idle
            if idle_exit_s is not None and now - last_record >= idle_exit_s:
                stopped_by = "idle"
                break
            deadline = (first_pending_at or now) + commit_every
            item = reader.next(timeout=max(0.01, min(deadline - now, 0.25)))
            if isinstance(item, Ended):
                error = item.error
                break
            if item is not None and (item.records or item.epoch != epoch):
                last_record, epoch = time.monotonic(), item.epoch
            if item is not None:
                remaining = None if max_events is None else max_events - writer.stats.read
                if remaining is not None and len(item.records) >= remaining:
                    writer.add(item.head(remaining))
                    stopped_by = "max events"
                    break
                writer.add(item)
                if first_pending_at is None and item.records:
                    first_pending_at = time.monotonic()
            now = time.monotonic()
            due = first_pending_at is not None and now - first_pending_at >= commit_every
            if writer.pending >= settings.commit.max_events or due:
                writer.flush()
                first_pending_at = None if writer.pending == 0 else first_pending_at
                if writer.reached_until:
                    stopped_by = "until"
                    break
            if on_progress is not None and now - last_progress >= 1.0:
                on_progress(writer.stats, now - began)
                last_progress = now
        if stop.event.is_set():
            for batch in reader.drain():  # read before the signal: commit it too
                writer.add(batch)
    finally:
        stop.stop(stop.reason or stopped_by)  # lets the reader thread finish
        source.close()
        if group is not None:  # it leaves the group, committing in its revoke: wait for it
            reader.join(timeout=_LEAVE_GROUP_S)
    return stopped_by, error
