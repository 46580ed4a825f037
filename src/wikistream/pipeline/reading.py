"""Reading a source on its own thread, and stopping gracefully.

The reader never decides anything: it hands batches over a bounded queue (backpressure), so
the consumer of the queue (the bronze writer, or `produce`) can act on time even while the
source is silent. SIGINT/SIGTERM set a `StopToken`; whatever was already read is handed on.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from wikistream.sources.base import Source, SourceBatch

_QUEUE_BATCHES = 8  # x chunk_events records: bounds memory while the consumer is busy


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


class Ended:
    """The source ended, or failed with `error`."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class BackgroundReader:
    """Reads `source` from `start` on a daemon thread until it ends or `stop` is set."""

    def __init__(self, source: Source, start: str | None, stop: StopToken) -> None:
        self._source = source
        self._start = start
        self._stop = stop
        self._queue: queue.Queue[SourceBatch | Ended] = queue.Queue(maxsize=_QUEUE_BATCHES)
        self._thread = threading.Thread(target=self._read, name="source-reader", daemon=True)

    def start(self) -> BackgroundReader:
        self._thread.start()
        return self

    def next(self, timeout: float) -> SourceBatch | Ended | None:
        """The next batch, `Ended`, or None if nothing came within `timeout` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def join(self, timeout: float) -> None:
        """Wait for the reading thread to end (after a stop), at most `timeout` seconds."""
        self._thread.join(timeout)

    def drain(self) -> Iterator[SourceBatch]:
        """The batches already read (after a stop, to hand them on too)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, SourceBatch):
                yield item

    def _read(self) -> None:
        try:
            for batch in self._source.batches(self._start):
                if not self._put(batch):
                    return
            self._put(Ended())
        except BaseException as exc:  # handed to the consumer, which decides
            self._put(Ended(exc))

    def _put(self, item: SourceBatch | Ended) -> bool:
        while not self._stop.event.is_set():
            try:
                self._queue.put(item, timeout=0.25)
                return True
            except queue.Full:
                continue  # the consumer drains the queue while it runs
        return False


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
