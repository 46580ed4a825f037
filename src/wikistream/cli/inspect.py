"""`wikistream status` and `wikistream query`: look into the lakehouse."""

from __future__ import annotations

import sys

import click

from wikistream.cli.app import EXIT_UNHEALTHY, Context, cli
from wikistream.cli.output import emit_json, emit_table, format_grid
from wikistream.lakehouse.catalog import describe_catalog, open_catalog
from wikistream.lakehouse.inspect import lakehouse_status
from wikistream.lakehouse.query import run_query


@cli.command()
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def status(obj: Context, output: str) -> None:
    """Tables, rows, snapshots, stored positions, last commit and freshness."""
    settings = obj.settings()
    tables = lakehouse_status(open_catalog(settings))
    if output == "json":
        emit_json({"catalog": describe_catalog(settings),
                   "warehouse": str(settings.warehouse.resolve()), "tables": tables})  # fmt: skip
    else:
        click.echo(f"catalog: {describe_catalog(settings)}")
        header = ["table", "rows", "files", "snapshots", "last commit", "freshness lag"]
        rows = [
            [
                t["table"],
                f"{t['rows']:,}" if t["exists"] else "(missing)",
                t.get("data_files", ""),
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
    if not any(t["exists"] for t in tables):
        click.echo("no tables yet: run `wikistream demo` or `wikistream run` first", err=True)
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
    emit_table(run_query(open_catalog(settings), sql, limit, as_of), output)
