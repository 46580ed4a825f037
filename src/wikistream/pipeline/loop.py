"""Silver and gold kept current while bronze ingests: the processing loop of `run`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from wikistream.exceptions import LeaseLost, TerminalError
from wikistream.lakehouse.leases import Lease
from wikistream.pipeline.process import CycleReport, Processor
from wikistream.pipeline.supervisor import Supervisor

log = logging.getLogger(__name__)


class ProcessLoop:
    """Keeps silver and gold current while bronze ingests: a cycle every `interval_s`, and
    table maintenance every `maintenance.interval_s`.

    A failing cycle is retried with backoff (cycles are idempotent) and reported to the
    supervisor; `stop()` runs one last cycle so the layers end as fresh as bronze. A
    terminal error (a position lost to a rollback, another process writing the layers)
    is not retried: the loop ends, `error` holds it, and `on_terminal` is called so the
    run can stop and say what to do.

    With a `lease`, cycles and maintenance run only while this process holds it (several
    `run` processes, e.g. Kafka bronze workers, share a warehouse): a thread takes or
    renews it every third of its time to live; the others stand by and take over once
    the holder stops renewing. `stop()` gives it up, so a successor starts at once.
    """

    def __init__(
        self,
        processor: Processor,
        interval_s: float,
        supervisor: Supervisor | None = None,
        maintain: Callable[[], object] | None = None,
        maintain_every_s: float = 300.0,
        on_terminal: Callable[[TerminalError], None] | None = None,
        lease: Lease | None = None,
    ) -> None:
        """
        Args:
            maintain: table maintenance, run every `maintain_every_s` (none if None).
            on_terminal: called (on the loop's thread) when a cycle fails for good.
        """
        self._on_terminal = on_terminal
        self.error: TerminalError | None = None
        self._processor = processor
        self._interval_s = interval_s
        self._supervisor = supervisor
        self._maintain = maintain
        self._maintain_every_s = maintain_every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="process-loop", daemon=True)
        self._lease = lease
        self._renewing = threading.Event()  # set: stop renewing
        self._renewer = threading.Thread(target=self._renew, name="process-lease", daemon=True)
        self._last_maintenance = time.monotonic()
        self.cycles = 0
        self.failures = 0
        self.quarantined = 0
        self.held: dict[str, str] = {}  # as of the latest cycle

    def start(self) -> ProcessLoop:
        if self._supervisor is not None:  # listed in run-state from the start
            self._supervisor.component("process")
        if self._lease is not None:
            self._lease.acquire()  # before the first cycle is due
            self._renewer.start()
        self._thread.start()
        return self

    @property
    def active(self) -> bool:
        """Whether this process runs the cycles (it holds the lease, or there is none)."""
        return self._lease is None or self._lease.held

    def stop(self) -> CycleReport:
        """End the loop; one last cycle unless it ended on a terminal error (then raised)."""
        self._stop.set()
        self._thread.join()
        try:
            if self.error is not None:
                raise self.error
            report = self._count(self._processor.run()) if self.active else CycleReport()
        finally:
            self._processor.close()
            self._renewing.set()  # renewed until the last cycle is done
            if self._lease is not None and self._renewer.is_alive():
                self._renewer.join()
                self._lease.release()
        return report

    def _renew(self) -> None:
        assert self._lease is not None  # noqa: S101 - started only with a lease
        every = self._lease.ttl_s / 3
        while not self._renewing.wait(every):
            held = self._lease.held
            if not self._lease.acquire() and held:
                log.warning("processing lease lost; standing by", extra={"lease": self._lease.name})

    def _count(self, report: CycleReport) -> CycleReport:
        self.cycles += 1
        self.quarantined += sum(report.quarantined.values())
        self.held = report.held
        return report

    def _loop(self) -> None:
        delay = self._interval_s
        while not self._stop.wait(delay):
            delay = self._interval_s
            if not self.active:
                continue  # another process holds the lease: stand by
            try:
                self._count(self._processor.run())
                self._succeeded("process")
            except LeaseLost as exc:  # another process may write now: stand by, not a failure
                log.warning(
                    "processing lease lost mid-cycle; standing by", extra={"error": str(exc)}
                )
            except TerminalError as exc:
                self._terminal(exc)
                return
            except Exception as exc:
                self.failures += 1
                log.exception("processing cycle failed; retrying")
                delay = max(delay, self._failed("process", exc))
            if self._maintain is not None and self._maintenance_due():
                self._last_maintenance = time.monotonic()
                try:
                    self._maintain()
                    self._succeeded("maintenance")
                except Exception as exc:
                    log.exception("maintenance failed; trying again at the next interval")
                    self._failed("maintenance", exc)

    def _terminal(self, exc: TerminalError) -> None:
        self.error = exc
        self.failures += 1
        log.error("processing stopped: retrying cannot fix this", extra={"error": str(exc)})
        if self._supervisor is not None:
            component = self._supervisor.component("process")
            component.state, component.last_error = "failed", f"{type(exc).__name__}: {exc}"
        if self._on_terminal is not None:
            self._on_terminal(exc)

    def _maintenance_due(self) -> bool:
        return time.monotonic() - self._last_maintenance >= self._maintain_every_s

    def _succeeded(self, name: str) -> None:
        if self._supervisor is not None:
            self._supervisor.succeeded(self._supervisor.component(name))

    def _failed(self, name: str, exc: Exception) -> float:
        if self._supervisor is None:
            return 0.0
        return self._supervisor.failed(self._supervisor.component(name), exc)
