"""Read-only SQL over the catalog with Daft: `SELECT … FROM bronze.events`.

Only one SELECT (or WITH … SELECT) statement is accepted; anything else is refused before it
reaches the engine, so user SQL can never change a table.
"""

from __future__ import annotations

import logging
import re

import pyarrow as pa
from pyiceberg.catalog import Catalog

from wikistream.exceptions import QueryError

_READ_ONLY = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
# Daft warns on every scan of a partitioned table without a partition filter: noise here.
logging.getLogger("daft.io.iceberg.iceberg_scan").setLevel(logging.ERROR)


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


def run_query(catalog: Catalog, sql: str, limit: int | None = None) -> pa.Table:
    """Run one read-only query; tables are named `namespace.table` (e.g. `bronze.events`).

    Raises:
        QueryError: the query is not read-only, or the engine rejects or fails it.
    """
    statement = check_read_only(sql)
    from daft.catalog import Catalog as DaftCatalog  # heavy: imported only when needed
    from daft.session import Session

    from wikistream.pipeline import engine  # noqa: F401 - Daft's environment (no telemetry)

    session = Session()
    session.attach(DaftCatalog.from_iceberg(catalog), alias="wikistream")
    try:
        frame = session.sql(statement)
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
