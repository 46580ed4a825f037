"""`wikistream run` assembled: supervised ingestion with silver/gold cycles and maintenance.

The CLI keeps the options and the printing; benchmarks and tests call `run_pipeline` to get
exactly what `run` does: the supervisor (restarts, stall watchdog, run state, alerts), the
processing loop holding the processing lease (cycles, maintenance, the fence on every
commit), and SIGINT/SIGTERM committing what was read before returning.
"""

from __future__ import annotations

from collections.abc import Callable

from wikistream import metrics
from wikistream.alerts.router import AlertRouter
from wikistream.lakehouse.store import Lakehouse
from wikistream.layers.bronze import BronzeStats
from wikistream.ops.maintain import maintain
from wikistream.pipeline.reading import StopToken, graceful_signals
from wikistream.pipeline.runner import RunSummary
from wikistream.pipeline.supervisor import Supervisor, supervise_ingest
from wikistream.sources.base import Source


def run_pipeline(
    lakehouse: Lakehouse,
    source: Callable[[], Source],
    *,
    max_events: int | None = None,
    max_seconds: float | None = None,
    keep_layers: bool = True,
    idle_exit_s: float | None = None,
    on_progress: Callable[[BronzeStats, float], None] | None = None,
    stop: StopToken | None = None,
) -> RunSummary:
    """Ingest `source` under the supervisor until it ends, a limit is hit or a stop signal;
    with `keep_layers`, silver and gold are kept current beside it (while this process holds
    the processing lease) and tables maintained on schedule.

    `summary.extra` gets the components' states and, with the layers kept, the cycles.

    Raises:
        TerminalError: ingestion or processing failed in a way a restart cannot fix.
    """
    settings = lakehouse.settings
    stop = stop or StopToken()
    loop = None
    processor = None
    if keep_layers:
        from wikistream.pipeline.exclusive import PROCESS_LEASE  # Daft: only if needed
        from wikistream.pipeline.loop import ProcessLoop
        from wikistream.pipeline.process import Processor

        processor = Processor(lakehouse)
    gates = processor.gates if processor is not None else None
    alerts = gates.alerts if gates is not None else AlertRouter(settings.alerts)
    supervisor = Supervisor(lakehouse, alerts).start()
    metrics.RUNNING.set(1)
    if processor is not None:
        ttl = settings.process.lease_ttl_s
        lease = lakehouse.lease(PROCESS_LEASE, processor.writer_id, ttl)
        processor.fence = lease.fence  # commits only while holding it, with time to spare
        loop = ProcessLoop(
            processor,
            settings.process.interval_s,
            supervisor,
            maintain=lambda: maintain(lakehouse, settings.maintenance),
            maintain_every_s=settings.maintenance.interval_s,
            on_terminal=lambda _: stop.stop("processing failed"),  # ingest stops; error raised
            lease=lease,
        ).start()
    scorer = None
    if processor is not None and settings.liftwing.enabled:
        from wikistream.pipeline.liftwing import LiftWingScorer

        scorer = LiftWingScorer(lakehouse, fence=lease.fence).start()  # its own threads
    with graceful_signals(stop):
        try:
            summary = supervise_ingest(
                supervisor,
                source,
                stop,
                max_events,
                max_seconds,
                on_progress=on_progress,
                idle_exit_s=idle_exit_s,
            )
        finally:
            try:
                final = loop.stop() if loop is not None else None  # raises what ended it
                if loop is None:
                    alerts.close()
            finally:
                if scorer is not None:
                    scorer.stop()
                supervisor.close()
                metrics.RUNNING.set(0)
    summary.extra["components"] = {n: c.as_dict() for n, c in supervisor.components.items()}
    if loop is not None and final is not None:
        summary.extra["layers"] = {
            "cycles": loop.cycles,
            "failed_cycles": loop.failures,
            "last_cycle_rows": final.rows,
            "quarantined_by_checks": loop.quarantined,
            "held_by_gates": loop.held,
        }
    if scorer is not None:
        summary.extra["liftwing"] = dict(scorer.counts)
    return summary
