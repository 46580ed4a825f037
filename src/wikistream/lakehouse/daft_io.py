"""Daft's object-store configuration, derived from the catalog's properties.

Daft reads each Iceberg table with the properties of the table's own FileIO (which may hold
credentials the catalog vended for that table); this is the default for everything else,
so a scan never falls back to unconfigured anonymous access. Without keys the standard AWS
chain (environment, profile, instance role) applies, as it does for PyIceberg.
"""

from __future__ import annotations

from typing import Any

from wikistream.lakehouse.catalog import catalog_properties
from wikistream.settings import Settings


def io_config(settings: Settings) -> Any:
    """A `daft.io.IOConfig` for the configured object store."""
    from daft.io import IOConfig, S3Config

    props = catalog_properties(settings)

    def first(*names: str) -> str | None:
        return next((props[n] for n in names if props.get(n)), None)

    path_style = (first("s3.path-style-access") or "false").lower() == "true"
    return IOConfig(
        s3=S3Config(
            endpoint_url=first("s3.endpoint"),
            region_name=first("s3.region", "client.region"),
            key_id=first("s3.access-key-id", "client.access-key-id"),
            access_key=first("s3.secret-access-key", "client.secret-access-key"),
            session_token=first("s3.session-token", "client.session-token"),
            force_virtual_addressing=False if path_style else None,
        )
    )
