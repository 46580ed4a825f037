"""The bronze writer: micro-batches of raw records become exactly-once Iceberg commits.

Exactly once, because each `bronze.events` commit stores the source position of its last
record in the same snapshot (atomic), a restart resumes from that position, and a bounded
memory of recent `event_id`s drops events the source sends again (e.g. after a reconnect).
Dead letters are committed to `bronze.quarantine` first; their ids make a re-read after a
crash between the two commits harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from wikistream.events.decode import EventDecoder, events_to_arrow, quarantine_id, quarantine_to_arrow
from wikistream.exceptions import ConcurrentWriter
from wikistream.lakehouse import commits
from wikistream.lakehouse.catalog import ensure_table
from wikistream.lakehouse.positions import (
    MAX_EVENT_TS_KEY,
    POSITION_KEY,
    SOURCE_KEY,
    WRITER_KEY,
    stored_position,
)
from wikistream.lakehouse.reads import recent_values
from wikistream.lakehouse.tables import BRONZE_EVENTS, BRONZE_QUARANTINE
from wikistream.layers.recent_ids import RecentIds
from wikistream.settings import Settings
from wikistream.sources.base import SourceBatch

log = logging.getLogger(__name__)


@dataclass
class BronzeStats:
    """Running totals of one writer."""

    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    commits: int = 0
    commit_seconds: float = 0.0
    last_commit_at: datetime | None = None
    max_event_ts: datetime | None = None


class BronzeWriter:
    """Buffers source batches and commits them to bronze with their position."""

    def __init__(self, catalog: Catalog, settings: Settings, source: str) -> None:
        self._settings = settings
        self._source = source
        self._events: Table = ensure_table(catalog, BRONZE_EVENTS)
        self._quarantine: Table = ensure_table(catalog, BRONZE_QUARANTINE)
        self._decoder = EventDecoder(settings.filters.domains, settings.filters.types)
        self._writer_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._recent = RecentIds(settings.dedupe.window_s, settings.dedupe.max_ids)
        self._recent_dead = RecentIds(settings.dedupe.window_s, settings.dedupe.max_ids)
        self._records: list[bytes] = []
        self._positions: list[str | None] = []
        self.position: str | None = stored_position(self._events, source)
        self.stats = BronzeStats()
        self._remember_recent()

    @property
    def pending(self) -> int:
        """Records read but not yet committed."""
        return len(self._records)

    def add(self, batch: SourceBatch) -> None:
        self._records.extend(batch.records)
        self._positions.extend(batch.positions)
        self.stats.read += len(batch.records)

    def flush(self) -> bool:
        """Decode, dedupe and commit what is buffered; return whether anything committed."""
        records, positions = self._records, self._positions
        position = next((p for p in reversed(positions) if p is not None), None)
        if not records or position is None:
            return False  # nothing read, or no position to resume from yet: keep buffering
        self._records, self._positions = [], []
        now = datetime.now(UTC)
        decoded = self._decoder.decode(records)
        self.stats.dropped.update(decoded.dropped)

        dead = [
            (quarantine_id(self._source, positions[r.index] or "", records[r.index]), r,
             positions[r.index] or "", records[r.index])
            for r in decoded.rejections
        ]  # fmt: skip
        dead = [d for d in dead if d[0] not in self._recent_dead]
        keep = self._new_event_indexes(decoded.ids)
        self.stats.duplicates += len(decoded.ids) - len(keep)
        events = events_to_arrow(decoded, keep, self._source, now)

        started = time.perf_counter()
        if dead:
            self._commit_quarantine(quarantine_to_arrow(dead, self._source, now), position)
        self._commit_events(events, position)
        self.stats.commit_seconds += time.perf_counter() - started

        self._recent.add(decoded.ids[i] for i in keep)
        self._recent_dead.add(d[0] for d in dead)
        self.position = position
        self.stats.accepted += len(keep)
        self.stats.quarantined += len(dead)
        self.stats.commits += 1
        self.stats.last_commit_at = now
        return True

    def _new_event_indexes(self, ids: list[str]) -> list[int]:
        seen: set[str] = set()
        keep: list[int] = []
        for index, event_id in enumerate(ids):
            if event_id in seen or event_id in self._recent:
                continue
            seen.add(event_id)
            keep.append(index)
        return keep

    def _summary(self, position: str) -> dict[str, str]:
        return {SOURCE_KEY: self._source, POSITION_KEY: position, WRITER_KEY: self._writer_id}

    def _commit_quarantine(self, rows: pa.Table, position: str) -> None:
        commits.append(
            self._quarantine, rows, self._summary(position), retries=self._settings.commit.retries
        )

    def _commit_events(self, rows: pa.Table, position: str) -> None:
        summary = self._summary(position)
        if rows.num_rows:
            newest = pc.max(rows.column("event_ts")).as_py()
            summary[MAX_EVENT_TS_KEY] = newest.isoformat()
            if self.stats.max_event_ts is None or newest > self.stats.max_event_ts:
                self.stats.max_event_ts = newest
        commits.append(
            self._events,
            rows,
            summary,
            retries=self._settings.commit.retries,
            guard=self._still_ours,
        )

    def _still_ours(self, table: Table) -> None:
        stored = stored_position(table, self._source)
        if stored != self.position:
            raise ConcurrentWriter(
                f"another writer committed position {stored!r} for {self._source} "
                f"(this one expected {self.position!r}); stopping to avoid duplicates"
            )

    def _remember_recent(self) -> None:
        since = datetime.now(UTC) - timedelta(seconds=self._settings.dedupe.window_s)
        limit = self._settings.dedupe.max_ids
        self._recent.add(recent_values(self._events, "event_id", since, limit=limit))
        self._recent_dead.add(
            recent_values(self._quarantine, "quarantine_id", since, self._source, limit)
        )
