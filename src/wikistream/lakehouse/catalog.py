"""Open the configured Iceberg catalog and make sure WikiStream's tables exist in it."""

from __future__ import annotations

import contextlib
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

from wikistream.exceptions import ConfigError
from wikistream.lakehouse.tables import TableDef
from wikistream.settings import Settings

log = logging.getLogger(__name__)

# Which extra to install when a catalog type's optional dependency is missing.
_EXTRA_FOR_TYPE = {"glue": "pyiceberg[glue]", "hive": "pyiceberg[hive]", "rest": "pyiceberg"}


def catalog_properties(settings: Settings) -> dict[str, str]:
    """The PyIceberg properties for the configured catalog (secrets included; never log)."""
    warehouse = Path(settings.warehouse).expanduser().resolve()
    props: dict[str, str] = {"type": settings.catalog.type}
    if settings.catalog.type == "sql":
        props["uri"] = settings.catalog.uri or f"sqlite:///{warehouse / 'catalog.db'}"
        props["warehouse"] = warehouse.as_uri()
    elif settings.catalog.uri:
        props["uri"] = settings.catalog.uri
    props.update(settings.catalog.properties)
    if settings.catalog.credential is not None:
        props.setdefault("credential", settings.catalog.credential.get_secret_value())
    return props


def describe_catalog(settings: Settings) -> str:
    """Where the catalog is, safe to print (no credentials)."""
    props = catalog_properties(settings)
    uri = props.get("uri", "")
    if "@" in uri:  # user:password@host
        scheme, _, rest = uri.partition("://")
        uri = f"{scheme}://***@{rest.split('@', 1)[1]}"
    return f"{settings.catalog.type} catalog {uri}".strip()


def open_catalog(settings: Settings) -> Catalog:
    """Load the catalog; the warehouse folder is created for the embedded default.

    Raises:
        ConfigError: the catalog cannot be loaded (unknown type, missing extra, bad URI).
    """
    props = catalog_properties(settings)
    if settings.catalog.type == "sql" and props["uri"].startswith("sqlite:///"):
        Path(props["uri"].removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return load_catalog(settings.catalog.name, **props)
    except (ImportError, NotInstalledError) as exc:
        # PyIceberg raises NotInstalledError for its own extras (hive, glue…), ImportError
        # reaches us from SQLAlchemy drivers (psycopg2 for a postgresql:// sql catalog).
        extra = _EXTRA_FOR_TYPE.get(settings.catalog.type, "wikistream[postgres]")
        missing = getattr(exc, "name", None) or str(exc).split(":", 1)[0]
        raise ConfigError(
            f"the {settings.catalog.type} catalog needs an optional dependency ({missing}); "
            f"install it with: pip install '{extra}'"
        ) from None
    except Exception as exc:  # PyIceberg raises ValueError, NotInstalledError, DB errors…
        raise ConfigError(f"cannot open {describe_catalog(settings)}: {exc}") from None


def ensure_table(catalog: Catalog, table: TableDef) -> Table:
    """Load a table, creating it (and its namespace) with its schema and partitions if new."""
    try:
        loaded = catalog.load_table(table.identifier)
    except NoSuchTableError:
        pass
    else:
        return _with_columns(_with_properties(loaded, table.properties), table)
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(table.namespace)
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
        return created
    except TableAlreadyExistsError:  # another process created it first
        return catalog.load_table(table.identifier)


def _with_columns(table: Table, definition: TableDef) -> Table:
    """Add columns a newer WikiStream defines to a table created by an older one.

    Additive only: old rows read the new columns as null; nothing is rewritten.
    """
    present = set(table.schema().column_names)
    if any(name not in present for name in definition.schema.names):
        with table.update_schema() as update:
            update.union_by_name(Catalog._convert_schema_if_needed(definition.schema))
        log.info("added new columns", extra={"table": definition.identifier})
    return table


def _with_properties(table: Table, wanted: dict[str, str]) -> Table:
    """Bring the table properties WikiStream relies on up to date (older tables)."""
    missing = {k: v for k, v in wanted.items() if table.properties.get(k) != v}
    if missing:
        with table.transaction() as tx:
            tx.set_properties(missing)
    return table
