"""`wikistream produce`: the ingest edge as a producer: a source, validated, into a sink.

Records are decoded and validated exactly as bronze does (one `EventDecoder`): valid events
go to the sink with their original bytes, invalid ones to its dead letters with the reason,
canaries and filtered domains nowhere. The source position is checkpointed in the sink
after everything before it was delivered, so a restart resumes there: nothing is lost, and
what is sent twice after a crash is dropped by bronze (same event id).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from wikistream.events.decode import EventDecoder, quarantine_id
from wikistream.exceptions import SourceUnavailable, TransientError
from wikistream.pipeline.reading import BackgroundReader, Ended, StopToken
from wikistream.settings import Settings
from wikistream.sinks.base import Sink, event_key
from wikistream.sources.base import Source, SourceBatch

log = logging.getLogger(__name__)


@dataclass
class ProduceSummary:
    """What one `produce` run did."""

    source: str
    sink: str
    start_position: str | None = None
    end_position: str | None = None
    read: int = 0
    produced: int = 0
    dead_letters: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    checkpoints: int = 0
    seconds: float = 0.0
    stopped_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sink": self.sink,
            "start_position": self.start_position,
            "end_position": self.end_position,
            "stopped_by": self.stopped_by,
            "seconds": round(self.seconds, 3),
            "events_read": self.read,
            "produced": self.produced,
            "dead_letters": self.dead_letters,
            "filtered": dict(self.dropped),
            "checkpoints": self.checkpoints,
            "events_per_s": round(self.read / self.seconds, 1) if self.seconds else 0.0,
        }


def run_produce(
    settings: Settings,
    source: Source,
    sink: Sink,
    *,
    max_events: int | None = None,
    max_seconds: float | None = None,
    stop: StopToken | None = None,
    summary: ProduceSummary | None = None,
) -> ProduceSummary:
    """Send `source` to `sink` from the sink's stored position until the source ends, a
    limit is hit or `stop` is set; what was read is always delivered and checkpointed.
    `summary` is filled in as the run goes (readable after a failure)."""
    stop = stop or StopToken()
    start = sink.stored_position(source.name)
    summary = summary or ProduceSummary("", "")
    summary.source, summary.sink = source.name, sink.name
    summary.start_position = summary.end_position = start
    sender = _Sender(settings, source.name, sink, summary)
    log.info(
        "produce starting",
        extra={"source": source.name, "sink": sink.name, "position": start or "start"},
    )
    reader = BackgroundReader(source, start, stop).start()
    began = last_checkpoint = time.monotonic()
    pending: str | None = None  # a position read past but not yet checkpointed
    error: BaseException | None = None
    try:
        while True:
            if max_seconds is not None and time.monotonic() - began >= max_seconds:
                summary.stopped_by = "max seconds"
                break
            if stop.event.is_set():
                summary.stopped_by = stop.reason
                break
            item = reader.next(timeout=0.25)
            if isinstance(item, Ended):
                error, summary.stopped_by = item.error, "source ended"
                break
            if item is not None:
                if max_events is not None and summary.read + len(item.records) >= max_events:
                    pending = sender.send(item.head(max_events - summary.read)) or pending
                    summary.stopped_by = "max events"
                    break
                pending = sender.send(item) or pending
            if (
                pending is not None
                and time.monotonic() - last_checkpoint >= settings.commit.max_seconds
            ):
                _checkpoint(sink, source.name, pending, summary)
                pending, last_checkpoint = None, time.monotonic()
        if stop.event.is_set():
            for batch in reader.drain():  # read before the signal: deliver it too
                pending = sender.send(batch) or pending
    finally:
        stop.stop(stop.reason or summary.stopped_by)
        source.close()
    if pending is not None:
        _checkpoint(sink, source.name, pending, summary)
    sink.close()
    summary.seconds = time.monotonic() - began
    if error is not None:
        raise error
    return summary


class _Sender:
    """Decodes batches and queues their events and dead letters in the sink."""

    def __init__(self, settings: Settings, source: str, sink: Sink, summary: ProduceSummary):
        self._decoder = EventDecoder(settings.filters.domains, settings.filters.types)
        self._source = source
        self._sink = sink
        self._summary = summary

    def send(self, batch: SourceBatch) -> str | None:
        """Queue one batch; return its last position, if any."""
        decoded = self._decoder.decode(batch.records)
        summary, sink = self._summary, self._sink
        summary.read += len(batch.records)
        summary.dropped.update(decoded.dropped)
        ts = decoded.event_ts
        micros = [] if ts is None else ts.cast(pa.int64()).to_pylist()
        for n, (raw, domain, event) in enumerate(
            zip(decoded.raws, decoded.domains, decoded.events, strict=True)
        ):
            # The message time is the event time (what time lookups and retention see).
            millis = (micros[n] or 0) // 1000 if micros else 0
            sink.send(raw, event_key(domain, event.title), millis, decoded.ids[n])
        for rejection in decoded.rejections:
            where, raw = batch.positions[rejection.index] or "", batch.records[rejection.index]
            sink.dead(
                raw,
                rejection.reason,
                rejection.detail,
                where,
                quarantine_id(self._source, where, raw),
            )
        summary.produced += len(decoded.raws)
        summary.dead_letters += len(decoded.rejections)
        return batch.position


def _checkpoint(sink: Sink, source: str, position: str, summary: ProduceSummary) -> None:
    sink.checkpoint(source, position)
    summary.end_position = position
    summary.checkpoints += 1


def supervise_produce(
    settings: Settings,
    open_source: Callable[[], Source],
    open_sink: Callable[[], Sink],
    stop: StopToken,
    *,
    max_events: int | None = None,
    max_seconds: float | None = None,
) -> ProduceSummary:
    """`run_produce` again after transient failures (the broker down, a delivery that
    failed), from the stored position, with backoff; totals over every attempt. A first
    attempt that never got going (no broker, no source) is not retried: it raises."""
    began = time.monotonic()
    attempts: list[ProduceSummary] = []
    delay = settings.supervisor.backoff_initial_s
    while not stop.event.is_set():
        read = sum(a.read for a in attempts)
        left_events = None if max_events is None else max_events - read
        left_s = None if max_seconds is None else max_seconds - (time.monotonic() - began)
        if (left_events is not None and left_events <= 0) or (left_s is not None and left_s <= 0):
            break
        attempt = ProduceSummary("", "")
        try:
            run_produce(
                settings,
                open_source(),
                open_sink(),
                max_events=left_events,
                max_seconds=left_s,
                stop=stop.child(),
                summary=attempt,
            )
        except TransientError as exc:
            if not attempts and not attempt.read and isinstance(exc, SourceUnavailable):
                raise  # never got going: say so instead of waiting
            attempts.append(attempt)
            log.warning(
                "produce failed; starting again from the stored position",
                extra={"error": str(exc), "wait_s": round(delay, 1)},
            )
            stop.event.wait(delay)
            delay = min(delay * 2, settings.supervisor.backoff_max_s)
            continue
        attempts.append(attempt)
        break
    return _combined(attempts, stop, time.monotonic() - began)


def _combined(attempts: list[ProduceSummary], stop: StopToken, seconds: float) -> ProduceSummary:
    if not attempts:
        return ProduceSummary("", "", stopped_by=stop.reason or "stopped", seconds=seconds)
    total = attempts[-1]
    for earlier in attempts[:-1]:
        total.read += earlier.read
        total.produced += earlier.produced
        total.dead_letters += earlier.dead_letters
        total.dropped.update(earlier.dropped)
        total.checkpoints += earlier.checkpoints
    total.start_position = attempts[0].start_position
    total.seconds = seconds
    return total
