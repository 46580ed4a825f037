"""Row filters for reads and rewrites, as Iceberg expressions: partition values and file
statistics prune what they touch. Values are bound as literals, never spliced into text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pyiceberg.expressions import (
    AlwaysFalse,
    AlwaysTrue,
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    In,
    LessThan,
    Or,
)

from wikistream.lakehouse.reads import as_literals

Filter = BooleanExpression  # what the writers pass around, opaque outside this package


def nothing() -> Filter:
    return AlwaysFalse()


def everything() -> Filter:
    return AlwaysTrue()


def is_everything(condition: Filter | None) -> bool:
    return isinstance(condition, AlwaysTrue)


def values_in(column: str, values: Sequence[Any]) -> Filter:
    """Rows whose `column` is one of `values` (none: no row)."""
    if not values:
        return AlwaysFalse()
    return _made(In, column, as_literals(list(values)))


def days_and_hours(
    days: Sequence[date],
    start: datetime | None = None,
    end: datetime | None = None,
    time_column: str = "event_ts",
) -> Filter:
    """Rows of these `event_date`s and, given `start` and `end`, of `time_column` in
    [start, end)."""
    found = values_in("event_date", days)
    if start is None or end is None:
        return found
    return And(
        found,
        _made(GreaterThanOrEqual, time_column, start.isoformat()),
        _made(LessThan, time_column, end.isoformat()),
    )


def either(first: Filter, second: Filter) -> Filter:
    return Or(first, second)


def _made(kind: Any, column: str, value: object) -> Filter:
    # PyIceberg documents `In("col", values)`; its pydantic-generated signature hides that.
    predicate: Filter = kind(column, value)
    return predicate
