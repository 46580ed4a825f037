"""`wikistream status` and `wikistream query`: look into the lakehouse."""

from __future__ import annotations

import sys

import click

from wikistream.cli.app import EXIT_UNHEALTHY, Context, cli, readable
from wikistream.cli.output import OUTPUT_OPTION, emit_json, emit_table, format_grid
from wikistream.lakehouse.query import run_query
from wikistream.lakehouse.store import Lakehouse
from wikistream.ops.status import status_document


@cli.command()
@OUTPUT_OPTION
@click.option("--max-lag", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Also unhealthy when bronze's newest event is older than this.")  # fmt: skip
@click.pass_obj
def status(obj: Context, output: str, max_lag: float | None) -> None:
    """Tables, files, snapshots, positions, freshness, running components, gate verdicts.

    Exits 4 when something is unhealthy (no tables yet, a batch held by a quality gate, a
    component of `wikistream run` failing or silent, bronze lagging more than --max-lag),
    so it can serve as a health check.
    """
    settings = obj.settings()
    report = status_document(Lakehouse.reader(settings), settings, max_lag)
    tables, kafka = report["tables"], report.get("kafka", [])
    if output == "json":
        emit_json(report)
    else:
        click.echo(f"catalog: {report['catalog']}")
        header = ["table", "rows", "files (small)", "snapshots", "last commit", "freshness lag"]
        rows = [
            [
                t["table"],
                f"{t['rows']:,}" if t["exists"] else "(missing)",
                f"{t['data_files']} ({t['small_files']})" if t["exists"] else "",
                t.get("snapshots", ""),
                _ago(t.get("seconds_since_commit")),
                _ago(t.get("freshness_lag_s")),
            ]
            for t in tables
        ]
        click.echo(format_grid(header, rows))
        for t in tables:
            for source, position in (t.get("positions") or {}).items():
                click.echo(f"position  {t['table']}  {source}  {position}")
        for row in kafka:
            lag = "-" if row["lag"] is None else f"{row['lag']:,}"
            end = "-" if row["end_offset"] is None else row["end_offset"]
            click.echo(f"kafka     {row['topic']}[{row['partition']}]  stored "
                       f"{row['stored_offset']}  end {end}  lag {lag}  "
                       f"by {row['writer'] or '-'}")  # fmt: skip
        for gate in report["gates"]:
            failed = ", ".join(gate["failed"]) or "-"
            click.echo(f"gate      {gate['table']}  {gate['gate']}  {gate['run_at']}  "
                       f"failed: {failed}")  # fmt: skip
        for name, component in report["components"].items():
            click.echo(f"component {name}  {component['state']}  last success "
                       f"{component.get('last_success') or '-'}  restarts "
                       f"{component.get('restarts', 0)}")  # fmt: skip
        for problem in report["problems"]:
            click.echo(f"UNHEALTHY: {problem}", err=True)
    if report["problems"]:
        sys.exit(EXIT_UNHEALTHY)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.0f} min"
    if abs(seconds) < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


@cli.command()
@click.argument("sql")
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="json: an array of row objects.")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), help="Return at most N rows.")
@click.option("--as-of", metavar="SNAPSHOT|TIME",
              help="Time travel: tables as of an ISO-8601 time or a snapshot id.")  # fmt: skip
@click.pass_obj
def query(obj: Context, sql: str, output: str, limit: int | None, as_of: str | None) -> None:
    """Run one read-only SQL query; tables are bronze.events, bronze.quarantine, …

    \b
    Examples:
      wikistream query "SELECT type, count(*) AS n FROM bronze.events GROUP BY type"
      wikistream query "SELECT count(*) FROM silver.events" --as-of 2026-11-23T08:00:00Z
    """
    settings = obj.settings()
    emit_table(run_query(readable(settings), sql, limit, as_of), output)
