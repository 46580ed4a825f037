"""The lakehouse boundary: the one object through which everything above `lakehouse/`
reaches the tables.

Built once per process from the settings, it opens the catalog when first needed, hands out
tables (loaded once per thread, refreshed when asked for again) and keeps WikiStream's own
documents beside them. Tables are created (and upgraded) in one place, `init()`, which
`wikistream init` and the commands that write run first; nothing else creates a table. A
read-only lakehouse (status, query, history, reports) never creates a folder, a catalog file
or a table. Only this package imports PyIceberg; `Table` is re-exported as the opaque handle
other packages pass back to it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from wikistream.exceptions import ConfigError, TableMissing
from wikistream.lakehouse.catalog import (
    catalog_properties,
    describe_catalog,
    ensure_table,
    open_catalog,
)
from wikistream.lakehouse.documents import Documents
from wikistream.lakehouse.leases import Lease
from wikistream.lakehouse.tables import BRONZE_EVENTS, OPS_LEASES, TABLES, TableDef
from wikistream.settings import Settings

__all__ = ["Lakehouse", "Table"]


class Lakehouse:
    """The catalog, the tables and the documents of one warehouse."""

    def __init__(self, settings: Settings, *, read_only: bool = False) -> None:
        """
        Args:
            settings: where the warehouse and its catalog are.
            read_only: never create anything; missing tables read as absent.
        """
        self.settings = settings
        self.read_only = read_only
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._opened = False
        self._documents: Documents | None = None
        # Table objects are not thread-safe (a commit updates them in place): one per thread.
        self._local = threading.local()

    @classmethod
    def reader(cls, settings: Settings) -> Lakehouse:
        """A lakehouse for commands that only look: nothing is ever created."""
        return cls(settings, read_only=True)

    @property
    def documents(self) -> Documents:
        """JSON documents under the warehouse (quality reports, manifests, run state)."""
        if self._documents is None:
            self._documents = Documents(self.settings)
        return self._documents

    def describe(self) -> str:
        """Where the catalog is, safe to print (no credentials)."""
        return describe_catalog(self.settings)

    def exists(self, identifier: str) -> bool:
        """Whether the table exists (never creates it)."""
        catalog = self._open()
        return catalog is not None and catalog.table_exists(identifier)

    def initialized(self) -> bool:
        """Whether this warehouse has its tables (`init` ran, or a writing command did)."""
        return self.exists(BRONZE_EVENTS.identifier)

    def find(self, identifier: str) -> Table | None:
        """The table as it is now, or None if it does not exist (never creates it)."""
        cached = self._tables().get(identifier)
        if cached is not None:
            cached.refresh()
            return cached
        if not self.exists(identifier):
            return None
        catalog = self._open()
        assert catalog is not None  # noqa: S101 - exists() opened it
        table = catalog.load_table(identifier)
        self._tables()[identifier] = table
        return table

    def table(self, definition: TableDef | str) -> Table:
        """The table as it is now (loaded once per thread, then refreshed).

        Raises:
            TableMissing: no such table: `wikistream init` creates them.
        """
        identifier = definition if isinstance(definition, str) else definition.identifier
        found = self.find(identifier)
        if found is None:
            advice = "" if self.read_only else ": create the tables with `wikistream init`"
            raise TableMissing(f"{identifier} does not exist yet{advice}")
        return found

    def lease(self, name: str, holder: str, ttl_s: float) -> Lease:
        """A lease in `ops.leases` (see `lakehouse/leases.py`)."""
        return Lease(self.table(OPS_LEASES), name, holder, ttl_s)

    def init(self) -> dict[str, str]:
        """Create every namespace and table that is missing and bring older tables' columns
        and properties up to date; idempotent, safe beside running writers. Returns what
        happened per table: created, upgraded or current.

        Raises:
            ConfigError: a read-only lakehouse was asked to.
        """
        if self.read_only:
            raise ConfigError("a read-only command cannot create tables")
        catalog = self._open()
        assert catalog is not None  # noqa: S101 - a writable lakehouse always opens one
        done: dict[str, str] = {}
        for identifier, definition in TABLES.items():
            table, done[identifier] = ensure_table(catalog, definition)
            self._tables()[identifier] = table
        return done

    def iceberg_catalog(self) -> Catalog | None:
        """The PyIceberg catalog (None: a read-only lakehouse with nothing in it yet).
        For `lakehouse/` modules only; everything else goes through this object."""
        return self._open()

    def _tables(self) -> dict[str, Table]:
        tables: dict[str, Table] | None = getattr(self._local, "tables", None)
        if tables is None:
            tables = self._local.tables = {}
        return tables

    def _open(self) -> Catalog | None:
        with self._lock:
            if not self._opened:
                if not (self.read_only and not _embedded_catalog_exists(self.settings)):
                    self._catalog = open_catalog(self.settings)
                self._opened = True
            return self._catalog


def _embedded_catalog_exists(settings: Settings) -> bool:
    """False for the default SQLite catalog before anything was written (opening it would
    create the file); True for every other catalog, which opening never changes."""
    uri = catalog_properties(settings).get("uri", "")
    if settings.catalog.type != "sql" or not uri.startswith("sqlite:///"):
        return True
    return Path(uri.removeprefix("sqlite:///")).is_file()
