"""Appends that carry their source position and survive lost races and brief outages.

PyIceberg raises `CommitFailedException` when another writer committed first. We reload the
table, let the caller re-check its stored position (another writer of the same source makes
retrying wrong), and retry with exponential backoff. A catalog or object store that does not
answer (a restart, a timeout, `CommitStateUnknownException`) is retried the same way, but
the commit may have been applied before the answer was lost: every commit carries a token
in its snapshot summary, and a retry first looks for it, so nothing is committed twice.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, In
from pyiceberg.expressions.visitors import _StrictMetricsEvaluator, bind
from pyiceberg.io.pyarrow import (
    ArrowScan,
    _dataframe_to_data_files,
    _expression_to_complementary_pyarrow,
)
from pyiceberg.manifest import DataFile as DataFile  # the files a Ray task wrote
from pyiceberg.table import Table, TableProperties
from pyiceberg.utils.properties import property_as_bool

from wikistream.exceptions import CommitConflict
from wikistream.lakehouse.errors import is_transient
from wikistream.lakehouse.positions import COMMIT_KEY, lineage, summary_value
from wikistream.lakehouse.reads import as_literals

log = logging.getLogger(__name__)


def append(
    table: Table,
    data: pa.Table,
    properties: Mapping[str, str],
    *,
    retries: int = 8,
    guard: Callable[[Table], None] | None = None,
    fresh: bool = False,
) -> int:
    """Append `data` in one snapshot whose summary holds `properties`; return its id.

    The Parquet files are written once; a retry after a lost race commits the same files
    again on the new table state (several writers on one table lose races often, and
    encoding the batch again each time would cost more than the commit).

    Args:
        table: the table to append to; refreshed in place after a lost race.
        data: rows matching the table's schema (may be empty: the snapshot still records
            the properties, e.g. a position that moved past filtered-out events).
        properties: extra snapshot summary properties.
        retries: how many times to retry after `CommitFailedException`.
        guard: called with the freshly loaded table before every retry; raises to abort.
        fresh: reload the table (and run `guard`) before the first attempt too, so a
            writer that shares the table with others rarely loses the race at all.

    Raises:
        CommitConflict: the commit still failed after `retries` retries.
    """
    token, stamped = _stamped(properties)
    files = data_files(table, data)

    def commit_files() -> None:
        with table.transaction() as transaction:
            update = transaction.update_snapshot(snapshot_properties=stamped)
            with _appender(table, update) as producer:
                for data_file in files:
                    producer.append_data_file(data_file)

    return _commit(table, commit_files, token, retries=retries, guard=guard, fresh=fresh)


def _appender(table: Table, update: Any) -> Any:
    """The append producer the table asks for (manifests merged or not)."""
    merge = property_as_bool(
        table.metadata.properties,
        TableProperties.MANIFEST_MERGE_ENABLED,
        TableProperties.MANIFEST_MERGE_ENABLED_DEFAULT,
    )
    return update.merge_append() if merge else update.fast_append()


def data_files(table: Table, data: pa.Table) -> list[DataFile]:
    """Write `data` as the table's Parquet files (not yet part of any snapshot). This is the
    write stage of `Table.append`, kept apart as PyIceberg advises for commits that retry."""
    if data.num_rows == 0:
        return []
    return list(_dataframe_to_data_files(table.metadata, data, table.io, uuid.uuid4()))


def replace(
    table: Table,
    data: pa.Table,
    column: str,
    values: list[object] | None,
    properties: Mapping[str, str],
    *,
    retries: int = 8,
    guard: Callable[[Table], None] | None = None,
    fresh: bool = False,
) -> int:
    """Replace the rows whose `column` is in `values` (all rows if None) by `data`, atomically.

    Delete and append commit together, so readers see the old windows or the new ones,
    never a mix; recomputing the same windows again yields the same table. Arguments and
    errors as for `append`.
    """
    condition: BooleanExpression = AlwaysTrue()
    if values is not None:
        condition = In(column, as_literals(list(values)))  # type: ignore[call-arg]
    return _overwrite(table, data, condition, properties, retries=retries, guard=guard, fresh=fresh)


def replace_where(
    table: Table,
    data: pa.Table,
    condition: BooleanExpression,
    properties: Mapping[str, str],
    *,
    files: Sequence[DataFile] | None = None,
    retries: int = 8,
    guard: Callable[[Table], None] | None = None,
    fresh: bool = False,
) -> int:
    """Like `replace`, for the rows matching an Iceberg `condition` (a rebuild's chunk).
    `files`: `data` already written as the table's data files (by a Ray task)."""
    return _overwrite(
        table, data, condition, properties, retries=retries, guard=guard, fresh=fresh, files=files
    )


def _overwrite(
    table: Table,
    data: pa.Table,
    condition: BooleanExpression,
    properties: Mapping[str, str],
    *,
    retries: int,
    guard: Callable[[Table], None] | None,
    fresh: bool = False,
    files: Sequence[DataFile] | None = None,
) -> int:
    token, stamped = _stamped(properties)
    if files is None:  # written once: a retry after a lost race commits the same files
        files = data_files(table, data)

    def overwrite() -> None:
        replace_in_one_snapshot(table, files, condition, stamped)

    return _commit(table, overwrite, token, retries=retries, guard=guard, fresh=fresh)


def replace_in_one_snapshot(
    table: Table,
    files: Sequence[DataFile],
    condition: BooleanExpression,
    properties: Mapping[str, str],
) -> None:
    """Delete the rows matching `condition` and add `files` in ONE snapshot: no reader, and
    no rollback target, ever sees the rows gone and the new ones not there yet.

    A file whose statistics prove every row matches is dropped unread; a file that may hold
    other rows too is read and rewritten without the matching ones; `files` (the new rows,
    written by `data_files`) are added. (`Table.overwrite` commits a delete and an append:
    two snapshots.)
    """
    metadata, io = table.metadata, table.io
    schema = metadata.schema()
    preserve = _expression_to_complementary_pyarrow(bind(schema, condition, True), schema)
    whole = _StrictMetricsEvaluator(schema, condition)
    commit_uuid, counter = uuid.uuid4(), itertools.count(0)
    removed: list[DataFile] = []
    added: list[DataFile] = []
    for task in table.scan(row_filter=condition).plan_files() if table.current_snapshot() else []:
        if whole.eval(task.file):
            removed.append(task.file)
            continue
        rows = ArrowScan(metadata, io, schema, AlwaysTrue()).to_table(tasks=[task])
        kept = rows.filter(preserve)
        if kept.num_rows == rows.num_rows:
            continue  # none of its rows match
        removed.append(task.file)
        if kept.num_rows:
            added += _dataframe_to_data_files(metadata, kept, io, commit_uuid, counter)
    added += files
    with table.transaction() as transaction:
        update = transaction.update_snapshot(snapshot_properties=dict(properties))
        producer = update.overwrite(commit_uuid) if removed else _appender(table, update)
        with producer:
            for data_file in removed:
                producer.delete_data_file(data_file)
            for data_file in added:
                producer.append_data_file(data_file)


def delete(table: Table, column: str, values: Sequence[object], *, retries: int = 8) -> None:
    """Delete the rows whose `column` is in `values` (one snapshot; nothing if no match)."""
    if not values:
        return
    condition = In(column, as_literals(list(values)))  # type: ignore[call-arg]
    token, stamped = _stamped({})

    def remove() -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Delete operation did not match any records")
            table.delete(condition, snapshot_properties=stamped)

    _commit(table, remove, token, retries=retries, guard=None)


def _stamped(properties: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    token = uuid.uuid4().hex
    return token, {**properties, COMMIT_KEY: token}


def _commit(
    table: Table,
    attempt_commit: Callable[[], None],
    token: str,
    *,
    retries: int,
    guard: Callable[[Table], None] | None,
    fresh: bool = False,
) -> int:
    """Run one commit, retrying lost races and outages with backoff; return the snapshot id.

    Before a retry the table is reloaded; if a snapshot with our token is there, the commit
    went through and is not made again; otherwise `guard` re-checks what another writer did.
    `fresh`: the same reload and check before the first attempt.
    """
    name = ".".join(table.name())
    first_base: int | None = None  # our commit, if it landed, is newer than this snapshot
    for attempt in range(retries + 1):
        try:
            if attempt or fresh:
                table.refresh()
            landed = _with_token(table, token, first_base) if attempt else None
        except Exception as exc:
            if not is_transient(exc) or attempt == retries:
                raise
            error = f"{type(exc).__name__}: {exc}"
            _back_off(name, attempt, "catalog or storage did not answer; retrying", error=error)
            continue
        if landed is not None:
            extra = {"table": name, "attempt": attempt}
            log.info("commit had gone through before the error", extra=extra)
            return landed
        if guard is not None and (attempt or fresh):
            guard(table)  # its errors are the caller's: never retried here
        if attempt == 0:
            base = table.current_snapshot()
            first_base = None if base is None else base.snapshot_id
        try:
            attempt_commit()
        except CommitFailedException as exc:
            if attempt == retries:
                raise CommitConflict(f"commit to {name} kept failing: {exc}") from exc
            _back_off(name, attempt, "commit lost a race, retrying")
            continue
        except Exception as exc:
            if not is_transient(exc) or attempt == retries:
                raise
            _back_off(
                name,
                attempt,
                "catalog or storage did not answer; retrying",
                error=f"{type(exc).__name__}: {exc}",
            )
            continue
        snapshot = table.current_snapshot()
        assert snapshot is not None  # noqa: S101 - we just committed one
        return snapshot.snapshot_id
    raise AssertionError("unreachable")  # pragma: no cover


def _with_token(table: Table, token: str, base: int | None) -> int | None:
    """The id of the snapshot that carries `token`, among those newer than `base` (the
    state the first attempt was placed on; the whole lineage if that is gone)."""
    for snapshot in lineage(table):
        if snapshot.snapshot_id == base:
            return None
        if summary_value(snapshot, COMMIT_KEY) == token:
            return snapshot.snapshot_id
    return None


def _back_off(table: str, attempt: int, message: str, **extra: str) -> None:
    delay = min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)  # noqa: S311
    log.warning(
        message, extra={"table": table, "attempt": attempt + 1, "wait_s": round(delay, 3), **extra}
    )
    time.sleep(delay)


def unwritable_rows(table: Table, data: pa.Table) -> list[int] | None:
    """The rows of `data` whose values make an append to `table` fail, found by bisection
    with trial appends that are never committed (their files become orphans that
    maintenance removes). None when the whole batch writes fine: the failure was not
    about the data."""
    if _writes(table, data):
        return None
    bad: list[int] = []
    pending = [(0, data.num_rows)]
    while pending:
        start, stop = pending.pop()
        if stop - start == 1:
            bad.append(start)
            continue
        middle = (start + stop) // 2
        for low, high in ((start, middle), (middle, stop)):
            if not _writes(table, data.slice(low, high - low)):
                pending.append((low, high))
    return sorted(bad)


def _writes(table: Table, data: pa.Table) -> bool:
    """Whether appending `data` gets as far as the catalog commit (which is not made)."""
    try:
        data_files(table, data)
    except Exception:  # the error itself is the caller's; here only yes or no matters
        return False
    return True
