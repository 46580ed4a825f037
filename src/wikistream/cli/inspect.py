"""`wikistream status` and `wikistream query`: look into the lakehouse."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from wikistream.cli.app import EXIT_UNHEALTHY, Context, cli, readable
from wikistream.cli.output import OUTPUT_OPTION, emit_json, emit_table, format_grid
from wikistream.exceptions import ConfigError
from wikistream.lakehouse.store import Lakehouse
from wikistream.ops.status import status_document


@cli.command()
@OUTPUT_OPTION
@click.option(
    "--max-lag",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Also unhealthy when bronze's newest event is older than this.",
)
@click.pass_obj
def status(obj: Context, output: str, max_lag: float | None) -> None:
    """Tables, files, snapshots, positions, freshness, running components, gate verdicts.

    Exits 4 when something is unhealthy (no tables yet, a batch held by a quality gate, a
    component of `wikistream run` failing or silent, bronze lagging more than --max-lag),
    so it can serve as a health check.
    """
    settings = obj.settings()
    report = status_document(Lakehouse.reader(settings), max_lag)
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
        positions = [
            [t["table"], source, position]
            for t in tables
            for source, position in (t.get("positions") or {}).items()
        ]
        _section("positions", ["table", "source", "position"], positions)
        kafka_rows = [
            [
                f"{r['topic']}[{r['partition']}]",
                r["stored_offset"],
                "-" if r["end_offset"] is None else r["end_offset"],
                "-" if r["lag"] is None else f"{r['lag']:,}",
                r["writer"] or "-",
            ]
            for r in kafka
        ]
        _section("kafka", ["partition", "stored", "end", "lag", "by"], kafka_rows)
        gates = [
            [g["table"], g["gate"], g["run_at"], ", ".join(g["failed"]) or "-"]
            for g in report["gates"]
        ]
        _section("gates", ["table", "gate", "run at", "failed"], gates)
        components = [
            [name, c["state"], c.get("last_success") or "-", c.get("restarts", 0)]
            for name, c in report["components"].items()
        ]
        _section("components", ["component", "state", "last success", "restarts"], components)
        for problem in report["problems"]:
            click.echo(f"UNHEALTHY: {problem}", err=True)
    if report["problems"]:
        sys.exit(EXIT_UNHEALTHY)


def _section(title: str, header: list[str], rows: list[list[object]]) -> None:
    """One aligned block of `status`, under its title (nothing when empty)."""
    if rows:
        click.echo(f"\n{title}:")
        click.echo(format_grid(header, rows, max_width=90))


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
@click.argument("sql", required=False)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the query from a .sql file (e.g. queries/busiest_wikis.sql).",
)
@click.option(
    "--output",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="json: an array of row objects.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Return at most N rows.")
@click.option(
    "--as-of",
    metavar="SNAPSHOT|TIME",
    help="Time travel: tables as of an ISO-8601 time or a snapshot id.",
)
@click.pass_obj
def query(
    obj: Context,
    sql: str | None,
    path: Path | None,
    output: str,
    limit: int | None,
    as_of: str | None,
) -> None:
    """Run one read-only SQL query (DuckDB's SQL) over the warehouse's tables.

    Tables are bronze.events, bronze.quarantine, silver.events, gold.hourly_stats, … (see
    `wikistream tables`; columns: `wikistream describe TABLE`). A query reaches these tables
    and nothing else: no file, URL, setting or write. queries/ holds questions people ask.

    \b
    Examples:
      wikistream query "SELECT type, count(*) AS n FROM bronze.events GROUP BY 1"
      wikistream query "SELECT count(*) FROM silver.events" --as-of 2026-11-23T08:00:00Z
      wikistream query --file queries/busiest_wikis_now.sql --output csv
    """
    if (sql is None) == (path is None):
        raise ConfigError("give the query as an argument or with --file, one of the two")
    text = sql if sql is not None else path.read_text(encoding="utf-8")  # type: ignore[union-attr]
    from wikistream.lakehouse.query import run_query  # DuckDB: when needed

    settings = obj.settings()
    emit_table(run_query(readable(settings), text, limit, as_of), output)


@cli.command()
@OUTPUT_OPTION
@click.pass_obj
def tables(obj: Context, output: str) -> None:
    """The tables a query can read: what each holds, rows, last commit."""
    from wikistream.lakehouse.inspect import list_tables

    listed = list_tables(readable(obj.settings()))
    if output == "json":
        emit_json(listed)
        return
    rows = [
        [
            t["table"],
            f"{t['rows']:,}" if t["exists"] else "(missing)",
            t["last_commit_at"] or "-",
            t["about"],
        ]
        for t in listed
    ]
    click.echo(format_grid(["table", "rows", "last commit", "about"], rows, max_width=90))


@cli.command()
@click.argument("table", metavar="TABLE")
@OUTPUT_OPTION
@click.pass_obj
def describe(obj: Context, table: str, output: str) -> None:
    """TABLE's columns (type, required, meaning), partitioning and current snapshot."""
    from wikistream.lakehouse.inspect import describe_table
    from wikistream.lakehouse.tables import TABLES

    if table not in TABLES:
        raise ConfigError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    found = describe_table(readable(obj.settings()), table)
    if output == "json":
        emit_json(found)
        return
    click.echo(f"{found['table']}: {found['about']}")
    click.echo(
        f"partitioned by {', '.join(found['partitioned_by']) or '-'}; "
        f"{found['rows']:,} rows; snapshot {found['snapshot_id'] or '-'} "
        f"({found['committed_at'] or 'no data yet'})\n"
    )
    rows = [
        [c["name"], c["type"], "yes" if c["required"] else "", c["meaning"]]
        for c in found["columns"]
    ]
    click.echo(format_grid(["column", "type", "required", "meaning"], rows, max_width=90))
