"""`live` / `sse:URL`: a resumable EventStreams client over one streaming HTTP connection.

Follows the service's rules (see docs/architecture.md): a descriptive User-Agent on every
request, `Last-Event-ID` (the last `id:` verbatim) on reconnect, `?since=` only for a first
historical start, exponential backoff with jitter, `Retry-After` on 429/503, a read timeout
that treats a silent connection as dead, and never more than one connection.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from wikistream import metrics
from wikistream.exceptions import SourceRejected, SourceUnavailable
from wikistream.sources.base import MAX_RECORD_BYTES, Oversized, SourceBatch
from wikistream.sources.lines import HEAD_BYTES, bounded_lines
from wikistream.sources.sse_protocol import FrameParser

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 900.0


@dataclass(frozen=True)
class SseOptions:
    """How the client connects and reconnects."""

    user_agent: str
    since: str | None = None
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    initial_connect_attempts: int = 3
    max_record_bytes: int = MAX_RECORD_BYTES


@dataclass
class SseStats:
    """Counters a supervisor or a test can read while the client runs."""

    responses: int = 0
    connections: int = 0
    reconnects: int = 0
    heartbeats: int = 0
    events: int = 0
    error_frames: int = 0


class SseSource:
    """Streams `message` frames; each batch is one event whose position is its `id:`."""

    def __init__(self, url: str, options: SseOptions) -> None:
        self._url = url
        self._options = options
        self._closed = threading.Event()
        self._response: httpx.Response | None = None
        self.stats = SseStats()

    @property
    def name(self) -> str:
        return f"sse:{self._url}"

    def close(self) -> None:
        self._closed.set()
        response = self._response
        if response is not None:
            response.close()  # unblocks a read waiting on the socket

    def batches(self, start: str | None) -> Iterator[SourceBatch]:
        last_id = start
        failures = 0
        timeout = httpx.Timeout(self._options.connect_timeout_s, read=self._options.read_timeout_s)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
        with httpx.Client(timeout=timeout, limits=limits, follow_redirects=True) as client:
            while not self._closed.is_set():
                delivered = 0
                retry_after: float | None = None
                try:
                    for batch in self._stream_once(client, last_id):
                        if batch.position is not None:
                            last_id = batch.position
                        delivered += 1
                        yield batch
                    reason = "server closed the stream"
                except _RetryLater as retry:
                    reason, retry_after = str(retry), retry.after
                if self._closed.is_set():
                    return
                failures = 0 if delivered else failures + 1
                # Give up only if the server never answered at all; a 429/503 is an answer.
                if self.stats.responses == 0 and failures >= self._options.initial_connect_attempts:
                    raise SourceUnavailable(f"cannot reach {self._url}: {reason}")
                wait = retry_after if retry_after is not None else self._backoff(failures)
                log.warning(
                    "stream interrupted, reconnecting",
                    extra={"reason": reason, "wait_s": round(wait, 2), "last_id": last_id},
                )
                self.stats.reconnects += 1
                metrics.SSE_RECONNECTS.inc()
                self._closed.wait(wait)

    def _stream_once(self, client: httpx.Client, last_id: str | None) -> Iterator[SourceBatch]:
        headers = {"User-Agent": self._options.user_agent, "Accept": "text/event-stream"}
        params = {}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        elif self._options.since:
            params["since"] = self._options.since
        try:
            with client.stream("GET", self._url, headers=headers, params=params) as response:
                self._response = response
                self.stats.responses += 1
                _check_status(response)
                self.stats.connections += 1
                limit = self._options.max_record_bytes
                parser = FrameParser(last_id, limit)
                for line in bounded_lines(response.iter_bytes(), limit):
                    if self._closed.is_set():
                        return
                    comments = parser.comments
                    text = line.data.decode("utf-8", "replace")
                    frame = parser.feed(text, line.size if line.cut else None)
                    self.stats.heartbeats += parser.comments - comments
                    if frame is None:
                        continue
                    if frame.event == "error":
                        self.stats.error_frames += 1
                        log.warning("stream sent an error event", extra={"data": frame.data[:500]})
                        continue
                    if frame.event != "message":
                        continue
                    self.stats.events += 1
                    yield SourceBatch([_record(frame.data, frame.size)], [frame.id])
        except httpx.TransportError as exc:
            if self._closed.is_set():
                return
            raise _RetryLater(f"{type(exc).__name__}: {exc or 'connection lost'}") from None
        finally:
            self._response = None

    def _backoff(self, failures: int) -> float:
        if failures == 0:
            return random.uniform(0, self._options.backoff_initial_s / 4)  # noqa: S311
        ceiling = min(
            self._options.backoff_max_s, self._options.backoff_initial_s * 2 ** (failures - 1)
        )
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


def _record(data: str, size: int | None) -> bytes:
    """An event's bytes; only the first ones, marked, when it was too large to keep."""
    if size is None:
        return data.encode()
    log.warning("event too large: skipped to the next one", extra={"bytes": size})
    return Oversized(data.encode()[:HEAD_BYTES], size)


class _RetryLater(Exception):
    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status == 200:
        return
    reason = f"HTTP {status} {response.reason_phrase}".strip()
    if status in _RETRYABLE_STATUS:
        raise _RetryLater(reason, _retry_after(response.headers.get("Retry-After")))
    if status == 403:
        raise SourceRejected(
            f"{reason} from {response.url}: Wikimedia refuses clients without a descriptive "
            "User-Agent; set source.user_agent (WIKISTREAM_SOURCE__USER_AGENT)"
        )
    raise SourceRejected(f"{reason} from {response.url}")


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), _MAX_RETRY_AFTER_S))
