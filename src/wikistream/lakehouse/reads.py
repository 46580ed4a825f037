"""Small, targeted reads the writers need (not user queries: see `query.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import And, BooleanExpression, EqualTo, GreaterThanOrEqual
from pyiceberg.table import Table


def recent_values(
    table: Table, column: str, since: datetime, source: str | None = None, limit: int | None = None
) -> list[str]:
    """Values of `column` in rows ingested at or after `since`, newest last.

    File statistics on `ingested_at` prune old data files, so this reads little.
    """
    if table.current_snapshot() is None:
        return []
    condition = _predicate(GreaterThanOrEqual, "ingested_at", since.isoformat())
    if source is not None:
        condition = And(condition, _predicate(EqualTo, "source", source))
    rows: pa.Table = table.scan(
        row_filter=condition, selected_fields=(column, "ingested_at")
    ).to_arrow()
    rows = rows.sort_by("ingested_at")
    values: list[str] = rows.column(column).to_pylist()
    return values[-limit:] if limit else values


def _predicate(kind: Any, column: str, value: object) -> BooleanExpression:
    # PyIceberg documents `EqualTo("col", value)`; its pydantic-generated signature hides that.
    predicate: BooleanExpression = kind(column, value)
    return predicate
