"""Silver rows a cycle just committed, handed to gold in the same cycle.

Reading them back from the table costs more than computing them did (Parquet decode of
every column gold needs, three times). The rows are used only while silver's current
snapshot is the one they were committed as; anything else reads the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from wikistream.lakehouse.reads import appended_since, rows_where
from wikistream.lakehouse.snapshots import current_id
from wikistream.lakehouse.store import Table


@dataclass(frozen=True)
class Committed:
    """The rows of one silver snapshot: those it appended after `parent`, and whether they
    are all of silver (a full rewrite, or the first rows of an empty table)."""

    snapshot_id: int
    parent: int | None
    rows: pa.Table
    whole: bool


class SilverReads:
    """Gold's reads of silver: from `committed` when it is silver's current state."""

    def __init__(self, table: Table, committed: Committed | None) -> None:
        now = current_id(table)
        self._memory = committed if committed is not None and committed.snapshot_id == now else None
        self._table = table

    def appended_since(self, done: int | None, limit: int | None) -> tuple[pa.Table, int | None]:
        """As `reads.appended_since`."""
        memory = self._memory
        if memory is not None and limit in (None, memory.snapshot_id):
            follows = done == memory.parent or (done is None and memory.whole)
            if follows:
                return memory.rows, memory.snapshot_id
        return appended_since(self._table, done, limit)

    def where(self, column: str, values: list[object] | None, columns: Sequence[str]) -> pa.Table:
        """As `reads.rows_where`."""
        memory = self._memory
        if memory is None or not memory.whole:
            return rows_where(self._table, column, values, columns)
        rows = memory.rows
        if values is not None:
            wanted = pa.array(values, rows.schema.field(column).type)
            rows = rows.filter(pc.is_in(rows.column(column), value_set=wanted))
        return rows.select(list(columns))
