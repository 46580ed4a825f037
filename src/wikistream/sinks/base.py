"""The sink interface: validated events out, dead letters aside, and a resumable checkpoint.

A sink stores the source position itself, next to the data, so a restarted producer
resumes where everything before it is known to be delivered: nothing is lost, and what
is sent twice after a crash is removed downstream (bronze drops an event id it holds).
"""

from __future__ import annotations

from typing import Protocol


class Sink(Protocol):
    """Receives events in order; `checkpoint` returns once all of them are delivered."""

    @property
    def name(self) -> str:
        """Where events go, for people (e.g. `kafka://host:9092/topic`)."""
        ...

    def stored_position(self, source: str) -> str | None:
        """The position `source` had reached at its last checkpoint, if any."""
        ...

    def send(self, value: bytes, key: bytes, timestamp_ms: int, event_id: str) -> None:
        """Queue one valid event (its original JSON bytes)."""
        ...

    def dead(self, value: bytes, reason: str, detail: str, position: str, identity: str) -> None:
        """Queue one invalid record with the reason it was rejected; `identity` is the same
        for the same record at the same source position (a resend after a crash)."""
        ...

    def checkpoint(self, source: str, position: str) -> None:
        """Wait until everything queued is delivered, then store `position` for `source`.

        Raises:
            TransientError: some records were not delivered; the position is not stored.
        """
        ...

    def close(self) -> None: ...


def event_key(domain: str, title: str | None) -> bytes:
    """The partition key: one page's events stay in order, and pages spread the load."""
    return f"{domain}|{title or ''}".encode()
