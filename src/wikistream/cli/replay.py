"""`wikistream replay`: re-read a source into bronze, or recompute silver/gold from below."""

from __future__ import annotations

import sys

import click

from wikistream.cli.app import Context, cli, writable
from wikistream.cli.ingest import print_cycle, progress_line, report_run
from wikistream.cli.output import OUTPUT_OPTION
from wikistream.pipeline.reading import StopToken, graceful_signals
from wikistream.sources.registry import SPEC_HELP
from wikistream.times import instant


@cli.command()
@click.option(
    "--layer",
    type=click.Choice(["bronze", "silver", "gold"]),
    required=True,
    help="The layer to replay into.",
)
@click.option(
    "--from",
    "origin",
    required=True,
    metavar="earliest|POSITION|SNAPSHOT|TIME",
    help="Where to start (see above).",
)
@click.option(
    "--source",
    "spec",
    metavar="SPEC",
    help=f"bronze: the source to re-read ({SPEC_HELP}) [default: live]",
)
@click.option(
    "--until", metavar="TIME", help="bronze: keep events before this event time [default: now]."
)
@click.option(
    "--process/--no-process",
    "keep_layers",
    default=True,
    show_default=True,
    help="bronze: bring silver and gold up to date afterwards.",
)
@OUTPUT_OPTION
@click.pass_obj
def replay(
    obj: Context,
    layer: str,
    origin: str,
    spec: str | None,
    until: str | None,
    keep_layers: bool,
    output: str,
) -> None:
    """Re-read a source into bronze, or recompute silver or gold from the layer below.

      Idempotent: running a replay twice leaves the tables as running it once.

      \b
      --layer bronze --from earliest   the source's beginning (SSE: its 7-day retention)
      --layer bronze --from POSITION   a position the source produced (file: byte offset;
                                       SSE: an event id; see `wikistream history bronze.events`)
      --layer bronze --from TIME       events from this ISO-8601 time (SSE: ?since=)
    --layer bronze --from 0:120,1:98 Kafka: from these partition:offset pairs (partitions not
                                     listed from their earliest); a Kafka replay reads every
                                     partition to the end it finds, then stops
      --layer silver --from SNAPSHOT   the days of the rows bronze appended after this snapshot
      --layer silver --from TIME       every day from this time's day on
      --layer gold   --from SNAPSHOT   every window from the oldest event silver appended after
      --layer gold   --from TIME       every window from this time on
      --from earliest on silver/gold rebuilds the layer (and gold above silver) completely.

      A bronze replay runs beside `wikistream run` (its position is kept apart, under
      replay:<source>); stop `run` (or run it with --no-process) to replay silver or gold.
    """
    from wikistream.ops.replay import Origin, replay_bronze, replay_gold, replay_silver

    settings = obj.settings()
    start = Origin.parse(origin)
    if layer != "bronze":
        for name, given in (("--source", spec), ("--until", until)):
            if given is not None:
                raise click.UsageError(f"{name} applies to --layer bronze only")
        recompute = replay_silver if layer == "silver" else replay_gold
        report = recompute(writable(settings), start)
        print_cycle(report, output, {"layer": layer, "from": origin})
        return
    lakehouse = writable(settings)
    stop = StopToken()
    progress = progress_line if sys.stderr.isatty() and output == "text" else None
    end = instant(until, "--until") if until else None
    with graceful_signals(stop):
        summary = replay_bronze(settings, spec or settings.source.spec, start, end, stop, progress)
    if progress is not None:
        click.echo("\r\033[K", nl=False, err=True)
    if keep_layers:
        from wikistream.pipeline.exclusive import process_unless_kept_current  # Daft

        cycle = process_unless_kept_current(lakehouse)
        if cycle is not None:
            summary.extra["processed"] = cycle.rows
        elif output == "text":
            click.echo("silver and gold: left to the running `wikistream run`", err=True)
    report_run(summary, settings, output, title=f"replay of {summary.source} from {origin}")
