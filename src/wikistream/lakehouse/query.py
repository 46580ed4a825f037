"""Users' SQL: DuckDB in a sandbox that reaches the warehouse's tables and nothing else.

Each table is registered as a lazy Arrow dataset over the data files of its snapshot (the
current one, or the one `--as-of` names), read through the table's own FileIO: DuckDB never
holds a path pattern, a URL or a credential a query could use. Then the connection is
locked down where DuckDB enforces it: no file system or network access
(`enable_external_access = false`: read_csv, COPY, ATTACH, INSTALL, glob … fail), no
extension loading, and a locked configuration (no SET can undo it). What is left for a
statement to do is read those tables; it must also be exactly one query, by its parsed
type (a SELECT, which includes DESCRIBE and SUMMARIZE), never by matching its text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from wikistream.exceptions import ConfigError, QueryError
from wikistream.lakehouse.snapshots import intermediate_snapshots, resolve
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import TABLES

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.table import Table


@dataclass(frozen=True)
class Pinned:
    """A table as a query sees it: its snapshot (None: no data yet)."""

    name: str
    table: Table
    snapshot_id: int | None


def run_query(
    lakehouse: Lakehouse, sql: str, limit: int | None = None, as_of: str | None = None
) -> pa.Table:
    """Run one read-only query; tables are named `namespace.table` (e.g. `bronze.events`).

    Args:
        limit: return at most this many rows.
        as_of: time travel: an ISO-8601 time (every table as it was then) or a snapshot id
            (the table that has it as of that snapshot, the others as of its time).

    Raises:
        QueryError: not one read-only query, or the engine refused or failed it.
    """
    pinned = _pinned(lakehouse, as_of)
    with sandbox(pinned) as connection:
        statement = one_query(connection, sql)
        try:
            relation = connection.sql(statement)
            if relation is None:
                raise QueryError("the statement returned no rows")
            if limit is not None:
                relation = relation.limit(limit)
            result: pa.Table = relation.to_arrow_table()
        except QueryError:
            raise
        except Exception as exc:  # DuckDB's errors: the user's query, said in one line
            raise QueryError(f"query failed: {_first_line(exc)}") from None
    return _as_utc(result)


def one_query(connection: duckdb.DuckDBPyConnection, sql: str) -> str:
    """`sql` if it is exactly one query (parsed, so comments and literals are no trap).

    Raises:
        QueryError: empty, not SQL, several statements, or not a query.
    """
    import duckdb

    try:
        statements = connection.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"not valid SQL: {_first_line(exc)}") from None
    if not statements:
        raise QueryError("empty query")
    if len(statements) > 1:
        raise QueryError("one statement at a time, please")
    [statement] = statements
    if statement.type != duckdb.StatementType.SELECT:
        kind = statement.type.name.replace("_STATEMENT", "")
        raise QueryError(f"only read-only queries (SELECT, WITH, DESCRIBE) are allowed, not {kind}")
    query = str(statement.query)
    refused = sorted(name for name in _names_used(connection, query) if _about_the_engine(name))
    if refused:
        raise QueryError(f"{', '.join(refused)}: only the warehouse's tables can be queried")
    return query


# Functions and table functions about the engine, not the data: its settings, secrets,
# extensions and databases (the sandbox holds nothing secret; a query has no business there).
_ENGINE_NAMES = ("current_setting", "getenv", "which_secret", "duckdb_", "pragma_")


def _about_the_engine(name: str) -> bool:
    lowered = name.lower()
    return any(lowered == n or (n.endswith("_") and lowered.startswith(n)) for n in _ENGINE_NAMES)


def _names_used(connection: duckdb.DuckDBPyConnection, query: str) -> set[str]:
    """Every function, table function and table a query names, from DuckDB's own parse tree
    (`json_serialize_sql`), wherever it sits: CTEs, subqueries, expressions."""
    [(serialized,)] = connection.execute("SELECT json_serialize_sql(?)", [query]).fetchall()
    tree = json.loads(serialized)
    names: set[str] = set()
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("class") == "FUNCTION" and node.get("function_name"):
                names.add(str(node["function_name"]))
            if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                names.add(str(node["table_name"]))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


class sandbox:  # used as a context manager, like open()
    """An in-memory DuckDB connection over `pinned` tables, locked down (module docstring)."""

    def __init__(self, pinned: list[Pinned]) -> None:
        self._pinned = pinned
        self._connection: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        config: dict[str, str | bool | int | float | list[str]] = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
        }
        connection = duckdb.connect(":memory:", config=config)
        self._connection = connection
        for namespace in sorted({p.name.split(".", 1)[0] for p in self._pinned}):
            connection.execute(f'CREATE SCHEMA "{namespace}"')
        for pin in self._pinned:
            hidden = "_" + pin.name.replace(".", "_")
            connection.register(hidden, _dataset(pin))
            namespace, name = pin.name.split(".", 1)  # our own table names, never user input
            view = f'CREATE VIEW "{namespace}"."{name}" AS SELECT * FROM "{hidden}"'  # noqa: S608
            connection.execute(view)
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        return connection

    def __exit__(self, *exc: object) -> None:
        if self._connection is not None:
            self._connection.close()


def _dataset(pin: Pinned) -> Any:
    """The table's rows at its snapshot: its data files as one lazy Arrow dataset."""
    import pyarrow.dataset as ds

    schema = pin.table.schema().as_arrow()
    if pin.snapshot_id is None:
        return ds.dataset(schema.empty_table())
    io = pin.table.io
    tasks = pin.table.scan(snapshot_id=pin.snapshot_id).plan_files()
    locations = [task.file.file_path for task in tasks]
    if not locations:
        return ds.dataset(schema.empty_table())
    filesystem, paths = _filesystem(io, locations)
    return ds.dataset(paths, schema=schema, format="parquet", filesystem=filesystem)


def _filesystem(io: Any, locations: list[str]) -> tuple[Any, list[str]]:
    """The Arrow filesystem the FileIO reads these files with, and their paths in it."""
    parse, by_scheme = io.parse_location, io.fs_by_scheme
    scheme, netloc, _ = parse(locations[0], io.properties)
    paths = [parse(location, io.properties)[2] for location in locations]
    return by_scheme(scheme, netloc), paths


def _pinned(lakehouse: Lakehouse, as_of: str | None) -> list[Pinned]:
    """Every WikiStream table that exists, at its current snapshot or as of `as_of`."""
    tables = {name: table for name in TABLES if (table := lakehouse.find(name)) is not None}
    if as_of is None:
        return [Pinned(name, table, _current(table)) for name, table in tables.items()]
    moment = as_of
    if as_of.lstrip("-").isdigit():  # a snapshot id: its own table, the others at its time
        owner = next((t for t in tables.values() if t.snapshot_by_id(int(as_of))), None)
        if owner is None:
            raise QueryError(f"no table has snapshot {as_of} (see: wikistream history TABLE)")
        snapshot = owner.snapshot_by_id(int(as_of))
        assert snapshot is not None  # noqa: S101 - just found
        moment = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat()
    pinned = []
    for name, table in tables.items():
        wanted = as_of if moment != as_of and table.snapshot_by_id(int(as_of)) else moment
        try:
            snapshot_id: int | None = resolve(table, wanted)
        except ConfigError as exc:
            if "had no snapshot yet" not in str(exc) and "is after" not in str(exc):
                raise QueryError(str(exc)) from None
            snapshot_id = None if "had no snapshot yet" in str(exc) else _current(table)
        if snapshot_id is not None:
            snapshot_id = intermediate_snapshots(table).get(snapshot_id, snapshot_id)
        pinned.append(Pinned(name, table, snapshot_id))  # no data yet then: no rows
    return pinned


def _current(table: Table) -> int | None:
    snapshot = table.current_snapshot()
    return None if snapshot is None else snapshot.snapshot_id


def _as_utc(result: pa.Table) -> pa.Table:
    """Timestamps with a zone come back in UTC, as the tables store them."""
    fields = []
    for field in result.schema:
        kind = field.type
        if pa.types.is_timestamp(kind) and kind.tz is not None and kind.tz != "UTC":
            field = field.with_type(pa.timestamp(kind.unit, tz="UTC"))
        fields.append(field)
    return result.cast(pa.schema(fields)) if fields != list(result.schema) else result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
