"""`file:PATH`: replay newline-delimited JSON (optionally gzip) or a recorded SSE capture.

The position is the byte offset (in the decompressed stream) just after the last record of a
batch, so a restart re-reads nothing that was committed and skips nothing that was not.
`end` makes the source one part of a file (a parallel backfill): it stops at that offset,
which must be a line boundary, as the start position is.

A line longer than `max_record_bytes` is skipped to the next line and handed on as its first
bytes (quarantined as `too_large`), so memory stays bounded. A file that cannot be read to
its end (corrupt or truncated gzip, vanished, forbidden) raises `InputBroken` after the
records before the damage: a restart cannot cure it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import threading
import zlib
from collections.abc import Iterator
from itertools import accumulate, compress
from pathlib import Path
from typing import BinaryIO

from wikistream.exceptions import ConfigError, InputBroken
from wikistream.sources.base import (
    MAX_RECORD_BYTES,
    Fingerprint,
    Oversized,
    Part,
    SourceBatch,
)
from wikistream.sources.lines import HEAD_BYTES, bounded_lines
from wikistream.sources.sse_protocol import FrameParser

SSE_PREFIXES = (b":", b"event:", b"id:", b"data:", b"retry:")  # a recorded SSE capture
_BLOCK_BYTES = 4 << 20
MIN_PART_BYTES = 1 << 20  # smaller parts are not worth a process each
_PLUS_ONE = (1).__add__  # a line's length plus its newline


class FileSource:
    """Reads a finite file of events; it ends when the file does."""

    def __init__(
        self,
        path: Path,
        chunk_events: int = 4096,
        end: int | None = None,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self._path = path.resolve()
        if not self._path.is_file():
            raise ConfigError(f"no such file: {path}")
        self._chunk = chunk_events
        self._end = end
        self._limit = max_record_bytes
        self._closed = threading.Event()

    @property
    def name(self) -> str:
        return f"file:{self._path}"

    def batches(self, start: str | None) -> Iterator[SourceBatch]:
        offset = _parse_offset(start)
        try:
            with self._open() as handle:
                is_sse = _looks_like_sse(handle)
                if self._end is not None and is_sse:
                    raise ConfigError("only NDJSON files can be read in parts, not SSE captures")
                handle.seek(offset)
                reader = self._sse_batches if is_sse else self._ndjson_batches
                yield from reader(handle, offset)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputBroken(f"cannot read {self._path}: {_why(exc)}") from exc

    def close(self) -> None:
        self._closed.set()

    def fingerprint(self) -> Fingerprint:
        """sha256 and size of the file's bytes and its records (decompressed), in one read.
        A damaged gzip counts what it can: loading it then fails and says why."""
        digest, counter, inflater, size = hashlib.sha256(), _RecordCounter(), None, 0
        with self._path.open("rb") as raw:
            for block in iter(lambda: raw.read(1 << 20), b""):
                if size == 0 and block[:2] == b"\x1f\x8b":
                    inflater = Inflater()
                size += len(block)
                digest.update(block)
                counter.feed(block if inflater is None else inflater.feed(block))
        return Fingerprint(digest.hexdigest(), size, counter.total())

    def parts(self, count: int) -> list[Part]:
        """Up to `count` parts of whole lines, at least MIN_PART_BYTES each; a gzip file or an
        SSE capture is one part (neither can be entered in the middle)."""
        size = self._path.stat().st_size
        count = min(count, size // MIN_PART_BYTES)
        with self._path.open("rb") as handle:
            head = handle.read(4096)
        first = next((line.strip() for line in head.splitlines() if line.strip()), b"")
        if count < 2 or head[:2] == b"\x1f\x8b" or not first.startswith(b"{"):
            return [Part(0, size, 0)]
        cuts = [0]
        with self._path.open("rb") as handle:
            for share in range(1, count):
                handle.seek(max(cuts[-1], size * share // count))
                handle.readline()  # to the end of the line the share falls in
                cuts.append(handle.tell())
        cuts.append(size)
        edges = sorted(set(cuts))
        return [Part(a, b, self._records_between(a, b)) for a, b in itertools.pairwise(edges)]

    def _records_between(self, first: int, end: int) -> int:
        counter = _RecordCounter()
        with self._path.open("rb") as handle:
            handle.seek(first)
            left = end - first
            while left > 0:
                block = handle.read(min(1 << 20, left))
                if not block:
                    break
                left -= len(block)
                counter.feed(block)
        return counter.total()

    def _open(self) -> BinaryIO:
        raw = self._path.open("rb")
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            return Gunzip(raw)  # type: ignore[return-value]
        raw.seek(0)
        return io.BufferedReader(raw, buffer_size=1 << 20)

    def _ndjson_batches(self, handle: BinaryIO, offset: int) -> Iterator[SourceBatch]:
        # Whole blocks are split and measured with C-level builtins: a Python loop per line
        # would hold the GIL the decoder and the committer need.
        leftover = b""
        skipped = 0  # bytes of an over-long line already dropped (its head is `leftover`)
        read_to = offset
        limit = self._limit
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
            sizes = list(map(len, lines))
            if lines and skipped:  # the over-long line ends here
                sizes[0] += skipped
                skipped = 0
            if len(leftover) > limit or (skipped and leftover):
                head = leftover[:HEAD_BYTES]  # too long so far: keep its head only
                skipped += len(leftover) - len(head)
                leftover = head
            if not lines:
                if not block:
                    return
                continue
            ends = accumulate(map(_PLUS_ONE, sizes), initial=offset)
            next(ends)
            positions = list(map(str, ends))
            offset = int(positions[-1])
            records = list(map(bytes.strip, lines))
            if max(sizes) > limit:
                records = [
                    r if n <= limit else Oversized(r[:HEAD_BYTES], n)
                    for r, n in zip(records, sizes, strict=True)
                ]
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
        parser = FrameParser(max_bytes=self._limit)
        records: list[bytes] = []
        positions: list[str | None] = []
        blocks = iter(lambda: handle.read(1 << 16), b"")
        for line in bounded_lines(blocks, self._limit):
            text = line.data.decode("utf-8", "replace")
            frame = parser.feed(text, line.size if line.cut else None)
            if frame is not None and frame.event == "message":
                data = frame.data.encode()
                if frame.size is not None:
                    data = Oversized(data[:HEAD_BYTES], frame.size)
                records.append(data)
                positions.append(str(offset + line.end))  # frames dispatch at the blank line
            if len(records) >= self._chunk:
                yield SourceBatch(records, positions)
                records, positions = [], []
                if self._closed.is_set():
                    return
        if records:
            yield SourceBatch(records, positions)


class Inflater:
    """Gzip decompressed block by block (several members in a row too). A damaged stream
    stops yielding: `error` says why; `partial`: the input so far ends inside a member."""

    def __init__(self) -> None:
        self._stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.error: Exception | None = None
        self.partial = False

    def feed(self, block: bytes) -> bytes:
        out = bytearray()
        while block and self.error is None:
            try:
                out += self._stream.decompress(block)
            except zlib.error as exc:
                self.error = exc
                break
            self.partial = not self._stream.eof
            block = self._stream.unused_data if self._stream.eof else b""
            if self._stream.eof:  # another member may follow
                self._stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return bytes(out)


class _RecordCounter:
    """Counts NDJSON lines, or `data:` lines of a recorded SSE capture."""

    def __init__(self) -> None:
        self._sse: bool | None = None
        self._tail = b""
        self._count = 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self._sse is None:
            self._sse = data.lstrip().startswith(SSE_PREFIXES)
        lines = (self._tail + data).split(b"\n")
        self._tail = lines.pop()
        self._count += sum(1 for line in lines if self._is_record(line))

    def total(self) -> int:
        return self._count + (1 if self._tail and self._is_record(self._tail) else 0)

    def _is_record(self, line: bytes) -> bool:
        return line.startswith(b"data:") if self._sse else bool(line.strip())


class Gunzip:
    """Gzip read as it is decompressed. Unlike `gzip.open`, everything that decompresses
    before damage is handed on first; the error comes with the read after it. Seeking goes
    forward by reading (back to 0 by starting over)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._reset()

    def _reset(self) -> None:
        self._raw.seek(0)
        self._inflater = Inflater()
        self._out = bytearray()
        self._offset = 0  # decompressed bytes handed on so far
        self._done = False

    def read(self, size: int = -1) -> bytes:
        wanted = size if size >= 0 else 1 << 62
        while len(self._out) < wanted and not self._done:
            compressed = self._raw.read(1 << 16)
            self._out += self._inflater.feed(compressed)
            self._done = not compressed or self._inflater.error is not None
        if not self._out and self._done:
            if self._inflater.error is not None:
                raise self._inflater.error
            if self._inflater.partial:
                raise EOFError("the file ends before its end-of-stream marker")
        data = bytes(self._out[:wanted])
        del self._out[:wanted]
        self._offset += len(data)
        return data

    def seek(self, offset: int) -> int:
        if offset < self._offset:
            self._reset()
        while self._offset < offset:
            if not self.read(min(1 << 20, offset - self._offset)):
                break
        return self._offset

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.read(1 << 16), b"")

    def __enter__(self) -> Gunzip:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, EOFError | zlib.error | gzip.BadGzipFile):
        return f"the compressed data is corrupt or cut short ({exc})"
    if isinstance(exc, FileNotFoundError):
        return "the file is gone"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"{type(exc).__name__}: {exc}"


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
    return first.startswith(SSE_PREFIXES)
