"""Lines cut from a byte stream with a bound: memory never grows with one line's length.

A line longer than the limit is read to its end without being kept: its first bytes and
its full size are handed on, so the record can be quarantined as `too_large` while the
stream goes on. Terminators are `\\n`, `\\r\\n` and a lone `\\r` (what SSE allows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

HEAD_BYTES = 4096  # what is kept of a record that was too large: enough to recognise it
_TERMINATOR = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Line:
    """One line: its bytes (only the first HEAD_BYTES when it was `cut`: longer than the
    limit), its full length, and the offset just after its terminator (counted from where
    reading began)."""

    data: bytes
    size: int
    end: int
    cut: bool = False


def bounded_lines(chunks: Iterable[bytes], limit: int) -> Iterator[Line]:
    """The lines of `chunks`; a line longer than `limit` bytes comes cut (`Line.cut`).

    A last line without a terminator is yielded when the chunks end.
    """
    buffer = bytearray()
    consumed = 0  # offset of buffer[0]
    scanned = 0  # buffer[:scanned] holds no terminator (each byte is searched once)
    skipping: tuple[bytes, int] | None = None  # a line too long: its head, bytes so far
    for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        start = 0
        while True:
            match = _TERMINATOR.search(buffer, scanned)
            if match is None or (match.group() == b"\r" and match.end() == len(buffer)):
                break  # no terminator yet, or a "\r" that may be half of "\r\n"
            line = bytes(buffer[start : match.start()])
            end = consumed + match.end()
            if skipping is not None:
                head, size = skipping
                skipping = None
                yield Line(_longer(head, line), size + len(line), end, cut=True)
            elif len(line) > limit:
                yield Line(line[:HEAD_BYTES], len(line), end, cut=True)
            else:
                yield Line(line, len(line), end)
            start = scanned = match.end()
        del buffer[:start]
        consumed += start
        if len(buffer) > limit or (skipping is not None and buffer):
            # Too long already: keep its head, drop the rest as it comes (but a trailing
            # "\r" that may start a terminator).
            keep = 1 if buffer.endswith(b"\r") else 0
            dropped = bytes(buffer[: len(buffer) - keep])
            if skipping is None:
                skipping = (dropped[:HEAD_BYTES], len(dropped))
            else:
                skipping = (_longer(skipping[0], dropped), skipping[1] + len(dropped))
            del buffer[: len(dropped)]
            consumed += len(dropped)
        scanned = len(buffer) - (1 if buffer.endswith(b"\r") else 0)
    rest = bytes(buffer[:-1] if buffer.endswith(b"\r") else buffer)  # "\r": a terminator
    if skipping is not None:
        head, size = skipping
        yield Line(_longer(head, rest), size + len(rest), consumed + len(buffer), cut=True)
    elif buffer:
        cut = len(rest) > limit
        yield Line(rest[:HEAD_BYTES] if cut else rest, len(rest), consumed + len(buffer), cut)


def _longer(head: bytes, more: bytes) -> bytes:
    """`head` followed by `more`, up to HEAD_BYTES in all."""
    return head + more[: max(0, HEAD_BYTES - len(head))]
