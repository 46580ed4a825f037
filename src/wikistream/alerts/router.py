"""Route alerts by severity to channels, once per window, without ever blocking the pipeline.

Delivery happens on a background thread: a slow SMTP server or a dead webhook delays
nobody, and a channel that raises is logged and skipped (the other channels still get it).
An alert counts as sent only once a channel has delivered it: one that no channel could
deliver is logged as an error and goes out again the next time it is raised, never
suppressed as a repeat.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from wikistream import metrics
from wikistream.alerts.channels import CHANNELS, Alert, Channel
from wikistream.exceptions import ConfigError, DeliveryFailed
from wikistream.settings import AlertSettings

log = logging.getLogger(__name__)

_ATTEMPTS = 2
_RECENT: deque[dict[str, Any]] = deque(maxlen=50)  # this process's deliveries, newest last
_RECENT_LOCK = threading.Lock()


def recent_alerts() -> list[dict[str, Any]]:
    """The alerts this process tried to deliver lately (any router), newest first."""
    with _RECENT_LOCK:
        return list(reversed(_RECENT))


class Delivery:
    """The fate of one submitted alert: `done` once every channel was tried."""

    def __init__(self, alert: Alert) -> None:
        self.alert = alert
        self.delivered_to: list[str] = []
        self.failed_on: list[str] = []
        self._done = threading.Event()

    @property
    def delivered(self) -> bool:
        return bool(self.delivered_to)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float) -> bool:
        return self._done.wait(timeout_s)

    def finish(self) -> None:
        self._done.set()


class AlertRouter:
    """Sends each alert to the channels of its severity, dropping repeats within a window."""

    def __init__(self, settings: AlertSettings, already_sent: Iterable[tuple[str, float]] = ()):
        """
        Args:
            settings: routes, channel settings and the de-duplication window.
            already_sent: (key, epoch seconds) of alerts delivered before this process
                started, so a restart does not repeat them.
        """
        names = sorted({n for route in settings.routes.values() for n in route})
        self._channels: dict[str, Channel] = {n: CHANNELS[n](settings) for n in names}
        self._routes = settings.routes
        self._window_s = settings.dedupe_window_s
        self._lock = threading.Lock()
        self._last_sent: dict[str, float] = {}
        self._pending: set[str] = set()
        for key, at in already_sent:
            self._last_sent[key] = max(at, self._last_sent.get(key, 0.0))
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver, name="alerts", daemon=True)
        self._thread.start()
        self.delivered = 0
        self.failed = 0

    def submit(self, alert: Alert) -> Delivery | None:
        """Queue `alert` unless it was delivered within the window or is already queued;
        the returned `Delivery` tells how it went (None: not sent, a repeat)."""
        now = time.time()
        with self._lock:
            last = self._last_sent.get(alert.key)
            if alert.key in self._pending or (last is not None and now - last < self._window_s):
                log.debug("alert suppressed (sent recently)", extra={"alert": alert.key})
                return None
            self._pending.add(alert.key)
        delivery = Delivery(alert)
        self._queue.put(delivery)
        return delivery

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
            delivery = self._queue.get()
            try:
                if delivery is None:
                    return
                self._send_everywhere(delivery)
            finally:
                self._queue.task_done()

    def _send_everywhere(self, delivery: Delivery) -> None:
        alert = delivery.alert
        try:
            for name in self._routes.get(alert.severity, []):
                if self._send(self._channels[name], alert):
                    delivery.delivered_to.append(name)
                else:
                    delivery.failed_on.append(name)
            with _RECENT_LOCK:
                if delivery.delivered_to or delivery.failed_on:
                    _RECENT.append(
                        {
                            "at": datetime.now(UTC).isoformat(),
                            "key": alert.key,
                            "severity": alert.severity,
                            "title": alert.title,
                            "delivered_to": list(delivery.delivered_to),
                            "failed_on": list(delivery.failed_on),
                        }
                    )
            with self._lock:
                self._pending.discard(alert.key)
                if delivery.delivered:
                    self._last_sent[alert.key] = time.time()
            if not delivery.delivered and delivery.failed_on:
                log.error(
                    "alert NOT delivered: every channel failed; it is sent again the "
                    "next time it is raised",
                    extra={
                        "alert": alert.key,
                        "severity": alert.severity,
                        "channels": delivery.failed_on,
                    },
                )
        finally:
            delivery.finish()

    def _send(self, channel: Channel, alert: Alert) -> bool:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                channel.send(alert)
                self.delivered += 1
                metrics.ALERTS.labels(channel=channel.name, outcome="delivered").inc()
                return True
            except Exception as exc:  # a broken channel must never break the pipeline
                if attempt == _ATTEMPTS:
                    self.failed += 1
                    metrics.ALERTS.labels(channel=channel.name, outcome="failed").inc()
                    # The type only, unless the message is ours: messages of HTTP client
                    # errors can carry the (secret) URL.
                    error = str(exc) if isinstance(exc, DeliveryFailed) else type(exc).__name__
                    log.warning(
                        "alert channel failed; alert not delivered there",
                        extra={"channel": channel.name, "alert": alert.key, "error": error},
                    )
                else:
                    time.sleep(0.5)
        return False


def test_channels(settings: AlertSettings) -> dict[str, dict[str, Any]]:
    """Send one test alert through every configured channel (routed or not), now and in
    this thread; per channel: the severities routed to it and the error, if any (the error
    type only unless it is safe to show: a URL can carry a token)."""
    configured = [
        "log",
        *(name for name in CHANNELS if name != "log" and getattr(settings, name, None) is not None),
    ]
    alert = Alert(
        severity="warning",
        title="wikistream test alert",
        text="A test sent by `wikistream alerts test`: this channel works.",
        key="test/alerts",
        fields={"test": True},
    )
    results: dict[str, dict[str, Any]] = {}
    for name in configured:
        routed = sorted(s for s, names in settings.routes.items() if name in names)
        try:
            CHANNELS[name](settings).send(alert)
            error = None
        except Exception as exc:  # reported per channel; the others are still tried
            error = (
                str(exc) if isinstance(exc, DeliveryFailed | ConfigError) else type(exc).__name__
            )
        results[name] = {"delivered": error is None, "error": error, "routed": routed}
    return results
