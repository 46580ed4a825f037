"""The source interface: batches of raw records with an opaque, resumable position.

A position is a string only its source can interpret. The lakehouse stores the position of
the last committed batch; a restarted source resumes right after it. A partitioned source
(Kafka) has a position per partition, labelled by the source, and shares its partitions
among workers: it is bound to the writer, which stores each partition's position.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MAX_RECORD_BYTES = 1 << 20  # the default limit of one record (source.max_record_bytes)


class Oversized(bytes):
    """The first bytes of a record a source cut short because it was longer than its limit
    (the rest was skipped up to the next record): always quarantined as `too_large`."""

    size: int  # how long the record was (as far as the source read it)

    def __new__(cls, head: bytes, size: int) -> Oversized:
        record = super().__new__(cls, head)
        record.size = size
        return record


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


@dataclass(frozen=True)
class Fingerprint:
    """What a finite source holds: the sha256 and size of its bytes, and how many records
    they have (an estimate a progress bar can use)."""

    sha256: str
    size: int
    records: int


@dataclass(frozen=True)
class Part:
    """A stretch `[first, end)` of a finite source that reads alone (its own position)."""

    first: int
    end: int
    records: int


@runtime_checkable
class Splittable(Protocol):
    """A finite source a backfill can plan: fingerprint it and cut it into parts."""

    def fingerprint(self) -> Fingerprint: ...

    def parts(self, count: int) -> list[Part]:
        """Up to `count` parts of whole records (one part: it cannot or need not be cut)."""
        ...


class PartitionOwner(Protocol):
    """What a partitioned source asks of whoever commits its records (the bronze writer)."""

    @property
    def positions(self) -> Mapping[str, str]:
        """The positions committed so far, per partition label."""
        ...

    def stored(self, labels: Sequence[str]) -> Mapping[str, str]:
        """The stored positions of newly assigned partitions (from the table, not a broker)."""
        ...

    def revoke(self, epoch: int, *, commit: bool) -> None:
        """The assignment changes: commit (or, if the partitions are lost, drop) what was
        read so far, and ignore batches read before `epoch`."""
        ...


@runtime_checkable
class PartitionedSource(Protocol):
    """A source whose partitions are shared among workers (Kafka): it learns the stored
    positions of the partitions it is assigned from the owner it is bound to."""

    def bind(self, owner: PartitionOwner) -> None: ...

    @property
    def assigned(self) -> bool:
        """Whether the group gave this worker any partitions (idle time counts only then)."""
        ...


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
