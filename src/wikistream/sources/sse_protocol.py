"""Server-Sent Events framing (WHATWG spec), shared by the live client and SSE captures."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Frame:
    """One dispatched SSE event: its type, data and the last event id seen so far."""

    event: str
    data: str
    id: str | None


class FrameParser:
    """Feeds on lines (without their terminator) and returns a frame at each blank line.

    Comment lines (`:ok`, heartbeats) are counted in `comments` and otherwise ignored.
    """

    def __init__(self, last_id: str | None = None) -> None:
        self.last_id = last_id
        self.comments = 0
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Frame | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None  # "retry" and unknown fields are ignored, as the spec says

    def _dispatch(self) -> Frame | None:
        data, event = self._data, self._event or "message"
        self._data, self._event = [], ""
        if not data:
            return None
        return Frame(event, "\n".join(data), self.last_id)
