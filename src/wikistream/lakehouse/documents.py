"""JSON documents stored beside the tables (quality reports, run manifests).

They live under the warehouse location and go through PyIceberg's FileIO, so the same code
writes to a local folder or to S3.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import msgspec
from pyiceberg.io import load_file_io

from wikistream.lakehouse.catalog import catalog_properties
from wikistream.settings import Settings


class Documents:
    """Read and write JSON documents at paths relative to the warehouse."""

    def __init__(self, settings: Settings) -> None:
        props = catalog_properties(settings)
        base = props.get("warehouse") or Path(settings.warehouse).expanduser().resolve().as_uri()
        self._base = base.rstrip("/")
        self._io = load_file_io(props, self._base)

    def location(self, relative: str) -> str:
        return f"{self._base}/{relative.lstrip('/')}"

    def write(self, relative: str, document: Any) -> str:
        """Write (or replace) one document; return its location."""
        return self._put(relative, msgspec.json.format(msgspec.json.encode(document), indent=2))

    def write_lines(self, relative: str, lines: list[Any]) -> str:
        """Write (or replace) a JSON Lines file: one compact JSON value per line."""
        return self._put(relative, b"".join(msgspec.json.encode(line) + b"\n" for line in lines))

    def read_lines(self, relative: str) -> list[Any]:
        """The values of a JSON Lines file (none if there is no file)."""
        source = self._io.new_input(self.location(relative))
        if not source.exists():
            return []
        with source.open() as stream:
            return [msgspec.json.decode(line) for line in stream.read().splitlines() if line]

    def _put(self, relative: str, data: bytes) -> str:
        location = self.location(relative)
        if location.startswith("file:"):  # rename: a reader never sees half a document
            path = Path(location.removeprefix("file://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            # A name of its own: two threads may write the same document at once.
            partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")
            partial.write_bytes(data)
            os.replace(partial, path)
            return location
        with self._io.new_output(location).create(overwrite=True) as out:  # one PUT: atomic
            out.write(data)
        return location

    def read(self, relative: str) -> Any | None:
        """The document, or None if there is none."""
        source = self._io.new_input(self.location(relative))
        if not source.exists():
            return None
        with source.open() as stream:
            return msgspec.json.decode(stream.read())
