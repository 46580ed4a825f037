"""`file:PATH`: replay newline-delimited JSON (optionally gzip) or a recorded SSE capture.

The position is the byte offset (in the decompressed stream) just after the last record of a
batch, so a restart re-reads nothing that was committed and skips nothing that was not.
`end` makes the source one part of a file (a parallel backfill): it stops at that offset,
which must be a line boundary, as the start position is.
"""

from __future__ import annotations

import gzip
import io
import threading
from collections.abc import Iterator
from itertools import accumulate, compress
from pathlib import Path
from typing import BinaryIO

from wikistream.exceptions import ConfigError
from wikistream.sources.base import SourceBatch
from wikistream.sources.sse_protocol import FrameParser

_SSE_PREFIXES = (b":", b"event:", b"id:", b"data:", b"retry:")
_BLOCK_BYTES = 4 << 20
_PLUS_ONE = (1).__add__  # a line's length plus its newline


class FileSource:
    """Reads a finite file of events; it ends when the file does."""

    def __init__(self, path: Path, chunk_events: int = 4096, end: int | None = None) -> None:
        self._path = path.resolve()
        if not self._path.is_file():
            raise ConfigError(f"no such file: {path}")
        self._chunk = chunk_events
        self._end = end
        self._closed = threading.Event()

    @property
    def name(self) -> str:
        return f"file:{self._path}"

    def batches(self, start: str | None) -> Iterator[SourceBatch]:
        offset = _parse_offset(start)
        with self._open() as handle:
            is_sse = _looks_like_sse(handle)
            if self._end is not None and is_sse:
                raise ConfigError("only NDJSON files can be read in parts, not SSE captures")
            handle.seek(offset)
            reader = self._sse_batches if is_sse else self._ndjson_batches
            yield from reader(handle, offset)

    def close(self) -> None:
        self._closed.set()

    def _open(self) -> BinaryIO:
        raw = self._path.open("rb")
        if raw.read(2) == b"\x1f\x8b":
            raw.close()
            return gzip.open(self._path, "rb")  # type: ignore[return-value]
        raw.seek(0)
        return io.BufferedReader(raw, buffer_size=1 << 20)

    def _ndjson_batches(self, handle: BinaryIO, offset: int) -> Iterator[SourceBatch]:
        # Whole blocks are split and measured with C-level builtins: a Python loop per line
        # would hold the GIL the decoder and the committer need.
        leftover = b""
        read_to = offset
        while not self._closed.is_set():
            size = (
                _BLOCK_BYTES
                if self._end is None
                else max(0, min(_BLOCK_BYTES, self._end - read_to))
            )
            block = handle.read(size) if size else b""
            read_to += len(block)
            lines = (leftover + block).split(b"\n")
            leftover = lines.pop() if block else b""
            if not lines:
                if not block:
                    return
                continue
            ends = accumulate(map(_PLUS_ONE, map(len, lines)), initial=offset)
            next(ends)
            positions = list(map(str, ends))
            offset = int(positions[-1])
            records = list(map(bytes.strip, lines))
            keep = list(compress(range(len(records)), records))  # skip blank lines
            if len(keep) != len(records):
                records = [records[i] for i in keep]
                positions = [positions[i] for i in keep]
            for start in range(0, len(records), self._chunk):
                end = start + self._chunk
                yield SourceBatch(records[start:end], positions[start:end])
            if not block:
                return

    def _sse_batches(self, handle: BinaryIO, offset: int) -> Iterator[SourceBatch]:
        parser = FrameParser()
        records: list[bytes] = []
        positions: list[str | None] = []
        for line in handle:
            offset += len(line)
            frame = parser.feed(line.rstrip(b"\r\n").decode("utf-8", "replace"))
            if frame is not None and frame.event == "message":
                records.append(frame.data.encode())
                positions.append(str(offset))  # frames dispatch at the blank line
            if len(records) >= self._chunk:
                yield SourceBatch(records, positions)
                records, positions = [], []
                if self._closed.is_set():
                    return
        if records:
            yield SourceBatch(records, positions)


def _parse_offset(start: str | None) -> int:
    if start is None:
        return 0
    try:
        offset = int(start)
    except ValueError:
        raise ConfigError(f"a file position is a byte offset, got {start!r}") from None
    if offset < 0:
        raise ConfigError(f"a file position cannot be negative, got {offset}")
    return offset


def _looks_like_sse(handle: BinaryIO) -> bool:
    head = handle.read(4096)
    handle.seek(0)
    first = next((line.strip() for line in head.splitlines() if line.strip()), b"")
    return first.startswith(_SSE_PREFIXES)
