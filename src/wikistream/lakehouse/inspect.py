"""What is in the lakehouse: per-table rows, snapshots, positions and freshness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wikistream.lakehouse.columns import meaning
from wikistream.lakehouse.maintenance import small_files
from wikistream.lakehouse.positions import (
    newest_event_ts,
    shown,
    snapshot_time,
    stored_positions,
    summary_value,
)
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import TABLES

SMALL_FILE_BYTES = 16 * 1024 * 1024  # below this a file is worth compacting


def table_status(
    lakehouse: Lakehouse, identifier: str, now: datetime | None = None
) -> dict[str, Any]:
    """Rows, snapshots, data files, last commit, stored positions and freshness of a table."""
    now = now or datetime.now(UTC)
    table = lakehouse.find(identifier)
    if table is None:
        return {
            "table": identifier,
            "exists": False,
            "rows": 0,
            "data_files": 0,
            "small_files": 0,
            "positions": {},
        }
    current = table.current_snapshot()
    status: dict[str, Any] = {
        "table": identifier,
        "exists": True,
        "rows": 0,
        "data_files": 0,
        "small_files": 0,
        "snapshots": len(table.metadata.snapshots),
        "last_commit_at": None,
        "seconds_since_commit": None,
        "newest_event_ts": None,
        "freshness_lag_s": None,
        "positions": {name: shown(p) for name, p in stored_positions(table).items()},
    }
    if current is None:
        return status
    status["rows"] = int(summary_value(current, "total-records") or 0)
    status["data_files"], status["small_files"] = small_files(table, SMALL_FILE_BYTES)
    committed = snapshot_time(current)
    status["last_commit_at"] = committed.isoformat()
    status["seconds_since_commit"] = round((now - committed).total_seconds(), 1)
    newest = newest_event_ts(table)
    if newest is not None:
        status["newest_event_ts"] = newest
        lag = now - datetime.fromisoformat(newest)
        status["freshness_lag_s"] = round(lag.total_seconds(), 1)
    return status


def lakehouse_status(lakehouse: Lakehouse) -> list[dict[str, Any]]:
    """The status of every table WikiStream defines."""
    now = datetime.now(UTC)
    return [table_status(lakehouse, identifier, now) for identifier in TABLES]


def describe_table(lakehouse: Lakehouse, identifier: str) -> dict[str, Any]:
    """A table for people: what it holds, its columns with their meaning, partitioning and
    current snapshot.

    Raises:
        TableMissing: no such table in this warehouse (yet).
    """
    definition = TABLES[identifier]
    table = lakehouse.table(identifier)
    current = table.current_snapshot()
    required = {f.name for f in definition.schema if not f.nullable}
    columns = [
        {
            "name": field.name,
            "type": str(field.field_type),
            "required": field.name in required,
            "meaning": meaning(identifier, field.name),
        }
        for field in table.schema().fields
    ]
    return {
        "table": identifier,
        "about": definition.doc,
        "partitioned_by": list(definition.partition_by),
        "rows": int(summary_value(current, "total-records") or 0) if current else 0,
        "snapshot_id": current.snapshot_id if current else None,
        "committed_at": snapshot_time(current).isoformat() if current else None,
        "columns": columns,
    }


def list_tables(lakehouse: Lakehouse) -> list[dict[str, Any]]:
    """Every table WikiStream defines: what it holds, rows, last commit (no data files read)."""
    rows = []
    for identifier, definition in TABLES.items():
        table = lakehouse.find(identifier)
        current = None if table is None else table.current_snapshot()
        rows.append(
            {
                "table": identifier,
                "about": definition.doc,
                "rows": int(summary_value(current, "total-records") or 0) if current else 0,
                "last_commit_at": snapshot_time(current).isoformat() if current else None,
                "exists": table is not None,
            }
        )
    return rows
