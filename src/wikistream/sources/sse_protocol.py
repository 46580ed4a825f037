"""Server-Sent Events framing (WHATWG spec), shared by the live client and SSE captures."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Frame:
    """One dispatched SSE event: its type, data and the last event id seen so far.

    `size` is set when the data was longer than the parser's limit: `data` then holds only
    its first bytes (the rest was never kept).
    """

    event: str
    data: str
    id: str | None
    size: int | None = None


class FrameParser:
    """Feeds on lines (without their terminator) and returns a frame at each blank line.

    Comment lines (`:ok`, heartbeats) are counted in `comments` and otherwise ignored.
    An event whose data lines add up to more than `max_bytes` keeps only its first line
    (cut) and its total size: one event never holds more memory than that.
    """

    def __init__(self, last_id: str | None = None, max_bytes: int | None = None) -> None:
        self.last_id = last_id
        self.comments = 0
        self._max_bytes = max_bytes
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self._cut = False

    def feed(self, line: str, size: int | None = None) -> Frame | None:
        """One line; `size`: its length in bytes when the line was cut short by the reader."""
        if not line and size is None:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":  # a cut line's size counts its "data: " too (ASCII)
            self._add_data(value, None if size is None else size - (len(line) - len(value)))
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None  # "retry" and unknown fields are ignored, as the spec says

    def _add_data(self, value: str, size: int | None) -> None:
        self._size += (len(value.encode()) if size is None else size) + bool(self._data)
        if self._cut:
            return
        if size is not None or (self._max_bytes is not None and self._size > self._max_bytes):
            self._cut = True
            self._data = self._data[:1] if self._data else [value]
            return
        self._data.append(value)

    def _dispatch(self) -> Frame | None:
        data, event, size, cut = self._data, self._event or "message", self._size, self._cut
        self._data, self._event, self._size, self._cut = [], "", 0, False
        if not data:
            return None
        return Frame(event, "\n".join(data), self.last_id, size if cut else None)
