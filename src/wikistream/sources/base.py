"""The source interface: batches of raw records with an opaque, resumable position.

A position is a string only its source can interpret. The lakehouse stores the position of
the last committed batch; a restarted source resumes right after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SourceBatch:
    """Raw records in source order, each with the position to resume from after it.

    Attributes:
        records: one undecoded event per entry, as bytes.
        positions: per record, where to resume once it and everything before it is
            committed (`None` when the source cannot tell, e.g. an SSE frame without id).
            Also identifies a record, e.g. a dead letter, across re-reads.
        partitions: for a partitioned source, the partition of each record; positions
            then order records within their partition only.
        epoch: which assignment of partitions the records were read under; a writer drops
            batches of an older one.
    """

    records: Sequence[bytes]
    positions: Sequence[str | None]
    partitions: Sequence[str] | None = None
    epoch: int = 0

    @property
    def position(self) -> str | None:
        """Where to resume after the whole batch (the last known record position)."""
        for position in reversed(self.positions):
            if position is not None:
                return position
        return None

    def head(self, count: int) -> SourceBatch:
        """The first `count` records, e.g. to stop at exactly `--max-events`."""
        partitions = None if self.partitions is None else self.partitions[:count]
        return SourceBatch(self.records[:count], self.positions[:count], partitions, self.epoch)


class Source(Protocol):
    """Something that yields event batches and can resume from a stored position."""

    @property
    def name(self) -> str:
        """Stable identity; stored positions are keyed by it."""
        ...

    def batches(self, start: str | None) -> Iterator[SourceBatch]:
        """Yield batches from `start` (a position this source produced), or the beginning."""
        ...

    def close(self) -> None:
        """Stop reading as soon as possible; `batches` may then end early."""
        ...
