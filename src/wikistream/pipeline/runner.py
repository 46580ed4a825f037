"""The ingest loop: a reader thread pulls from the source, the main thread commits bronze.

The reader never decides anything: it hands batches over a bounded queue (backpressure) so
time-based commits happen even while the source is silent. SIGINT/SIGTERM stop reading,
and whatever was already read is committed before the loop returns.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from wikistream.lakehouse.store import Lakehouse
from wikistream.layers.bronze import BronzeStats, BronzeWriter, EventWindow
from wikistream.settings import Settings
from wikistream.sources.base import Source, SourceBatch

log = logging.getLogger(__name__)

_QUEUE_BATCHES = 8  # x chunk_events records: bounds memory while the writer is busy


@dataclass
class RunSummary:
    """What one run did; printed by the CLI, returned to tests and benchmarks."""

    source: str
    start_position: str | None
    end_position: str | None
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

    start_position: str | None = None
    stats: BronzeStats = field(default_factory=BronzeStats)


class _End:
    """Queue marker: the source ended, or failed with `error`."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class StopToken:
    """Set by a signal handler or a caller to end the run gracefully."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""
        self._children: list[StopToken] = []

    def stop(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()
        for child in self._children:
            child.stop(reason)

    def child(self) -> StopToken:
        """A token for one of several runs: stopping this one stops it, not the reverse."""
        token = StopToken()
        self._children.append(token)
        if self.event.is_set():
            token.stop(self.reason)
        return token


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
) -> RunSummary:
    """Ingest from `source` into bronze until it ends, a limit is hit, or `stop` is set.

    With `replay`, read from the replay's start instead of the stored position, store
    positions under `replay:<source>` (the live position stays where it is) and drop
    events bronze already holds, so running a replay twice equals running it once.
    `isolate`: suspect the data of any failed commit (see `BronzeWriter`). `attempt` is
    filled in as the run goes, so a caller can see where a failed run started.
    """
    stop = stop or StopToken()
    name = source.name if replay is None else f"{replay.kind}:{source.name}"
    writer = BronzeWriter(
        Lakehouse(settings), settings, name,
        replay_of=None if replay is None else source.name,
        window=None if replay is None else replay.window, isolate=isolate,
    )  # fmt: skip
    start_position = writer.position
    if replay is not None and not (replay.resume and writer.position is not None):
        start_position = replay.start
    if attempt is not None:
        attempt.start_position, attempt.stats = start_position, writer.stats
    log.info("ingest starting", extra={"source": name, "position": start_position})
    batches: queue.Queue[SourceBatch | _End] = queue.Queue(maxsize=_QUEUE_BATCHES)
    reader = threading.Thread(
        target=_read, args=(source, start_position, batches, stop), name="source-reader",
        daemon=True,
    )  # fmt: skip
    began = time.monotonic()
    reader.start()
    commit_every = settings.commit.max_seconds
    first_pending_at: float | None = None
    last_progress = began
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
            deadline = (first_pending_at or now) + commit_every
            try:
                item = batches.get(timeout=max(0.01, min(deadline - now, 0.25)))
            except queue.Empty:
                item = None
            if isinstance(item, _End):
                error = item.error
                break
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
            _drain(batches, writer)  # read before the signal: commit it too
    finally:
        stop.stop(stop.reason or stopped_by)  # lets the reader thread finish
        source.close()
    try:
        writer.flush()  # commit everything already read, whatever ended the run
    finally:
        writer.close()
    if error is not None:
        raise error
    return RunSummary(
        source=name,
        start_position=start_position,
        end_position=writer.position,
        seconds=time.monotonic() - began,
        stats=writer.stats,
        stopped_by=stopped_by,
    )


def _read(
    source: Source, start: str | None, out: queue.Queue[SourceBatch | _End], stop: StopToken
) -> None:
    try:
        for batch in source.batches(start):
            while not stop.event.is_set():
                try:
                    out.put(batch, timeout=0.25)
                    break
                except queue.Full:
                    continue
            if stop.event.is_set():
                return
        _put_end(out, _End(), stop)
    except BaseException as exc:  # handed to the main thread, which decides
        _put_end(out, _End(exc), stop)


def _put_end(out: queue.Queue[SourceBatch | _End], end: _End, stop: StopToken) -> None:
    while not stop.event.is_set():
        try:
            out.put(end, timeout=0.25)
            return
        except queue.Full:
            continue  # the main thread drains the queue while it runs


def _drain(batches: queue.Queue[SourceBatch | _End], writer: BronzeWriter) -> None:
    while True:
        try:
            item = batches.get_nowait()
        except queue.Empty:
            return
        if isinstance(item, SourceBatch):
            writer.add(item)


@contextmanager
def graceful_signals(stop: StopToken) -> Iterator[None]:
    """SIGINT/SIGTERM ask the run to stop and commit; a second SIGINT interrupts at once."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.stop(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
