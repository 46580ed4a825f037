"""Files WikiStream reads and writes itself, through PyIceberg's FileIO.

Run state, run manifests and audit lines, quality reports, and the listing behind orphan
removal all go through the same FileIO (with the catalog's properties: endpoint, region,
keys, or the standard AWS chain) as the tables, so a local folder and an object store behave
alike and nothing bypasses the configured credentials.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs
from pyiceberg.io import FileIO, load_file_io

from wikistream.lakehouse.catalog import catalog_properties
from wikistream.settings import Settings


@dataclass(frozen=True)
class StoredFile:
    """One file under a location."""

    location: str
    size: int
    modified: datetime | None


class Storage:
    """Read, write, list and delete files under a base location (local or object store)."""

    def __init__(self, io: FileIO, base: str) -> None:
        self._io = io
        self.base = base.rstrip("/")

    @classmethod
    def of_warehouse(cls, settings: Settings) -> Storage:
        """WikiStream's own documents: under `warehouse` (never the catalog's table bucket,
        which may refuse ordinary objects)."""
        base = settings.warehouse_uri
        return cls(load_file_io(catalog_properties(settings), base), base)

    def location(self, relative: str) -> str:
        return f"{self.base}/{relative.lstrip('/')}"

    def read(self, location: str) -> bytes | None:
        """The file's bytes, or None if there is none."""
        source = self._io.new_input(location)
        if not source.exists():
            return None
        with source.open() as stream:
            return stream.read()

    def write(self, location: str, data: bytes) -> None:
        """Write (or replace) a file so that a reader never sees half of it: a local file is
        written beside and renamed, an object is one PUT."""
        if location.startswith("file:") or "://" not in location:
            path = Path(location.removeprefix("file://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            # A name of its own: two threads may write the same document at once.
            partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")
            partial.write_bytes(data)
            os.replace(partial, path)
            return
        with self._io.new_output(location).create(overwrite=True) as out:
            out.write(data)

    def delete(self, location: str) -> None:
        self._io.delete(location)

    def files(self, location: str) -> Iterator[StoredFile]:
        """Every file under `location` (recursively)."""
        filesystem, root, prefix = self._filesystem(location)
        selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
        for info in filesystem.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            modified = info.mtime
            if modified is not None and modified.tzinfo is None:
                modified = modified.replace(tzinfo=UTC)
            yield StoredFile(f"{prefix}{info.path}", info.size or 0, modified)

    def _filesystem(self, location: str) -> tuple[pafs.FileSystem, str, str]:
        """The PyArrow filesystem FileIO uses for `location`, the path in it, and what to
        put before a listed path to make it a location again."""
        parse = getattr(self._io, "parse_location", None)
        by_scheme = getattr(self._io, "fs_by_scheme", None)
        if parse is None or by_scheme is None:
            raise NotImplementedError(
                f"listing files needs PyIceberg's PyArrowFileIO, not {type(self._io).__name__}"
            )
        scheme, netloc, path = parse(location, self._io.properties)
        prefix = "file://" if scheme == "file" else f"{scheme}://"
        return by_scheme(scheme, netloc), path, prefix


def table_storage(io: FileIO, location: str) -> Storage:
    """The files of one table, through the table's own FileIO (which may carry credentials
    its catalog vended)."""
    return Storage(io, location)
