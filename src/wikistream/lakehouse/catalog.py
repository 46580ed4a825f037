"""Open the configured Iceberg catalog and make sure WikiStream's tables exist in it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    NotInstalledError,
    TableAlreadyExistsError,
)
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import assign_fresh_schema_ids
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform

from wikistream.exceptions import CatalogUnavailable, ConfigError
from wikistream.lakehouse.errors import is_transient
from wikistream.lakehouse.tables import TableDef
from wikistream.settings import Settings

log = logging.getLogger(__name__)

# Which extra to install when a catalog type's optional dependency is missing.
_EXTRA_FOR_TYPE = {"glue": "pyiceberg[glue]", "hive": "pyiceberg[hive]", "rest": "pyiceberg"}


def catalog_properties(settings: Settings) -> dict[str, str]:
    """The PyIceberg properties for the configured catalog (secrets included; never log).

    Raises:
        ConfigError: the embedded SQLite catalog was asked for on object storage.
    """
    props: dict[str, str] = {"type": settings.catalog.type}
    if settings.catalog.type == "sql":
        if settings.catalog.uri:
            props["uri"] = settings.catalog.uri
        elif settings.warehouse_path is None:
            raise ConfigError(
                f"the warehouse {settings.warehouse} is on object storage, but the embedded "
                "SQLite catalog is a local file: set catalog.uri (e.g. postgresql+psycopg2://"
                "…, pip install 'wikistream[postgres]') or another catalog.type (rest, glue)"
            )
        else:
            props["uri"] = f"sqlite:///{settings.warehouse_path / 'catalog.db'}"
    elif settings.catalog.uri:
        props["uri"] = settings.catalog.uri
    if settings.catalog.type != "rest":
        # sql, glue, hive…: tables under the warehouse unless the catalog says otherwise. A
        # REST catalog's `warehouse` names one of the server's warehouses (an S3 Tables
        # bucket), so it is never derived.
        props["warehouse"] = settings.warehouse_uri
    # One FileIO everywhere (tables, documents, orphan listing): PyArrow's, unless chosen.
    props["py-io-impl"] = "pyiceberg.io.pyarrow.PyArrowFileIO"
    props.update(settings.catalog.properties)
    props.update(settings.catalog.secret_values())
    return props


def describe_catalog(settings: Settings) -> str:
    """Where the catalog is, safe to print (no credentials)."""
    try:
        uri = catalog_properties(settings).get("uri", "")
    except ConfigError:
        uri = settings.catalog.uri or ""
    if "@" in uri:  # user:password@host
        scheme, _, rest = uri.partition("://")
        uri = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return f"{settings.catalog.type} catalog {uri}".strip()


def open_catalog(settings: Settings) -> Catalog:
    """Load the catalog; the warehouse folder is created for the embedded default.

    Raises:
        ConfigError: the catalog cannot be loaded (unknown type, missing extra, bad URI).
    """
    props = catalog_properties(settings)
    if settings.catalog.type == "sql" and props.get("uri", "").startswith("sqlite:///"):
        Path(props["uri"].removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return _load(settings.catalog.name, props)
    except (ImportError, NotInstalledError) as exc:
        # PyIceberg raises NotInstalledError for its own extras (hive, glue…), ImportError
        # reaches us from SQLAlchemy drivers (psycopg2 for a postgresql:// sql catalog).
        extra = _EXTRA_FOR_TYPE.get(settings.catalog.type, "wikistream[postgres]")
        missing = getattr(exc, "name", None) or str(exc).split(":", 1)[0]
        raise ConfigError(
            f"the {settings.catalog.type} catalog needs an optional dependency ({missing}); "
            f"install it with: pip install '{extra}'"
        ) from None
    except Exception as exc:  # PyIceberg raises ValueError, connection errors, DB errors…
        if is_transient(exc):  # a catalog that does not answer now may answer later
            raise CatalogUnavailable(
                f"cannot reach {describe_catalog(settings)}: {type(exc).__name__}: {exc}"
            ) from None
        raise ConfigError(f"cannot open {describe_catalog(settings)}: {exc}") from None


def _load(name: str, props: dict[str, str]) -> Catalog:
    """`load_catalog`, once more if another process created the sql catalog's own tables
    at the same moment (several workers started together on a fresh warehouse)."""
    try:
        return load_catalog(name, **props)
    except Exception as exc:
        if "already exists" not in str(exc):
            raise
        return load_catalog(name, **props)


CREATED, UPGRADED, CURRENT = "created", "upgraded", "current"


def ensure_table(catalog: Catalog, table: TableDef) -> tuple[Table, str]:
    """Load a table, creating it (and its namespace) with its schema and partitions if new,
    or bringing its columns and properties up to date; also say which of the three."""
    try:
        loaded = catalog.load_table(table.identifier)
    except NoSuchTableError:
        pass
    else:
        changed = _with_properties(loaded, table.properties) | _with_columns(loaded, table)
        return loaded, UPGRADED if changed else CURRENT
    _ensure_namespace(catalog, table.namespace)
    schema = assign_fresh_schema_ids(Catalog._convert_schema_if_needed(table.schema))
    spec = PartitionSpec(
        *(
            PartitionField(
                source_id=schema.find_field(column).field_id,
                field_id=1000 + i,
                transform=IdentityTransform(),
                name=column,
            )
            for i, column in enumerate(table.partition_by)
        )
    )
    properties: dict[str, Any] = {**table.properties, "comment": table.doc}
    try:
        created = catalog.create_table(
            table.identifier, schema, partition_spec=spec, properties=properties
        )
        log.info("created table", extra={"table": table.identifier})
        return created, CREATED
    except TableAlreadyExistsError:  # another process created it first
        return catalog.load_table(table.identifier), CURRENT
    except Exception:  # the sql catalog may report that race as a constraint violation
        if not catalog.table_exists(table.identifier):
            raise
        return catalog.load_table(table.identifier), CURRENT


def _ensure_namespace(catalog: Catalog, namespace: str) -> None:
    """Create `namespace` unless it exists, also when another process creates it at the
    same moment (the sql catalog then raises a constraint violation, not AlreadyExists)."""
    try:
        catalog.create_namespace(namespace)
    except NamespaceAlreadyExistsError:
        return
    except Exception:
        if not catalog.namespace_exists(namespace):
            raise


def _with_columns(table: Table, definition: TableDef) -> bool:
    """Add columns a newer WikiStream defines to a table created by an older one.

    Additive only: old rows read the new columns as null; nothing is rewritten.
    """
    present = set(table.schema().column_names)
    if all(name in present for name in definition.schema.names):
        return False
    with table.update_schema() as update:
        update.union_by_name(Catalog._convert_schema_if_needed(definition.schema))
    log.info("added new columns", extra={"table": definition.identifier})
    return True


def _with_properties(table: Table, wanted: dict[str, str]) -> bool:
    """Bring the table properties WikiStream relies on up to date (older tables)."""
    missing = {k: v for k, v in wanted.items() if table.properties.get(k) != v}
    if missing:
        with table.transaction() as tx:
            tx.set_properties(missing)
    return bool(missing)
