"""`wikistream dq …` and `wikistream quarantine …`: quality gates and quarantined rows."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from wikistream.cli.app import EXIT_UNHEALTHY, Context, cli, readable, writable
from wikistream.cli.output import OUTPUT_OPTION, emit_json, emit_table, format_grid
from wikistream.exceptions import ConfigError
from wikistream.lakehouse.reads import rows_of
from wikistream.lakehouse.tables import BRONZE_QUARANTINE, SILVER_QUARANTINE
from wikistream.quality.audit import release_held, summarize
from wikistream.quality.checks import load_checks
from wikistream.settings import Settings
from wikistream.times import instant


@cli.group()
def dq() -> None:
    """Quality gates: reports, on-demand runs, releasing a held batch.

    \b
    Every cycle runs bronze gate -> silver -> silver gate -> gold -> gold gate. Checks are
    in a TOML file (default: the shipped quality/checks.toml; see docs/quality.md).
    """


@dq.command()
@click.option("--layer", type=click.Choice(["bronze", "silver", "gold"]), help="Only this layer.")
@click.option(
    "--since",
    default="24h",
    show_default=True,
    help="ISO-8601 time, or a duration like 30m, 6h, 7d.",
)
@OUTPUT_OPTION
@click.pass_obj
def report(obj: Context, layer: str | None, since: str, output: str) -> None:
    """Pass rates per check, the latest failures and the batches held back."""
    settings = obj.settings()
    since_time = _since(since)
    summary = summarize(readable(settings), layer, since_time)
    if output == "json":
        emit_json(summary)
        return
    click.echo(f"{summary['runs']:,} gate runs since {summary['since']}")
    header = ["layer", "table", "check", "level", "runs", "pass rate", "rows failed", "last"]
    rows = [
        [
            c["layer"],
            c["table"],
            c["check"],
            c["level"],
            c["runs"],
            "-" if c["pass_rate"] is None else f"{c['pass_rate']:.1%}",
            f"{c['rows_failed']:,}",
            c["last_verdict"],
        ]
        for c in summary["checks"]
    ]
    click.echo(format_grid(header, rows))
    if summary["recent_failures"]:
        click.echo("\nrecent failures:")
        for f in summary["recent_failures"][:10]:
            click.echo(
                f"  {f['run_at']}  {f['run_id']}  {f['table_name']}.{f['check_name']} "
                f"({f['level']}): {f['metric_value']} vs {f['threshold']}  "
                f"-> {f['gate']}"
            )
    for held in summary["held"]:
        run_id = held["run_id"]
        click.echo(
            f"\nHELD: {held['table']} batch of run {run_id}: fix and let the next "
            f"cycle re-check it, or: wikistream dq release {run_id}"
        )


@dq.command("run")
@click.option("--layer", type=click.Choice(["bronze", "silver", "gold"]), required=True)
@click.option(
    "--all",
    "whole",
    is_flag=True,
    help="Judge every row of the layer's table, not only the batch waiting.",
)
@OUTPUT_OPTION
@click.pass_obj
def run_gate(obj: Context, layer: str, whole: bool, output: str) -> None:
    """Run a layer's gate now, promoting nothing; exit 4 if an error-level check fails.

    bronze/silver judge the batch waiting for the next cycle (or everything with --all);
    gold judges its whole tables against silver. Results go to dq.results as usual.
    """
    from wikistream.pipeline.process import Processor  # Daft: imported only when needed

    settings = obj.settings()
    with Processor(writable(settings)) as processor:
        runs = processor.check(layer, whole)
    failing = any(r.failed and r.check.level == "error" for run in runs for r in run.results)
    if output == "json":
        emit_json([run.report() for run in runs])
    else:
        for run in runs:
            click.echo(f"{run.table} (run {run.run_id}):")
            rows = [
                [
                    r.check.name,
                    r.check.level,
                    r.verdict,
                    _number(r.metric_value),
                    r.threshold,
                    f"{r.rows_failed:,}/{r.rows_checked:,}",
                    r.detail,
                ]
                for r in run.results
            ]
            click.echo(
                format_grid(
                    ["check", "level", "verdict", "value", "expected", "rows failed", "detail"],
                    rows,
                )
            )
    if failing:
        sys.exit(EXIT_UNHEALTHY)


@dq.command()
@click.argument("run_id")
@click.option("--reason", help="Why it is safe to let this batch through (kept with it).")
@click.pass_obj
def release(obj: Context, run_id: str, reason: str | None) -> None:
    """Let the batch a gate run held back through at the next cycle."""
    table = release_held(writable(obj.settings()), run_id, reason)
    click.echo(f"released: the next cycle promotes the {table} batch of run {run_id}")


@cli.group()
def quarantine() -> None:
    """Rows that failed decoding (bronze) or row-level checks (silver)."""


@quarantine.command("list")
@click.option(
    "--layer", type=click.Choice(["bronze", "silver"]), default="silver", show_default=True
)
@click.option("--check", help="silver: only rows that failed this check.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option(
    "--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@click.pass_obj
def list_rows(obj: Context, layer: str, check: str | None, limit: int, output: str) -> None:
    """Show quarantined rows, newest first, with the reason."""
    settings = obj.settings()
    if check is not None:
        _known_check(settings, layer, check)
    lakehouse = readable(settings)
    if layer == "silver":
        columns = (
            "quarantined_at",
            "event_id",
            "event_ts",
            "domain",
            "user",
            "region",
            "quarantine_reason",
            "failed_checks",
            "run_id",
        )
        rows = rows_of(lakehouse, SILVER_QUARANTINE, "event_id", None, columns)
        if check:
            keep = [check in names for names in rows.column("failed_checks").to_pylist()]
            rows = rows.filter(keep)
        rows = rows.sort_by([("quarantined_at", "descending")])
    else:
        dead = ("ingested_at", "quarantine_id", "reason", "detail", "source", "raw_size")
        rows = rows_of(lakehouse, BRONZE_QUARANTINE, "reason", None, dead)
        rows = rows.sort_by([("ingested_at", "descending")])
    click.echo(f"{rows.num_rows:,} rows in {layer}.quarantine", err=True)
    emit_table(rows.slice(0, limit), output)


@quarantine.command()
@click.option(
    "--layer", type=click.Choice(["bronze", "silver"]), default="silver", show_default=True
)
@click.option("--check", help="silver: only rows that failed this check.")
@click.option("--dry-run", is_flag=True, help="Say what would move; change nothing.")
@OUTPUT_OPTION
@click.pass_obj
def replay(obj: Context, layer: str, check: str | None, dry_run: bool, output: str) -> None:
    """Re-process quarantined rows after a fix; rows that pass leave the quarantine.

    silver: the events are re-read from bronze and judged by the current row checks
    (freshness excepted: a replay is deliberate); they reach gold at the next cycle.
    bronze: dead letters are decoded again with the current decoder and filters.
    Safe to repeat: nothing is written twice.
    """
    from wikistream.pipeline.exclusive import exclusive_processor  # Daft: when needed
    from wikistream.quality.gates import QualityGates
    from wikistream.quality.replay import replay_bronze_quarantine, replay_silver_quarantine

    settings = obj.settings()
    if check is not None:
        _known_check(settings, layer, check)
    lakehouse = writable(settings)
    if layer == "silver":
        action = "replaying the silver quarantine"
        with exclusive_processor(lakehouse, action) as processor:
            gates = processor.gates or QualityGates(lakehouse)
            outcome = replay_silver_quarantine(lakehouse, gates, check, dry_run, processor.fence)
    else:
        outcome = replay_bronze_quarantine(lakehouse, dry_run)
    data = {
        "layer": layer,
        "selected": outcome.selected,
        "promoted": outcome.promoted,
        "still_failing": outcome.still_failing,
        "dry_run": dry_run,
    }
    if output == "json":
        emit_json(data)
        return
    verb = "would move" if dry_run else "moved"
    click.echo(
        f"{layer}.quarantine: {outcome.selected:,} rows selected, {verb} "
        f"{outcome.promoted:,} to {layer}.events, {outcome.still_failing:,} still "
        "failing (left in quarantine)"
    )


def _known_check(settings: Settings, layer: str, check: str) -> None:
    """A check name the quarantine can hold rows of (silver's row-level checks)."""
    if layer != "silver":
        raise ConfigError("--check selects silver quarantine rows (bronze's have a reason)")
    names = [c.name for c in load_checks(settings.dq.checks_file).of("silver") if c.row_level]
    if check not in names:
        known = ", ".join(names)
        raise ConfigError(f"no row-level silver check is named {check!r}; checks: {known}")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value == int(value) and abs(value) >= 1 else f"{value:.4g}"


def _since(text: str) -> datetime:
    return instant(text, "--since")
