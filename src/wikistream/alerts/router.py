"""Route alerts by severity to channels, once per window, without ever blocking the pipeline.

Delivery happens on a background thread: a slow SMTP server or a dead webhook delays
nobody, and a channel that raises is logged and skipped (the other channels still get it).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable

from wikistream.alerts.channels import CHANNELS, Alert, Channel
from wikistream.settings import AlertSettings

log = logging.getLogger(__name__)

_ATTEMPTS = 2


class AlertRouter:
    """Sends each alert to the channels of its severity, dropping repeats within a window."""

    def __init__(self, settings: AlertSettings, already_sent: Iterable[tuple[str, float]] = ()):
        """
        Args:
            settings: routes, channel settings and the de-duplication window.
            already_sent: (key, epoch seconds) of alerts sent before this process started,
                so a restart does not repeat them.
        """
        names = sorted({n for route in settings.routes.values() for n in route})
        self._channels: dict[str, Channel] = {n: CHANNELS[n](settings) for n in names}
        self._routes = settings.routes
        self._window_s = settings.dedupe_window_s
        self._last_sent: dict[str, float] = {}
        for key, at in already_sent:
            self._last_sent[key] = max(at, self._last_sent.get(key, 0.0))
        self._queue: queue.Queue[Alert | None] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver, name="alerts", daemon=True)
        self._thread.start()
        self.delivered = 0
        self.failed = 0

    def submit(self, alert: Alert) -> bool:
        """Queue `alert` unless the same one went out within the window; True if queued."""
        now = time.time()
        last = self._last_sent.get(alert.key)
        if last is not None and now - last < self._window_s:
            log.debug("alert suppressed (sent recently)", extra={"alert": alert.key})
            return False
        self._last_sent[alert.key] = now
        self._queue.put(alert)
        return True

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued alert was delivered or given up on."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self, timeout_s: float = 30.0) -> None:
        self.flush(timeout_s)
        self._queue.put(None)
        self._thread.join(timeout=1.0)

    def _deliver(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                if alert is None:
                    return
                for name in self._routes.get(alert.severity, []):
                    self._send(self._channels[name], alert)
            finally:
                self._queue.task_done()

    def _send(self, channel: Channel, alert: Alert) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                channel.send(alert)
                self.delivered += 1
                return
            except Exception as exc:  # a broken channel must never break the pipeline
                if attempt == _ATTEMPTS:
                    self.failed += 1
                    # The type only: messages of HTTP errors can carry the (secret) URL.
                    log.warning("alert channel failed; alert not delivered there",
                                extra={"channel": channel.name, "alert": alert.key,
                                       "error": type(exc).__name__})  # fmt: skip
                else:
                    time.sleep(0.5)
