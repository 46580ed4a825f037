"""`wikistream init`, `history`, `rollback`, `maintain`, `migrate`: an operator's table commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from wikistream.cli.app import Context, cli, readable, writable
from wikistream.cli.output import OUTPUT_OPTION, emit_json, format_grid
from wikistream.exceptions import ConfigError
from wikistream.lakehouse.snapshots import history as table_history
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import TABLES
from wikistream.settings import environment_overrides, load_settings

_TABLE = click.argument("table", metavar="TABLE")


def _known(table: str) -> str:
    if table not in TABLES:
        raise ConfigError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    return table


@cli.command()
@OUTPUT_OPTION
@click.pass_obj
def init(obj: Context, output: str) -> None:
    """Create the namespaces and tables (or bring older ones up to date); idempotent.

    The commands that write do this first by themselves; run it on its own to set up a
    shared catalog once (e.g. with a role allowed to create tables), so that workers only
    need to read and write data.
    """
    settings = obj.settings()
    lakehouse = Lakehouse(settings)
    done = lakehouse.init()
    if output == "json":
        emit_json(
            {"catalog": lakehouse.describe(), "warehouse": settings.warehouse_shown, "tables": done}
        )
        return
    click.echo(f"catalog: {lakehouse.describe()}")
    click.echo(format_grid(["table", "state"], [[t, state] for t, state in done.items()]))


@cli.command()
@_TABLE
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@OUTPUT_OPTION
@click.pass_obj
def history(obj: Context, table: str, limit: int, output: str) -> None:
    """Snapshots of TABLE, newest first: id, time, operation, rows, stored positions."""
    found = readable(obj.settings()).find(_known(table))
    if found is None:
        raise ConfigError(f"{table} does not exist yet")
    rows = table_history(found)[:limit]
    if output == "json":
        emit_json(rows)
        return
    header = ["snapshot", "committed at", "operation", "rows", "added", "position", "state"]
    grid = [
        [
            r["snapshot_id"],
            r["committed_at"],
            r["operation"],
            r["summary"].get("total-records", ""),
            r["summary"].get("added-records", ""),
            _position(r["summary"]),
            _state(r),
        ]
        for r in rows
    ]
    click.echo(format_grid(header, grid))


def _state(row: dict[str, Any]) -> str:
    if row["current"]:
        return "current"
    if not row["current_lineage"]:
        return "rolled back"
    return "half of a replacement" if row["intermediate"] else ""


def _position(summary: dict[str, str]) -> str:
    source = summary.get("wikistream.source")
    return f"{source} @ {summary.get('wikistream.position')}" if source else ""


@cli.command()
@_TABLE
@click.option(
    "--to",
    "ref",
    required=True,
    metavar="SNAPSHOT|TIME",
    help="A snapshot id (see `wikistream history`) or an ISO-8601 time.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@OUTPUT_OPTION
@click.pass_obj
def rollback(obj: Context, table: str, ref: str, yes: bool, output: str) -> None:
    """Restore TABLE to an earlier snapshot; the layers above are rebuilt to match.

    \b
    bronze.events  -> its source position goes back too; silver and gold are rebuilt
    silver.events  -> silver resumes from its bronze position then; gold is rebuilt
    gold.*         -> resumes from its silver position then; the next cycles catch up
    Stop `wikistream run` first: a rollback under a running writer is refused by its guard.
    """
    from wikistream.ops.rollback import rollback_table  # Daft: imported only when needed

    settings = obj.settings()
    if not yes:
        click.confirm(
            f"Roll {_known(table)} back to {ref} and rebuild the layers above?", abort=True
        )
    report = rollback_table(writable(settings), _known(table), ref)
    if output == "json":
        emit_json(report.as_dict())
        return
    click.echo(
        f"{table}: snapshot {report.from_snapshot} -> {report.to_snapshot}, rows "
        f"{report.rows_before:,} -> {report.rows_after:,}"
    )
    for name, rows in report.rebuilt.items():
        click.echo(f"  rebuilt {name:<20} {rows:>9,} rows")


@cli.command()
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="TABLE",
    help="Only this table (repeatable); default: every table.",
)
@click.option("--target-file-mb", type=click.IntRange(min=1), help="Compacted file size.")
@click.option(
    "--retention-hours",
    type=click.FloatRange(min=0, min_open=True),
    help="Expire snapshots older than this.",
)
@click.option(
    "--orphan-age-hours",
    type=click.FloatRange(min=0),
    help="Delete unreferenced files older than this.",
)
@OUTPUT_OPTION
@click.pass_obj
def maintain(
    obj: Context,
    tables: tuple[str, ...],
    target_file_mb: int | None,
    retention_hours: float | None,
    orphan_age_hours: float | None,
    output: str,
) -> None:
    """Compact small files, expire old snapshots, delete orphan files; report what changed.

    Safe while `wikistream run` is running: compaction commits against the snapshot it read
    (a concurrent commit makes it retry), and no snapshot a layer still reads from expires.
    Defaults come from [maintenance] (docs/operations.md); `run` also does this every
    maintenance.interval_s.
    """
    from wikistream.ops.maintain import maintain as maintain_tables

    given = {
        "target_file_mb": target_file_mb,
        "snapshot_retention_h": retention_hours,
        "orphan_age_h": orphan_age_hours,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    settings = obj.settings(maintenance=overrides) if overrides else obj.settings()
    for table in tables:
        _known(table)
    progress = None if output == "json" else (lambda t: click.echo(f"maintaining {t} …", err=True))
    reports = maintain_tables(
        writable(settings), settings.maintenance, tables or None, on_table=progress
    )
    if output == "json":
        emit_json([r.as_dict() for r in reports])
        return
    header = [
        "table",
        "files before",
        "files after",
        "rows rewritten",
        "snapshots expired",
        "kept",
        "orphans removed",
        "s",
    ]
    rows = [
        [
            r.table,
            r.compaction.files_before or "-",
            r.compaction.files_after or "-",
            f"{r.compaction.rows:,}",
            r.expiry.expired,
            r.expiry.kept,
            f"{len(r.orphans.removed)} ({r.orphans.bytes_removed:,} B)",
            r.seconds,
        ]
        for r in reports
    ]
    click.echo(format_grid(header, rows))


@cli.command()
@click.option(
    "--to",
    "target_config",
    required=True,
    type=click.Path(path_type=Path),
    metavar="CONFIG",
    help="Settings (TOML) of the warehouse to move into.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@OUTPUT_OPTION
@click.pass_obj
def migrate(obj: Context, target_config: Path, yes: bool, output: str) -> None:
    """Move this warehouse to another catalog and storage (e.g. a local folder to S3).

    Copies bronze with every source position, the quality audit, backfill runs and their
    documents; rebuilds silver and gold in the target; checks every row and position. The
    source is only read. Stop `wikistream run` first, then point it at the new config.
    """
    from wikistream.ops.migrate import migrate as move

    shadowed = environment_overrides(target_config)
    if shadowed:
        names = ", ".join(f"{variable} (over {setting})" for variable, setting in shadowed)
        raise ConfigError(
            f"the environment overrides the target's settings in {target_config}:"
            f" {names}; unset it: the target must be what its file says"
        )
    source_settings = obj.settings()
    source = Lakehouse.reader(source_settings)
    target_settings = load_settings(target_config)
    if (
        target_settings.warehouse_uri == source_settings.warehouse_uri
        and source.describe() == Lakehouse.reader(target_settings).describe()
    ):
        raise ConfigError(
            f"{target_config} names this same warehouse "
            f"({source_settings.warehouse_shown}); nothing to move"
        )
    target = Lakehouse(target_settings)
    if not yes:
        click.confirm(
            f"Copy {source.describe()} into {target.describe()} "
            f"({target_settings.warehouse_shown})?",
            abort=True,
        )
    steps = None if output == "json" else (lambda text: click.echo(f"{text} …", err=True))
    report = move(source, target, steps)
    if output == "json":
        emit_json(report.as_dict())
        return
    for table, rows in report.copied.items():
        positions = len(report.positions.get(table, {}))
        click.echo(f"  copied  {table:<20} {rows:>11,} rows, {positions} source positions")
    for table, rows in report.rebuilt.items():
        click.echo(f"  rebuilt {table:<20} {rows:>11,} rows")
    click.echo(
        f"  {report.documents} documents copied; verified: "
        f"{'every row and position' if report.verified else 'NO (see above)'}"
    )
