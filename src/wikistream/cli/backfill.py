"""`wikistream backfill`: load historical files or stream slices, with a run manifest."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import Any

import click

from wikistream.cli.app import EXIT_ERROR, Context, cli, writable
from wikistream.cli.output import OUTPUT_OPTION, emit_json, format_grid
from wikistream.layers.bronze import BronzeStats
from wikistream.ops.backfill import plan, run
from wikistream.ops.manifest import COMPLETED, DONE, INTERRUPTED, RUNNING, Item, Manifest
from wikistream.pipeline.reading import StopToken, graceful_signals
from wikistream.times import instant

_EXIT_INTERRUPTED = 130


@cli.command()
@click.option(
    "--source",
    "specs",
    multiple=True,
    required=True,
    metavar="SPEC",
    help="file:PATH (globs allowed, e.g. 'file:dumps/*.jsonl.gz') or sse:URL / live; repeatable.",
)
@click.option(
    "--since", metavar="TIME", help="Keep events from this ISO-8601 time (required for streams)."
)
@click.option("--until", metavar="TIME", help="Keep events before this time [streams: now].")
@click.option(
    "--run-id",
    metavar="NAME",
    help="Name the run [default: derived from sources, since and until, so running "
    "the same backfill again resumes it].",
)
@click.option(
    "--slice-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Streams: one item per this many hours.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help="Load this many items at once, each in its own process (one per core); "
    "an NDJSON file of at least 1 MiB per worker is cut into this many "
    "parts. Another --workers is another run (bronze still drops what it "
    "holds).",
)
@click.option(
    "--process/--no-process",
    "keep_layers",
    default=True,
    show_default=True,
    help="Bring silver and gold up to date afterwards.",
)
@OUTPUT_OPTION
@click.pass_obj
def backfill(
    obj: Context,
    specs: tuple[str, ...],
    since: str | None,
    until: str | None,
    run_id: str | None,
    slice_hours: float,
    workers: int,
    keep_layers: bool,
    output: str,
) -> None:
    """Load historical data into bronze, recorded in a run manifest; re-run to resume.

    Every file (or stream slice) is an item in `ops.runs` and
    <warehouse>/runs/<run_id>/manifest.json, with its state, rows and sha256; audit.jsonl
    beside it has one line per item event. Running the same backfill again skips the done
    items and resumes the others where they stopped; events bronze already holds are
    never written twice. A failed item is recorded and the others still load.

    \b
    Exit codes: 0 completed, 1 partial (failed items listed), 3 the stream could not be
    reached (nothing read; the manifest is kept), 130 interrupted (re-run it).
    """
    settings = obj.settings()
    start = instant(since, "--since") if since else None
    end = instant(until, "--until") if until else None
    if output == "text":
        click.echo("planning (checksums, record counts) …", err=True)
    lakehouse = writable(settings)
    manifest = plan(lakehouse, list(specs), start, end, run_id, slice_hours, workers)
    todo = [item for item in manifest.items if item.state != DONE]
    if output == "text":
        click.echo(
            f"backfill {manifest.run_id}: {len(manifest.items)} items, "
            f"{len(manifest.items) - len(todo)} already done",
            err=True,
        )
    stop = StopToken()
    with ExitStack() as stack:
        stack.enter_context(graceful_signals(stop))
        progress = None
        if output == "text" and sys.stderr.isatty() and todo:
            progress = stack.enter_context(_Progress(todo))
        update = progress.update if progress else None
        manifest = run(lakehouse, manifest, stop, update, workers)
    if keep_layers and manifest.rows:
        from wikistream.pipeline.exclusive import process_unless_kept_current  # Daft

        if process_unless_kept_current(lakehouse) is None and output == "text":
            click.echo("silver and gold: left to the running `wikistream run`", err=True)
    _report(manifest, settings.warehouse_shown, output)
    if manifest.state == INTERRUPTED:
        sys.exit(_EXIT_INTERRUPTED)
    if manifest.state != COMPLETED:
        sys.exit(EXIT_ERROR)


class _Progress:
    """A bar over the records of the items to load (files), or over the items (streams);
    items loading at once (--workers) add up."""

    def __init__(self, items: list[Item]) -> None:
        self._sizes = {item.key: item.planned_records or 0 for item in items}
        self._by_records = all(self._sizes.values())
        length = sum(self._sizes.values()) if self._by_records else len(items)
        self._bar = click.progressbar(
            length=length, label="backfill", file=sys.stderr, show_eta=True, show_pos=True
        )
        self._shown = dict.fromkeys(self._sizes, 0)

    def __enter__(self) -> _Progress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def update(self, item: Item, stats: BronzeStats) -> None:
        if item.key not in self._sizes:
            return
        finished = item.state != RUNNING  # its last report: the bar covers it whole
        total = self._sizes[item.key] if self._by_records else 1
        done = total if finished else min(item.read + stats.read, total) if self._by_records else 0
        self._bar.update(done - self._shown[item.key])
        self._shown[item.key] = done


def _report(manifest: Manifest, warehouse: Any, output: str) -> None:
    if output == "json":
        emit_json(manifest.as_dict())
        return
    header = ["item", "state", "read", "rows", "duplicates", "quarantined", "error"]
    grid = [
        [
            item.key,
            item.state,
            f"{item.read:,}",
            f"{item.rows:,}",
            f"{item.duplicates:,}",
            f"{item.quarantined:,}",
            item.error or "",
        ]
        for item in manifest.items
    ]
    click.echo(format_grid(header, grid))
    click.echo(
        f"\nrun {manifest.run_id}: {manifest.state}, {manifest.count(DONE)}/"
        f"{len(manifest.items)} items done, {manifest.rows:,} rows written"
    )
    click.echo(f"manifest: {warehouse}/runs/{manifest.run_id}/manifest.json (and ops.runs)")
    if manifest.state != COMPLETED:
        click.echo("run the same command again to resume", err=True)
