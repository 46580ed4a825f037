"""`wikistream run` and `wikistream demo`: ingest a source into bronze."""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wikistream.cli.app import EXIT_UNHEALTHY, Context, cli, writable
from wikistream.cli.output import OUTPUT_OPTION, emit_json
from wikistream.cli.web import HOST_OPTION, PORT_OPTION, web_server
from wikistream.lakehouse.positions import as_text
from wikistream.lakehouse.store import Lakehouse
from wikistream.layers.bronze import BronzeStats
from wikistream.pipeline.runner import RunSummary
from wikistream.settings import Settings
from wikistream.sources.base import Source
from wikistream.sources.registry import SPEC_HELP, open_source
from wikistream.sources.synthetic import SyntheticSource

if TYPE_CHECKING:
    from wikistream.pipeline.process import CycleReport


@cli.command()
@click.option("--source", "spec", metavar="SPEC", help=f"{SPEC_HELP} [default: live]")
@click.option("--max-events", type=click.IntRange(min=1), help="Stop after reading N events.")
@click.option(
    "--max-seconds", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds."
)
@click.option("--since", help="First start only: ISO-8601 time or ms epoch to start from.")
@click.option(
    "--process/--no-process",
    "keep_layers",
    default=True,
    show_default=True,
    help="Keep silver and gold current while ingesting.",
)
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="S",
    help="Exit 0 after S seconds without a new record (a new assignment of Kafka "
    "partitions restarts the clock).",
)
@click.option(
    "--serve",
    "serve_web",
    is_flag=True,
    help="Also serve the dashboard, the API and /metrics (with this run's "
    "counters) while running; see `wikistream serve`.",
)
@HOST_OPTION
@PORT_OPTION
@OUTPUT_OPTION
@click.pass_obj
def run(
    obj: Context,
    spec: str | None,
    max_events: int | None,
    max_seconds: float | None,
    since: str | None,
    keep_layers: bool,
    idle_exit: float | None,
    serve_web: bool,
    host: str | None,
    port: int | None,
    output: str,
) -> None:
    """Ingest a source into bronze until it ends, a limit is hit, or Ctrl-C.

    Resumes from the position stored with the last commit, so a restart neither loses nor
    duplicates events. SIGINT/SIGTERM commit what was read and exit 0.

    With --source kafka://HOST:PORT/TOPIC?group=NAME this process is one bronze worker of
    the group: start as many as the topic has partitions, here or on other machines; each
    commits its partitions' offsets with its rows. Kill or add workers at any moment.
    """
    overrides: dict[str, Any] = {}
    if spec or since:
        overrides["source"] = {k: v for k, v in {"spec": spec, "since": since}.items() if v}
    settings = obj.settings(**overrides)
    open_source(settings.source.spec, settings).close()  # a bad spec fails here, at once
    server = web_server(settings, host, port) if serve_web else None
    if server is not None:
        click.echo(f"dashboard at {server.url}", err=True)
        server.start()
    try:
        summary = _ingest(
            settings,
            lambda: open_source(settings.source.spec, settings),
            max_events,
            max_seconds,
            keep_layers,
            idle_exit,
        )
    finally:
        if server is not None:
            server.stop()
    report_run(summary, settings, output, title=f"ingest from {settings.source.spec}")


@cli.command()
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="How many synthetic events to generate in this run.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Events per second (default: as fast as possible).",
)
@OUTPUT_OPTION
@click.pass_obj
def demo(obj: Context, events: int, rate: float | None, output: str) -> None:
    """Run the pipeline on the deterministic synthetic stream and print a summary.

    The stream has every event type, many wikis, bots, IP and temporary-account editors,
    canaries, resent duplicates and a few malformed records. Running it again continues
    where the last run stopped.
    """
    settings = obj.settings()
    s = settings.synthetic

    def source() -> Source:
        return SyntheticSource(
            rate=rate, seed=s.seed, start=s.start, chunk_events=settings.source.chunk_events
        )

    summary = _ingest(settings, source, events, None, True)
    report_run(summary, settings, output, title=f"demo: {events:,} synthetic events")
    if output == "text":
        web = settings.web
        click.echo(
            f"       {_command_name()} serve   # the dashboard: open "
            f"http://{web.host}:{web.port}/  (make serve)"
        )


def _ingest(
    settings: Settings,
    source: Callable[[], Source],
    max_events: int | None,
    max_seconds: float | None,
    keep_layers: bool,
    idle_exit_s: float | None = None,
) -> RunSummary:
    """`ops.run.run_pipeline` with a progress line on a terminal."""
    from wikistream.ops.run import run_pipeline  # Daft and the processing loop: when used

    progress = progress_line if sys.stderr.isatty() else None
    try:
        return run_pipeline(
            writable(settings),
            source,
            max_events=max_events,
            max_seconds=max_seconds,
            keep_layers=keep_layers,
            idle_exit_s=idle_exit_s,
            on_progress=progress,
        )
    finally:
        if progress is not None:
            click.echo("\r\033[K", nl=False, err=True)


def progress_line(stats: BronzeStats, seconds: float) -> None:
    rate = stats.read / seconds if seconds else 0.0
    click.echo(
        f"\r\033[K  read {stats.read:,}  accepted {stats.accepted:,}  "
        f"quarantined {stats.quarantined:,}  commits {stats.commits:,}  {rate:,.0f} ev/s",
        nl=False,
        err=True,
    )


def _restart_rows(summary: RunSummary) -> list[tuple[str, str]]:
    restarted = {
        n: c["restarts"] for n, c in summary.extra.get("components", {}).items() if c["restarts"]
    }
    if not restarted:
        return []
    return [("restarts", ", ".join(f"{n} {r}" for n, r in restarted.items()))]


def _layer_rows(summary: RunSummary) -> list[tuple[str, str]]:
    processed = summary.extra.get("processed")
    if processed is not None:
        written = ", ".join(f"{t} {n:,}" for t, n in processed.items()) or "nothing new"
        return [("silver/gold", f"processed afterwards: {written}")]
    layers = summary.extra.get("layers")
    if not layers:
        return []
    rows = [
        (
            "silver/gold",
            f"{layers['cycles']} cycles ({layers['failed_cycles']} failed), "
            "kept current while ingesting",
        )
    ]
    if layers["quarantined_by_checks"]:
        rows.append(
            (
                "silver quarantine",
                f"{layers['quarantined_by_checks']:,} rows failed "
                "row checks (wikistream quarantine list)",
            )
        )
    for table, run_id in layers["held_by_gates"].items():
        rows.append(
            (
                "HELD",
                f"{table}: a quality gate holds the batch back; see "
                f"wikistream dq report (run {run_id})",
            )
        )
    return rows


def _shown(position: str | dict[str, str] | None) -> str | None:
    """A position, or partition:position pairs for a partitioned source."""
    return as_text(position) if isinstance(position, dict) else position


def report_run(summary: RunSummary, settings: Settings, output: str, title: str) -> None:
    warehouse = settings.warehouse_shown
    data = summary.as_dict() | {
        "warehouse": str(warehouse),
        "catalog": Lakehouse.reader(settings).describe(),
    }
    if output == "json":
        emit_json(data)
        return
    filtered = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.stats.dropped.items())) or "0"
    rows = [
        ("events read", f"{summary.stats.read:,}"),
        ("accepted", f"{summary.stats.accepted:,}"),
        ("quarantined", f"{summary.stats.quarantined:,}  (bronze.quarantine)"),
        ("duplicates dropped", f"{summary.stats.duplicates:,}"),
        ("filtered", filtered),
        ("commits", f"{summary.stats.commits:,}"),
        ("throughput", f"{summary.events_per_s:,.0f} events/s over {summary.seconds:.1f} s"),
        (
            "position",
            f"{_shown(summary.start_position) or 'start'} -> {_shown(summary.end_position) or '-'}",
        ),
        ("stopped by", summary.stopped_by),
        *_layer_rows(summary),
        *_restart_rows(summary),
        ("data", f"{warehouse}  ({data['catalog']})"),
    ]
    click.echo(f"WikiStream {title}")
    for label, value in rows:
        click.echo(f"  {label:<19} {value}")
    me = _command_name()
    click.echo("\nNext:  " + "\n       ".join(f"{me} {hint}" for hint in _NEXT_STEPS))


_NEXT_STEPS = (
    "status",
    'query "SELECT domain, count(*) AS events FROM bronze.events '
    'GROUP BY domain ORDER BY events DESC LIMIT 10"',
    'query "SELECT \\"user\\", risk_score, risk_level, reasons FROM gold.risk_scores '
    'ORDER BY risk_score DESC LIMIT 20"',
)


def _command_name() -> str:
    """How to call wikistream again, with the options that chose this warehouse:
    `.venv/bin/wikistream --warehouse W` after `make demo ARGS='--warehouse W'`."""
    invoked = Path(sys.argv[0])
    name = str(invoked)
    if invoked.name != "wikistream" or shutil.which("wikistream") == str(invoked.resolve()):
        name = "wikistream"
    else:
        with contextlib.suppress(ValueError):
            name = str(invoked.resolve().relative_to(Path.cwd()))
    context = click.get_current_context(silent=True)
    obj = None if context is None else context.find_object(Context)
    if obj is not None and obj.config is not None:
        name += f" --config {shlex.quote(str(obj.config))}"
    if obj is not None and obj.warehouse is not None:
        name += f" --warehouse {shlex.quote(obj.warehouse)}"
    return name


@cli.command()
@click.option(
    "--layer", type=click.Choice(["silver", "gold", "all"]), default="all", show_default=True
)
@click.option(
    "--lookback",
    type=click.FloatRange(min=0, min_open=True),
    metavar="HOURS",
    help="Also recompute gold windows of the last HOURS hours.",
)
@click.option("--full-refresh", is_flag=True, help="Rebuild the layer(s) from the one below.")
@OUTPUT_OPTION
@click.pass_obj
def process(
    obj: Context, layer: str, lookback: float | None, full_refresh: bool, output: str
) -> None:
    """Run one silver/gold cycle now (e.g. after a backfill); idempotent.

    Refused while a `wikistream run` keeps silver and gold current (it holds the
    processing lease); two `process` commands never write at once.
    """
    from wikistream.pipeline.exclusive import exclusive_processor  # Daft: when needed

    settings = obj.settings()
    with exclusive_processor(writable(settings), "processing") as processor:
        report = processor.run(layer, full_refresh, lookback)
    print_cycle(report, output, {"layer": layer, "full_refresh": full_refresh})


def print_cycle(report: CycleReport, output: str, about: dict[str, Any]) -> None:
    """What a silver/gold cycle wrote (text or JSON); exit 4 if a gate held a batch."""
    data = about | {
        "rows_written": report.rows,
        "quarantined": report.quarantined,
        "seconds": {k: round(v, 3) for k, v in report.seconds.items()},
        "held": report.held,
    }
    if output == "json":
        emit_json(data)
    else:
        if not report.rows and not report.held:
            click.echo("nothing new to process")
        for table, rows in report.rows.items():
            click.echo(f"  {table:<20} {rows:>9,} rows  {report.seconds[table]:.2f} s")
        for table, rows in report.quarantined.items():
            click.echo(f"  {table:<20} {rows:>9,} rows failed row checks")
        for table, run_id in report.held.items():
            click.echo(
                f"  {table:<20} HELD by its quality gate (run {run_id}): wikistream dq report",
                err=True,
            )
    if report.held:
        sys.exit(EXIT_UNHEALTHY)
