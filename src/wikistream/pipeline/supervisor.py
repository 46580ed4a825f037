"""`wikistream run` as one supervised process: ingest, processing cycles and maintenance.

The supervisor restarts the ingest component when it raises or stalls (no record read for
`supervisor.stall_s`), with exponential backoff, counts restarts, and alerts when they pass
`supervisor.alert_after_restarts`. Errors that a restart cannot fix (bad configuration, a
refusing source, a second writer) stop the run. Ingestion that keeps failing on the same
input (the same stored position, nothing committed, `supervisor.poison_after` times) is not
retried as it is: that is alerted, and the next attempt isolates the records that fail into
`bronze.quarantine`, so one bad event never stops the pipeline. The processing loop
retries failed cycles with backoff under the same rules. Component states are written every
few seconds to `<warehouse>/ops/run-state.json`, which `wikistream status` reads.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wikistream import metrics
from wikistream.alerts.channels import Alert
from wikistream.alerts.router import AlertRouter, recent_alerts
from wikistream.exceptions import SourceUnavailable, TerminalError
from wikistream.lakehouse.documents import RUN_STATE
from wikistream.lakehouse.positions import Positions
from wikistream.lakehouse.store import Lakehouse
from wikistream.layers.bronze import BronzeStats
from wikistream.pipeline.reading import StopToken
from wikistream.pipeline.runner import Attempt, RunSummary, run_ingest
from wikistream.settings import Settings
from wikistream.sources.base import PartitionedSource, Source

log = logging.getLogger(__name__)

STALLED = "stalled"


@dataclass
class Component:
    """What `status` shows for one part of the running pipeline."""

    name: str
    state: str = "starting"  # running | restarting | failed | stopped
    restarts: int = 0
    consecutive_failures: int = 0
    last_success: datetime | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "consecutive_failures": self.consecutive_failures,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_error": self.last_error,
        }


@dataclass
class Supervisor:
    """Restart policy, alerts and the run-state document shared by the components."""

    lakehouse: Lakehouse
    alerts: AlertRouter | None = None
    components: dict[str, Component] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.settings: Settings = self.lakehouse.settings
        self._documents = self.lakehouse.documents
        self._started = datetime.now(UTC)
        self._lock = threading.Lock()
        self._beat_stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="run-state", daemon=True)

    def component(self, name: str) -> Component:
        with self._lock:
            return self.components.setdefault(name, Component(name))

    def start(self) -> Supervisor:
        self._beat.start()
        return self

    def close(self) -> None:
        self._beat_stop.set()
        if self._beat.ident is not None:  # started
            self._beat.join(timeout=5)
        with self._lock:
            for component in self.components.values():
                if component.state != "failed":
                    component.state = "stopped"
        self.write_state(running=False)

    def alert(self, alert: Alert) -> None:
        if self.alerts is not None:
            self.alerts.submit(alert)

    # restart policy ---------------------------------------------------------------------

    def failed(self, component: Component, error: BaseException | str) -> float:
        """Record a failure; return how long to wait before restarting."""
        s = self.settings.supervisor
        component.restarts += 1
        component.consecutive_failures += 1
        metrics.RESTARTS.labels(component=component.name).inc()
        component.state = "restarting"
        component.last_error = (
            error if isinstance(error, str) else f"{type(error).__name__}: {error}"[:500]
        )
        exponent = component.consecutive_failures - 1
        delay = min(s.backoff_max_s, s.backoff_initial_s * 2.0**exponent)
        delay *= random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not cryptography
        log.warning(
            "component failed; restarting",
            extra={
                "component": component.name,
                "restarts": component.restarts,
                "error": component.last_error,
                "wait_s": round(delay, 2),
            },
        )
        if component.restarts >= s.alert_after_restarts and self.alerts is not None:
            self.alerts.submit(
                Alert(
                    severity="critical",
                    title=f"wikistream run: {component.name} restarted {component.restarts} times",
                    text=f"The {component.name} component keeps failing; last error: "
                    f"{component.last_error}. Check `wikistream status` and the logs.",
                    key=f"supervisor/{component.name}",
                    fields={"component": component.name, "restarts": component.restarts},
                )
            )
        self.write_state(running=True)
        return delay

    def succeeded(self, component: Component) -> None:
        component.state = "running"
        component.consecutive_failures = 0
        component.last_success = datetime.now(UTC)

    # run state --------------------------------------------------------------------------

    def write_state(self, running: bool) -> None:
        with self._lock:  # components are added from other threads
            components = {n: c.as_dict() for n, c in self.components.items()}
        document = {
            "pid": os.getpid(),
            "running": running,
            "started_at": self._started.isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
            "heartbeat_s": self.settings.supervisor.heartbeat_s,
            "components": components,
            "alerts": recent_alerts(),
        }
        try:
            self._documents.write(RUN_STATE, document)
        except OSError:
            log.warning("could not write the run state", exc_info=True)

    def _heartbeat(self) -> None:
        while not self._beat_stop.wait(self.settings.supervisor.heartbeat_s):
            try:
                self.write_state(running=True)
            except Exception:  # a missed beat must not end the heartbeat for good
                log.exception("could not write the run state; trying again at the next beat")


def supervise_ingest(
    supervisor: Supervisor,
    open_source: Callable[[], Source],
    stop: StopToken,
    max_events: int | None = None,
    max_seconds: float | None = None,
    on_progress: Callable[[BronzeStats, float], None] | None = None,
    idle_exit_s: float | None = None,
) -> RunSummary:
    """Run ingestion until the source ends, a limit is hit or `stop` is set, restarting it
    after failures and stalls. Returns the totals over every attempt.

    A partitioned source (Kafka) is never restarted for silence: an idle topic is normal,
    librdkafka reconnects by itself, and a restart would rebalance the whole group.
    """
    component = supervisor.component("ingest")
    stall_s = supervisor.settings.supervisor.stall_s
    began = time.monotonic()
    summaries: list[RunSummary] = []
    ever_ran = False
    poison = _PoisonWatch(supervisor)
    while not stop.event.is_set():
        read_so_far = sum(s.stats.read for s in summaries)
        remaining_events = None if max_events is None else max_events - read_so_far
        remaining_s = None if max_seconds is None else max_seconds - (time.monotonic() - began)
        if (remaining_events is not None and remaining_events <= 0) or (
            remaining_s is not None and remaining_s <= 0
        ):
            break
        attempt_stop = StopToken()
        progress = _Progress(on_progress, read_so_far)
        source = open_source()  # no connection yet: a bad spec fails here, at once
        stall = math.inf if isinstance(source, PartitionedSource) else stall_s
        watchdog = threading.Thread(
            target=_watch,
            args=(stop, attempt_stop, progress, stall),
            name="ingest-watchdog",
            daemon=True,
        )
        watchdog.start()
        component.state = "running"
        attempt = Attempt()
        try:
            summary = run_ingest(
                supervisor.settings,
                source,
                max_events=remaining_events,
                max_seconds=remaining_s,
                stop=attempt_stop,
                on_progress=progress.update,
                isolate=poison.isolating,
                attempt=attempt,
                idle_exit_s=idle_exit_s,
            )
        except TerminalError as exc:
            component.state, component.last_error = "failed", _described(exc)
            raise
        except SourceUnavailable as exc:
            if not ever_ran and not progress.any:
                component.state, component.last_error = "failed", _described(exc)
                raise  # never reached the source: say so instead of retrying forever
            _wait(stop, supervisor.failed(component, exc))
            continue
        except Exception as exc:
            summaries.append(_failed_attempt(attempt))
            poison.failed(attempt, exc)
            _wait(stop, supervisor.failed(component, exc))
            continue
        finally:
            attempt_stop.stop("attempt over")
            watchdog.join(timeout=2)
        summaries.append(summary)
        ever_ran = True
        if summary.stopped_by == STALLED:
            _wait(stop, supervisor.failed(component, f"no records for {stall_s:g} s"))
            continue
        supervisor.succeeded(component)
        break
    component.state = "stopped"
    return _combined(summaries, stop, time.monotonic() - began)


class _PoisonWatch:
    """Notices ingestion failing again and again on the same input, and breaks the loop."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor
        self._limit = supervisor.settings.supervisor.poison_after
        self._at: str | Positions | None = None
        self._count = 0
        self.isolating = False

    def failed(self, attempt: Attempt, error: Exception) -> None:
        if attempt.stats.commits:  # it got somewhere: not stuck
            self._at, self._count = None, 0
            return
        same = self._count > 0 and attempt.start_position == self._at
        self._at, self._count = attempt.start_position, (self._count + 1 if same else 1)
        if self._count < self._limit or self.isolating:
            return
        self.isolating = True
        where = attempt.start_position or "the start"
        message = (
            f"ingestion failed {self._count} times in a row at position {where} without "
            f"committing anything (last error: {type(error).__name__}: {error})"[:900]
        )
        log.error(
            "ingestion keeps failing on the same input; isolating the records that fail",
            extra={"position": where, "failures": self._count},
        )
        self._supervisor.alert(
            Alert(
                severity="critical",
                title="wikistream run: ingestion keeps failing on the same input",
                text=f"{message}. The next attempt isolates the records whose commit fails into "
                "bronze.quarantine (reason unwritable or processing_error) and goes on; "
                "look at them with: wikistream quarantine list --layer bronze",
                key="supervisor/ingest/poison",
                fields={"position": where, "failures": self._count},
            )
        )


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _failed_attempt(attempt: Attempt) -> RunSummary:
    """What a failed attempt still did (its commits stand)."""
    return RunSummary("", attempt.start_position, None, 0.0, attempt.stats, "failed")


class _Progress:
    """Tracks when the last record was read (the watchdog's stall clock)."""

    def __init__(self, forward: Callable[[BronzeStats, float], None] | None, offset: int):
        self._forward = forward
        self._offset = offset
        self.read = 0
        self.any = False
        self.at = time.monotonic()

    def update(self, stats: BronzeStats, seconds: float) -> None:
        if stats.read != self.read:
            self.read, self.at, self.any = stats.read, time.monotonic(), True
        if self._forward is not None:
            self._forward(stats, seconds)


def _watch(stop: StopToken, attempt: StopToken, progress: _Progress, stall_s: float) -> None:
    """Stops the attempt when the run is stopped, or when no record came for `stall_s`."""
    while not attempt.event.wait(0.2):
        if stop.event.is_set():
            attempt.stop(stop.reason)
        elif time.monotonic() - progress.at > stall_s:
            attempt.stop(STALLED)


def _wait(stop: StopToken, seconds: float) -> None:
    stop.event.wait(seconds)


def _combined(summaries: list[RunSummary], stop: StopToken, seconds: float) -> RunSummary:
    if not summaries:
        return RunSummary("", None, None, seconds, BronzeStats(), stop.reason or "stopped")
    stats = BronzeStats()
    for summary in summaries:
        stats.merge(summary.stats)
    finished = [s for s in summaries if s.stopped_by != "failed"] or summaries
    first, last = summaries[0], finished[-1]
    stopped_by = stop.reason if stop.event.is_set() else last.stopped_by
    return RunSummary(
        last.source, first.start_position, last.end_position, seconds, stats, stopped_by
    )
