"""Read-only SQL over the catalog with Daft: `SELECT … FROM bronze.events`.

Only one SELECT (or WITH … SELECT) statement is accepted; anything else is refused before it
reaches the engine, so user SQL can never change a table.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyarrow as pa
from pyiceberg.table import Table

from wikistream.exceptions import ConfigError, QueryError
from wikistream.lakehouse.daft_io import io_config
from wikistream.lakehouse.snapshots import resolve
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import TABLES

_READ_ONLY = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)


def check_read_only(sql: str) -> str:
    """Return the statement without a trailing `;` if it is one read-only query.

    Raises:
        QueryError: empty, several statements, or not a SELECT/WITH query.
    """
    statement = sql.strip().rstrip(";").strip()
    if not statement:
        raise QueryError("empty query")
    if ";" in _without_literals(statement):
        raise QueryError("one statement at a time, please")
    if not _READ_ONLY.match(statement):
        verb = statement.split(None, 1)[0].upper()
        raise QueryError(f"only read-only SELECT queries are allowed, not {verb}")
    return statement


def _without_literals(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", sql)


def run_query(
    lakehouse: Lakehouse, sql: str, limit: int | None = None, as_of: str | None = None
) -> pa.Table:
    """Run one read-only query; tables are named `namespace.table` (e.g. `bronze.events`).

    Args:
        as_of: time travel: an ISO-8601 time (every table as it was then) or a snapshot id
            (the table that has it as of that snapshot, the others as of its time).

    Raises:
        QueryError: the query is not read-only, or the engine rejects or fails it.
    """
    statement = check_read_only(sql)
    import daft  # heavy: imported only when needed
    from daft.catalog import Catalog as DaftCatalog
    from daft.session import Session

    from wikistream import engine  # noqa: F401 - Daft's environment (no telemetry)

    catalog = lakehouse.iceberg_catalog()
    if catalog is None:
        raise QueryError("no tables yet: run `wikistream demo` or `wikistream run` first")
    daft.set_planning_config(default_io_config=io_config(lakehouse.settings))
    session = Session()
    session.attach(DaftCatalog.from_iceberg(catalog), alias="wikistream")
    try:
        if as_of is None:
            frame = session.sql(statement)
        else:
            frames = {name: daft.read_iceberg(table, snapshot_id=snapshot)
                      for name, (table, snapshot) in _as_of(lakehouse, as_of).items()}  # fmt: skip
            frame = daft.sql(statement, register_globals=False, **frames)
        if frame is None:
            raise QueryError("the statement returned no rows")
        if limit is not None:
            frame = frame.limit(limit)
        result: pa.Table = frame.to_arrow()
    except (Exception, BaseException) as exc:  # Daft raises Rust panics as BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise QueryError(f"query failed: {_first_line(exc)}") from None
    return result


def _as_of(lakehouse: Lakehouse, ref: str) -> dict[str, tuple[Table, int]]:
    """Every WikiStream table that existed at `ref`, with its snapshot then."""
    found = {name: lakehouse.find(name) for name in TABLES}
    tables = {name: table for name, table in found.items() if table is not None}
    moment = ref
    if ref.lstrip("-").isdigit():  # a snapshot id: its own table, the others at its time
        owner = next((t for t in tables.values() if t.snapshot_by_id(int(ref))), None)
        if owner is None:
            raise QueryError(f"no table has snapshot {ref} (see: wikistream history TABLE)")
        snapshot = owner.snapshot_by_id(int(ref))
        assert snapshot is not None  # noqa: S101 - just found
        moment = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat()
    pinned: dict[str, tuple[Table, int]] = {}
    for name, table in tables.items():
        wanted = ref if moment != ref and table.snapshot_by_id(int(ref)) else moment
        try:
            pinned[name] = (table, resolve(table, wanted))
        except ConfigError:
            continue  # the table had no data yet at that time
    return pinned


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
