"""Wikimedia's LiftWing revert-risk scores beside WikiStream's own, never in ingestion's way.

Its own loop reads the edits silver appended since its stored position, puts those of the
configured wikis in a bounded queue (full: dropped and counted), and a few worker threads
ask LiftWing at a limited rate: `POST {"lang": "en", "rev_id": 123}`, answer
`{"output": {"probabilities": {"true": p}}}`. A 429 waits its Retry-After, a 5xx or a
timeout backs off and tries again, anything else that is not a probability is counted and
dropped. Scores are committed to `silver.liftwing_scores` with the silver snapshot read up
to; only the holder of the processing lease scores.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from wikistream import metrics
from wikistream.lakehouse import commits
from wikistream.lakehouse.positions import (
    POSITION_KEY,
    SOURCE_KEY,
    as_snapshot_id,
    guard_position,
    stored_position,
)
from wikistream.lakehouse.reads import appended_since
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import SILVER_EVENTS, SILVER_LIFTWING, TIMESTAMP
from wikistream.settings import LiftWingSettings

log = logging.getLogger(__name__)
MAX_WAIT_S = 60.0  # the longest Retry-After honoured
COLUMNS = ("event_id", "event_date", "wiki", "type", "revision_new")


@dataclass(frozen=True)
class Edit:
    event_id: str
    event_date: Any
    wiki: str
    revision_id: int


class RateLimit:
    """At most `per_s` starts a second across threads (evenly spaced)."""

    def __init__(self, per_s: float) -> None:
        self._gap = 1.0 / per_s
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._gap
        stop.wait(max(0.0, start - now))


class LiftWingClient:
    """One model's predict endpoint: a probability, or None with the reason counted."""

    def __init__(self, settings: LiftWingSettings, stop: threading.Event) -> None:
        headers = {"User-Agent": settings.user_agent}
        if settings.token is not None:
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        self._http = httpx.Client(headers=headers, timeout=settings.timeout_s)  # TLS verified
        self._settings = settings
        self._limit = RateLimit(settings.rate_per_s)
        self._stop = stop
        self.model = settings.url.rsplit("/", 1)[-1].removesuffix(":predict")

    def score(self, edit: Edit) -> tuple[float | None, str]:
        """(probability, "") or (None, why it is not there)."""
        language = edit.wiki.removesuffix("wiki")
        reason = "failed"
        for attempt in range(self._settings.attempts):
            if self._stop.is_set():
                return None, "stopped"
            self._limit.wait(self._stop)
            try:
                answer = self._http.post(
                    self._settings.url, json={"lang": language, "rev_id": edit.revision_id}
                )
            except httpx.HTTPError:
                reason = "unreachable"
                self._stop.wait(_backoff(attempt))
                continue
            if answer.status_code == 429:
                reason = "rate_limited"
                self._stop.wait(_retry_after(answer, attempt))
                continue
            if answer.status_code >= 500:
                reason = "server_error"
                self._stop.wait(_backoff(attempt))
                continue
            if answer.status_code != 200:
                return None, "rejected"  # an unknown revision, a wiki the model lacks
            return _probability(answer)
        return None, reason

    def close(self) -> None:
        self._http.close()


def _probability(answer: httpx.Response) -> tuple[float | None, str]:
    try:
        value = answer.json()["output"]["probabilities"]["true"]
    except (ValueError, KeyError, TypeError):
        return None, "garbage"
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        return None, "garbage"
    return float(value), ""


def _retry_after(answer: httpx.Response, attempt: int) -> float:
    try:
        return min(MAX_WAIT_S, max(0.0, float(answer.headers.get("Retry-After", ""))))
    except ValueError:
        return _backoff(attempt)


def _backoff(attempt: int) -> float:
    return min(MAX_WAIT_S, 0.5 * 2.0**attempt) * random.uniform(0.5, 1.0)  # noqa: S311


class LiftWingScorer:
    """The scoring loop: `start()`, then `stop()`; `counts` says what happened."""

    def __init__(
        self,
        lakehouse: Lakehouse,
        fence: Callable[[], None] | None = None,
        interval_s: float | None = None,
    ) -> None:
        self._lakehouse = lakehouse
        self._settings = lakehouse.settings.liftwing
        self._fence = fence
        self._interval_s = interval_s or self._settings.interval_s
        self._stop = threading.Event()
        self._queue: queue.Queue[Edit] = queue.Queue(self._settings.queue_size)
        self._client = LiftWingClient(self._settings, self._stop)
        self._scored: list[tuple[Edit, float, datetime]] = []
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._threads = [
            threading.Thread(target=self._work, name=f"liftwing-{i}", daemon=True)
            for i in range(self._settings.concurrency)
        ]
        self._threads.append(threading.Thread(target=self._loop, name="liftwing", daemon=True))

    def start(self) -> LiftWingScorer:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._flush()
        self._client.close()

    # reading silver -------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                if self._fence is not None:
                    self._fence()  # only the processing lease's holder scores
                self.enqueue_new()
                self._flush()
            except Exception as exc:  # the next round tries again; ingestion never waits
                log.warning("liftwing round failed", extra={"error": f"{type(exc).__name__}"})

    def enqueue_new(self) -> int:
        """Queue the edits silver appended since the stored position; commit the position
        (with the scores so far). Returns how many were queued."""
        table = self._lakehouse.table(SILVER_LIFTWING)
        silver = self._lakehouse.table(SILVER_EVENTS)
        done = as_snapshot_id(stored_position(table, SILVER_EVENTS.identifier))
        rows, upto = appended_since(silver, done, None, COLUMNS)
        if upto is None or upto == done:
            return 0
        wanted = pc.and_(
            pc.is_in(rows.column("wiki"), pa.array(self._settings.wikis)),
            pc.and_(
                pc.equal(rows.column("type"), "edit"), pc.is_valid(rows.column("revision_new"))
            ),
        )
        queued = 0
        for row in rows.filter(wanted).to_pylist():
            edit = Edit(row["event_id"], row["event_date"], row["wiki"], row["revision_new"])
            try:
                self._queue.put_nowait(edit)
                queued += 1
            except queue.Full:
                self._dropped("queue_full")
        self._commit(done, upto)
        return queued

    # scoring ----------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                edit = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            probability, reason = self._client.score(edit)
            if probability is None:
                self._dropped(reason)
                continue
            metrics.LIFTWING_SCORED.inc()
            with self._lock:
                self.counts["scored"] += 1
                self._scored.append((edit, probability, datetime.now(UTC)))

    def _dropped(self, reason: str) -> None:
        metrics.LIFTWING_DROPPED.labels(reason=reason).inc()
        with self._lock:
            self.counts[reason] += 1

    # committing -------------------------------------------------------------------------

    def _flush(self) -> None:
        """Commit the scores gathered so far (the position stays where it is)."""
        table = self._lakehouse.table(SILVER_LIFTWING)
        done = as_snapshot_id(stored_position(table, SILVER_EVENTS.identifier))
        self._commit(done, done)

    def _commit(self, done: int | None, upto: int | None) -> None:
        with self._lock:
            scored, self._scored = self._scored, []
        if not scored and upto == done:
            return
        rows = pa.table(
            {
                "event_id": [e.event_id for e, _, _ in scored],
                "event_date": [e.event_date for e, _, _ in scored],
                "wiki": [e.wiki for e, _, _ in scored],
                "revision_id": [e.revision_id for e, _, _ in scored],
                "model": [self._client.model] * len(scored),
                "probability": [p for _, p, _ in scored],
                "scored_at": pa.array([at for _, _, at in scored], TIMESTAMP),
            }
        ).cast(SILVER_LIFTWING.schema)
        summary = {SOURCE_KEY: SILVER_EVENTS.identifier}
        if upto is not None:
            summary[POSITION_KEY] = str(upto)
        fence = self._fence

        def guard(table: Any) -> None:
            if fence is not None:
                fence()
            guard_position(SILVER_EVENTS.identifier, done)(table)

        table = self._lakehouse.table(SILVER_LIFTWING)
        commits.append(table, rows, summary, guard=guard, fresh=True)
