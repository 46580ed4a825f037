"""Copy tables, their source positions and WikiStream's documents into another lakehouse.

Rows are streamed in batches (bounded memory), each batch one snapshot; then every source
position the table stored is committed again in an empty snapshot of the target, so every
writer resumes where it stopped. Documents (run manifests, quality reports) are copied file
by file through each side's FileIO.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
from pyiceberg.table import Table

from wikistream.lakehouse import commits
from wikistream.lakehouse.positions import (
    MAX_EVENT_TS_KEY,
    SOURCE_KEY,
    Positions,
    lineage,
    position_properties,
    stored_positions,
    summary_value,
)
from wikistream.lakehouse.snapshots import row_count
from wikistream.lakehouse.storage import Storage
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import TABLES

BATCH_ROWS = 250_000


def copy_rows(
    source: Lakehouse,
    target: Lakehouse,
    identifier: str,
    rewrite: Callable[[pa.Table], pa.Table] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Append every row of `identifier` from `source` to `target`; return how many."""
    table = source.table(identifier)
    destination = target.table(identifier)
    schema = TABLES[identifier].schema  # the columns by name: field ids differ between tables
    copied = 0
    for batch in _batches(table):
        batch = batch.select(schema.names).cast(schema)
        if rewrite is not None:
            batch = rewrite(batch)
        commits.append(destination, batch, {"wikistream.copied-from": source.describe()})
        copied += batch.num_rows
        if on_batch is not None:
            on_batch(copied)
    return copied


def _batches(table: Table) -> Iterator[pa.Table]:
    reader = table.scan().to_arrow_batch_reader()
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= BATCH_ROWS:
            yield pa.Table.from_batches(pending)
            pending, rows = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def copy_positions(source: Lakehouse, target: Lakehouse, identifier: str) -> dict[str, Positions]:
    """Store every source position of `identifier` (every partition's) in the target too,
    with the newest event time each source had seen, for freshness."""
    table = source.table(identifier)
    destination = target.table(identifier)
    empty = destination.schema().as_arrow().empty_table()
    positions = stored_positions(table)
    for name, mine in positions.items():
        properties = {SOURCE_KEY: name, **position_properties(mine)}
        newest = _newest_event_time(table, name)
        if newest is not None:
            properties[MAX_EVENT_TS_KEY] = newest
        commits.append(destination, empty, properties)
    return positions


def _newest_event_time(table: Table, source: str) -> str | None:
    for snapshot in lineage(table):
        if summary_value(snapshot, SOURCE_KEY) == source:
            stamp = summary_value(snapshot, MAX_EVENT_TS_KEY)
            if stamp:
                return stamp
    return None


def rows_of(lakehouse: Lakehouse, identifier: str) -> int:
    table = lakehouse.find(identifier)
    return 0 if table is None else row_count(table)


def copy_documents(source: Lakehouse, target: Lakehouse, prefixes: tuple[str, ...]) -> int:
    """Copy the documents under `prefixes` (e.g. runs/, dq/) of one warehouse to another."""
    reading = Storage.of_warehouse(source.settings)
    writing = Storage.of_warehouse(target.settings)
    copied = 0
    for prefix in prefixes:
        for stored in reading.files(reading.location(prefix)):
            relative = stored.location.removeprefix(reading.base).lstrip("/")
            data = reading.read(stored.location)
            if data is not None:
                writing.write(writing.location(relative), data)
                copied += 1
    return copied
