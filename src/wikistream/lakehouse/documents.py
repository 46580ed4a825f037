"""JSON documents stored beside the tables (quality reports, run manifests, run state).

They live under the warehouse and go through PyIceberg's FileIO (`storage.py`), so the same
code writes to a local folder or to S3, with the catalog's endpoint and credentials.
"""

from __future__ import annotations

from typing import Any

import msgspec

from wikistream.lakehouse.storage import Storage
from wikistream.settings import Settings

RUN_STATE = "ops/run-state.json"  # what a running `run` reports (supervisor, every few s)


class Documents:
    """Read and write JSON documents at paths relative to the warehouse."""

    def __init__(self, settings: Settings) -> None:
        self._storage = Storage.of_warehouse(settings)

    def location(self, relative: str) -> str:
        return self._storage.location(relative)

    def write(self, relative: str, document: Any) -> str:
        """Write (or replace) one document; return its location."""
        location = self.location(relative)
        self._storage.write(location, msgspec.json.format(msgspec.json.encode(document), indent=2))
        return location

    def write_lines(self, relative: str, lines: list[Any]) -> str:
        """Write (or replace) a JSON Lines file: one compact JSON value per line."""
        location = self.location(relative)
        self._storage.write(location, b"".join(msgspec.json.encode(v) + b"\n" for v in lines))
        return location

    def read_lines(self, relative: str) -> list[Any]:
        """The values of a JSON Lines file (none if there is no file)."""
        data = self._storage.read(self.location(relative))
        return (
            []
            if data is None
            else [msgspec.json.decode(line) for line in data.splitlines() if line]
        )

    def read(self, relative: str) -> Any | None:
        """The document, or None if there is none."""
        data = self._storage.read(self.location(relative))
        return None if data is None else msgspec.json.decode(data)
