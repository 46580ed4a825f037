"""The bronze writer: micro-batches of raw records become exactly-once Iceberg commits.

Exactly once, because each `bronze.events` commit stores the source position of its last
record in the same snapshot (atomic), a restart resumes from that position, and a bounded
memory of recent `event_id`s drops events the source sends again (e.g. after a reconnect).
Dead letters are committed to `bronze.quarantine` first; their ids make a re-read after a
crash between the two commits harmless.

Several writers may share the table: Kafka workers, a replay or backfill beside a live run,
the parts of one file in a parallel backfill. One rule holds for every commit, dead letters
included: it is checked against the exact table state it is placed on. The writer reloads
the table, reads the ids that other writers committed since its last look (their snapshots'
own files, one column), drops those from the batch and commits; the catalog refuses the
commit if the table moved meanwhile, and the retry checks again. A replay or backfill also
drops events bronze held before it started, whatever their age.

The committer thread has table objects of its own: a PyIceberg `Table` is not thread-safe
(a commit deep-copies the metadata whose caches a scan on another thread is filling).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from wikistream import metrics
from wikistream.events.arrow import decode_chunk, quarantine_to_arrow, unwritable_to_quarantine
from wikistream.events.decode import EventDecoder, quarantine_id
from wikistream.exceptions import ConcurrentWriter, PartitionsMoved, TerminalError
from wikistream.lakehouse import commits
from wikistream.lakehouse.errors import may_be_data
from wikistream.lakehouse.positions import (
    MAX_EVENT_TS_KEY,
    SOURCE_KEY,
    WRITER_KEY,
    Positions,
    as_text,
    last_commit_ms,
    position_properties,
    stored_source_positions,
)
from wikistream.lakehouse.reads import (
    added_by_others,
    added_by_source,
    recent_values,
    rows_where,
    without_known,
)
from wikistream.lakehouse.snapshots import current_id, reload
from wikistream.lakehouse.store import Lakehouse, Table
from wikistream.lakehouse.tables import BRONZE_EVENTS, BRONZE_QUARANTINE, TableDef
from wikistream.layers.recent_ids import RecentIds
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
    decode_seconds: float = 0.0  # validating, deduplicating, building Arrow (main thread)
    commit_seconds: float = 0.0  # Parquet and Iceberg commits (committer thread)
    last_commit_at: datetime | None = None
    max_event_ts: datetime | None = None

    def merge(self, other: BronzeStats) -> None:
        """Add another writer's totals (several attempts, items or workers of one run)."""
        self.read += other.read
        self.accepted += other.accepted
        self.quarantined += other.quarantined
        self.duplicates += other.duplicates
        self.dropped.update(other.dropped)
        self.commits += other.commits
        self.decode_seconds += other.decode_seconds
        self.commit_seconds += other.commit_seconds
        self.last_commit_at = _latest(self.last_commit_at, other.last_commit_at)
        self.max_event_ts = _latest(self.max_event_ts, other.max_event_ts)


# A stream read up to a time reads on until its events are this far past it: events arrive
# slightly out of order. Reading on costs nothing: what falls outside the window is dropped.
STREAM_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class EventWindow:
    """Event times a replay or backfill keeps: `since <= event_ts < until` (None: open).

    Reading stops at the first event at or after `stop_at`; None reads the source to its
    end (a file: out-of-order events late in it are still in the window). An endless source
    (a stream) needs one, past `until` by a grace (`STREAM_GRACE`).
    """

    since: datetime | None = None
    until: datetime | None = None
    stop_at: datetime | None = None

    def keep(self, events: pa.Table) -> tuple[pa.Table, int, int]:
        """The events inside the window, and how many fell before and after it."""
        ts = events.column("event_ts")
        inside = pa.repeat(pa.scalar(True), events.num_rows)
        before = after = 0
        if self.since is not None and events.num_rows:
            early = pc.fill_null(pc.less(ts, pa.scalar(self.since, ts.type)), False)
            before = pc.sum(early).as_py() or 0
            inside = pc.and_(inside, pc.invert(early))
        if self.until is not None and events.num_rows:
            late = pc.fill_null(pc.greater_equal(ts, pa.scalar(self.until, ts.type)), False)
            after = pc.sum(late).as_py() or 0
            inside = pc.and_(inside, pc.invert(late))
        if before or after:
            events = events.filter(inside)
        return events, before, after

    def ends_in(self, events: pa.Table) -> bool:
        """Whether `events` (duplicates included) reach the point where reading stops."""
        end = self.stop_at
        if end is None or events.num_rows == 0:
            return False
        newest = pc.max(events.column("event_ts")).as_py()
        return newest is not None and newest >= end


@dataclass(frozen=True)
class _Prepared:
    """A decoded, deduplicated batch ready to commit, and the positions it advances (one
    per partition it has records of; the label "" for an unpartitioned source)."""

    events: pa.Table
    dead: pa.Table | None
    positions: Positions
    at: datetime
    # The snapshots of bronze.events and bronze.quarantine up to which every committed id
    # was known when the batch was deduplicated: its commit checks what came after.
    checked: tuple[int | None, int | None] = (None, None)


class BronzeWriter:
    """Buffers source batches and commits them to bronze with their position.

    `position` is the last committed position. Call `close()` when done.
    """

    def __init__(
        self,
        lakehouse: Lakehouse,
        source: str,
        replay_of: str | None = None,
        window: EventWindow | None = None,
        isolate: bool = False,
    ) -> None:
        """
        Args:
            source: the name positions are stored under.
            replay_of: a replay re-reads this source: events already in bronze (whatever
                their age) and dead letters already quarantined are dropped.
            window: keep only events in it; `reached_until` tells when one went past it.
            isolate: suspect the data of any failed commit (the supervisor sets it when
                ingestion keeps failing on the same input), not only of data-like errors.
        """
        self._settings = settings = lakehouse.settings
        self._isolate = isolate
        self._source = source
        self._replay_of = replay_of
        self._window = window
        self.reached_until = False
        self._lakehouse = lakehouse
        # The main thread's tables (reads); the committer thread loads its own (`_out`).
        self._events: Table = lakehouse.table(BRONZE_EVENTS)
        self._quarantine: Table = lakehouse.table(BRONZE_QUARANTINE)
        self._out: dict[str, Table] = {}
        filters = settings.filters
        self._decoder = EventDecoder(
            filters.domains, filters.types, settings.source.max_record_bytes
        )
        self._writer_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._recent = RecentIds(settings.dedupe.window_s, settings.dedupe.max_ids)
        self._recent_dead = RecentIds(settings.dedupe.window_s, settings.dedupe.max_ids)
        # Per table: the snapshot up to which every id committed is in `_recent(_dead)`.
        self._looked: dict[str, int | None] = {}
        self._records: list[bytes] = []
        self._positions: list[str | None] = []
        self._labels: list[str] = []  # the partition of each buffered record ("" if none)
        # What this writer last committed, or found stored, per partition.
        self.positions: Positions = stored_source_positions(self._events, source)
        self._epoch = 0  # batches read under an older assignment are dropped
        self._lock = threading.RLock()  # flush and the source's rebalance hooks never interleave
        self.stats = BronzeStats()
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bronze-commit")
        self._in_flight: Future[None] | None = None
        self._remember_recent()
        self._remember_unfinished_dead_letters()
        if replay_of is not None:  # the replay's dead letters carry the original's ids
            known = rows_where(self._quarantine, "source", [replay_of], ("quarantine_id",))
            self._recent_dead.add(known.column("quarantine_id").to_pylist())

    @property
    def position(self) -> str | None:
        """The position of an unpartitioned source."""
        return self.positions.get("")

    @property
    def pending(self) -> int:
        """Records read but not yet handed to the committer."""
        return len(self._records)

    def add(self, batch: SourceBatch) -> None:
        with self._lock:
            if batch.epoch < self._epoch:
                return  # read before a rebalance: its partitions are read again from the table
            self._records.extend(batch.records)
            self._positions.extend(batch.positions)
            self._labels.extend(batch.partitions or [""] * len(batch.records))
            self.stats.read += len(batch.records)
            metrics.EVENTS_READ.inc(len(batch.records))

    def stored(self, labels: Sequence[str]) -> Positions:
        """The stored positions of newly assigned partitions, from the table (a partitioned
        source asks when the group assigns them: never the broker's committed offsets).
        The ids committed recently are read again too: the partitions' previous owner
        committed some, and a resend of one of them must still be dropped."""
        with self._lock:
            self._wait_for_commit()
            reload(self._events)
            reload(self._quarantine)
            stored = stored_source_positions(self._events, self._source)
            found = {label: stored[label] for label in labels if label in stored}
            for label in labels:
                if label in found:
                    self.positions[label] = found[label]
                else:
                    self.positions.pop(label, None)
            self._remember_recent()
            return found

    def revoke(self, epoch: int, *, commit: bool) -> None:
        """The partitioned source's assignment is changing. What was read is committed
        (`commit`) or, when the partitions are already lost to another worker, dropped to
        be read again by the next owner; batches read before `epoch` are ignored from now."""
        with self._lock:
            self._epoch = epoch
            if commit:
                self.flush()
            else:
                self.stats.read -= len(self._records)  # read again later; counted then
                self._records, self._positions, self._labels = [], [], []
            self._wait_for_commit()

    def flush(self) -> bool:
        """Decode and dedupe what is buffered and hand it to the committer thread.

        Decoding the next batch overlaps with committing this one (Parquet encoding releases
        the GIL). Commits stay strictly ordered, and at most one waits, so memory is bounded.
        Returns whether a commit was started.
        """
        with self._lock:
            records, positions, labels = self._records, self._positions, self._labels
            advanced: Positions = {}
            for position, label in zip(positions, labels, strict=True):
                if position is not None:
                    advanced[label] = position
            if not records or not advanced:
                return False  # nothing read, or no position to resume from yet: keep buffering
            self._records, self._positions, self._labels = [], [], []
            prepared = self._prepare(records, positions, labels, advanced)
            self._wait_for_commit()
            self._in_flight = self._committer.submit(self._commit, prepared)
            return True

    def close(self, quiet: bool = False) -> None:
        """Wait for the commit in flight (raising its error, if any, unless `quiet`: the
        caller is already raising one) and stop the committer."""
        try:
            self._wait_for_commit()
        except Exception:
            if not quiet:
                raise
            log.debug("the commit in flight failed too", exc_info=True)
        finally:
            self._committer.shutdown(wait=True)

    def _wait_for_commit(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result()

    def _prepare(
        self,
        records: list[bytes],
        positions: list[str | None],
        labels: list[str],
        advanced: Positions,
    ) -> _Prepared:
        started, now = time.perf_counter(), datetime.now(UTC)
        # Read before deduplicating: every id committed up to these snapshots is known.
        looked = self._looked
        checked = (looked.get(BRONZE_EVENTS.identifier), looked.get(BRONZE_QUARANTINE.identifier))
        chunk = decode_chunk(self._decoder, records, self._source, now)
        self.stats.dropped.update(chunk.dropped)
        _count_dropped(chunk.dropped)
        identity = self._replay_of or self._source
        where = [
            f"{label}:{position}" if label else position or ""
            for label, position in zip(labels, positions, strict=True)
        ]
        dead = [
            (
                quarantine_id(identity, where[r.index], records[r.index]),
                r,
                where[r.index],
                records[r.index],
            )
            for r in chunk.rejections
        ]
        dead = list({d[0]: d for d in dead if d[0] not in self._recent_dead}.values())
        mask = self._first_sightings(chunk.ids)
        kept = sum(mask)
        self.stats.duplicates += len(mask) - kept
        _count_dropped({"duplicate": len(mask) - kept})
        events = chunk.table if kept == len(mask) else chunk.table.filter(pa.array(mask))
        if self._window is not None:
            self.reached_until = self.reached_until or self._window.ends_in(chunk.table)
            events, before, after = self._window.keep(events)
            outside = {"before_since": before, "after_until": after}
            self.stats.dropped.update({k: n for k, n in outside.items() if n})
            _count_dropped(outside)
        if self._replay_of is not None:  # against all of bronze, as it is now
            checked = (current_id(reload(self._events)), checked[1])
            events = self._not_in_bronze(events)
        # Remember now, not after the commit: the next batch is deduplicated against this one.
        self._recent.add(i for i, new in zip(chunk.ids, mask, strict=True) if new)
        self._recent_dead.add(d[0] for d in dead)
        self.stats.decode_seconds += time.perf_counter() - started
        return _Prepared(
            events=events,
            dead=quarantine_to_arrow(dead, self._source, now) if dead else None,
            positions=advanced,
            at=now,
            checked=checked,
        )

    def _not_in_bronze(self, events: pa.Table) -> pa.Table:
        """Drop events bronze already holds (a replay re-reads events of any age)."""
        fresh = without_known(self._events, events)
        self.stats.duplicates += events.num_rows - fresh.num_rows
        _count_dropped({"duplicate": events.num_rows - fresh.num_rows})
        return fresh

    def _commit(self, prepared: _Prepared) -> None:
        started = time.perf_counter()
        dead = 0
        if prepared.dead is not None:
            dead = self._commit_quarantine(prepared.dead, prepared.positions, prepared.checked[1])
        committed = self._commit_events(prepared.events, prepared.positions, prepared.checked[0])
        self.positions.update(prepared.positions)
        stats, seconds = self.stats, time.perf_counter() - started
        stats.commit_seconds += seconds
        stats.accepted += committed
        stats.quarantined += dead
        metrics.COMMIT_SECONDS.observe(seconds)
        metrics.BATCH_EVENTS.observe(prepared.events.num_rows + dead)
        metrics.EVENTS_ACCEPTED.inc(committed)
        metrics.EVENTS_QUARANTINED.inc(dead)
        stats.commits += 1
        stats.last_commit_at = prepared.at
        log.debug(
            "committed",
            extra={"rows": prepared.events.num_rows, "position": as_text(prepared.positions)},
        )

    def _table_out(self, definition: TableDef) -> Table:
        """The committer thread's own table object (loaded on that thread, once)."""
        table = self._out.get(definition.identifier)
        if table is None:
            table = self._out[definition.identifier] = self._lakehouse.table(definition)
        return table

    def _first_sightings(self, ids: list[str]) -> list[bool]:
        """Per id: True unless seen earlier in this batch or recently committed."""
        seen: set[str] = set()
        recent = self._recent
        mask: list[bool] = []
        for event_id in ids:
            new = event_id not in seen and event_id not in recent
            seen.add(event_id)
            mask.append(new)
        return mask

    def _summary(self, positions: Positions) -> dict[str, str]:
        return {
            SOURCE_KEY: self._source,
            WRITER_KEY: self._writer_id,
            **position_properties(positions),
        }

    def _commit_quarantine(self, rows: pa.Table, positions: Positions, checked: int | None) -> int:
        """Append dead letters no writer committed since `checked`; return how many."""
        table = self._table_out(BRONZE_QUARANTINE)
        while True:
            key = BRONZE_QUARANTINE.identifier
            guard = self._unseen(key, "quarantine_id", rows, checked, self._recent_dead)
            try:
                commits.append(
                    table,
                    rows,
                    self._summary(positions),
                    retries=self._settings.commit.retries,
                    guard=guard,
                    fresh=True,
                )
            except CommittedMeanwhile as meanwhile:
                rows, checked = rows.filter(pc.invert(meanwhile.known)), meanwhile.snapshot_id
                continue
            count: int = rows.num_rows
            return count

    def _commit_events(
        self, rows: pa.Table, positions: Positions, checked: int | None = None
    ) -> int:
        """Append `rows` with the position; return how many were committed.

        A commit that fails because of some rows' values (never a transient fault) commits
        those rows to the quarantine first and then the rest: one bad event never holds
        back the batch around it. Rows that another writer committed after `checked` (the
        snapshot up to which the batch was deduplicated) are dropped and the rest committed.
        """
        isolated = False
        while True:
            try:
                self._append_events(rows, positions, checked)
            except CommittedMeanwhile as meanwhile:
                rows, checked = self._without_committed(rows, meanwhile), meanwhile.snapshot_id
            except Exception as exc:
                if isolated:
                    raise
                rows, isolated = self._without_unwritable(rows, positions, exc), True
            else:
                committed: int = rows.num_rows
                return committed

    def _without_committed(self, rows: pa.Table, meanwhile: CommittedMeanwhile) -> pa.Table:
        log.info(
            "another writer committed some of these events meanwhile: dropped",
            extra={"events": meanwhile.count, "source": self._source},
        )
        self.stats.duplicates += meanwhile.count
        _count_dropped({"duplicate": meanwhile.count})
        return rows.filter(pc.invert(meanwhile.known))

    def _append_events(self, rows: pa.Table, positions: Positions, checked: int | None) -> None:
        summary = self._summary(positions)
        newest = _newest_plausible(rows)
        if newest is not None:
            summary[MAX_EVENT_TS_KEY] = newest.isoformat()
            if self.stats.max_event_ts is None or newest > self.stats.max_event_ts:
                self.stats.max_event_ts = newest
        unseen = self._unseen(BRONZE_EVENTS.identifier, "event_id", rows, checked, self._recent)
        commits.append(
            self._table_out(BRONZE_EVENTS),
            rows,
            summary,
            retries=self._settings.commit.retries,
            guard=_both(self._still_ours(set(positions)), unseen),
            fresh=True,  # checked against the state it is placed on, the first attempt too
        )

    def _unseen(
        self, key: str, column: str, rows: pa.Table, checked: int | None, recent: RecentIds
    ) -> Callable[[Table], None]:
        """A guard: none of `rows` was committed by another writer after snapshot `checked`.

        What the others committed is remembered too (the next batches drop it early), and
        the writer's last look moves to the state just checked.
        """

        def check(table: Table) -> None:
            if rows.num_rows == 0:
                return
            added = added_by_others(table, column, checked, self._writer_id)
            values = rows.column(column)
            if added.values is None:  # that snapshot was rolled back or expired: all of it
                known = _known_in(table, rows, column)
            else:
                recent.add(added.values.to_pylist())
                known = pc.is_in(values, value_set=added.values)
            self._looked[key] = added.upto
            if isinstance(known, pa.ChunkedArray):
                known = known.combine_chunks()
            if pc.any(known).as_py():
                raise CommittedMeanwhile(known, added.upto)

        return check

    def _without_unwritable(
        self, rows: pa.Table, positions: Positions, error: Exception
    ) -> pa.Table:
        """Quarantine the rows whose data made the commit fail and return the others;
        re-raise `error` when it was not about the data."""
        if not (may_be_data(error) or (self._isolate and not isinstance(error, TerminalError))):
            raise error
        bad = commits.unwritable_rows(self._table_out(BRONZE_EVENTS), rows)
        if not bad or len(bad) == rows.num_rows > 1:
            raise error  # nothing to blame, or everything alike: not the data
        detail = f"{type(error).__name__}: {error}"[:500]
        identity = self._replay_of or self._source
        where = as_text(positions)
        dead = unwritable_to_quarantine(
            rows.take(pa.array(bad, pa.int64())), detail, identity, self._source, where
        )
        known = [i not in self._recent_dead for i in dead.column("quarantine_id").to_pylist()]
        dead = dead.filter(pa.array(known, pa.bool_()))  # already there before a crash
        if dead.num_rows:
            checked = self._looked.get(BRONZE_QUARANTINE.identifier)
            self._recent_dead.add(dead.column("quarantine_id").to_pylist())
            count = self._commit_quarantine(dead, positions, checked)  # first: a crash now
            self.stats.quarantined += count  # loses nothing
            metrics.EVENTS_QUARANTINED.inc(count)
        log.warning(
            "isolated events whose values cannot be committed",
            extra={"events": len(bad), "position": where, "error": detail},
        )
        keep = pc.invert(pc.is_in(pa.array(range(rows.num_rows)), pa.array(bad, pa.int64())))
        return rows.filter(keep)

    def _still_ours(self, labels: set[str]) -> Callable[[Table], None]:
        """Before a retried commit: the stored positions of the partitions it advances must
        still be the ones this writer last saw, or another writer owns them now."""

        def check(table: Table) -> None:
            stored = stored_source_positions(table, self._source, labels)
            moved = sorted(
                label for label in labels if stored.get(label) != self.positions.get(label)
            )
            if not moved:
                return
            if moved == [""]:
                raise ConcurrentWriter(
                    f"another writer committed position {stored.get('')!r} for {self._source} "
                    f"(this one expected {self.position!r}); stopping to avoid duplicates"
                )
            raise PartitionsMoved(
                f"partitions {', '.join(moved)} of {self._source} were committed by another "
                "worker meanwhile; reading them again from the stored positions"
            )

        return check

    def _remember_recent(self) -> None:
        """Reload the ids committed within the dedupe window, each with its commit's age."""
        wall = datetime.now(UTC)
        since = wall - timedelta(seconds=self._settings.dedupe.window_s)
        limit = self._settings.dedupe.max_ids
        looked = {
            BRONZE_EVENTS.identifier: current_id(self._events),
            BRONZE_QUARANTINE.identifier: current_id(self._quarantine),
        }
        for recent, table, column, source in (
            (self._recent, self._events, "event_id", None),
            (self._recent_dead, self._quarantine, "quarantine_id", self._source),
        ):
            generations = recent_values(table, column, since, source, limit)
            recent.add_aged(((wall - at).total_seconds(), ids) for at, ids in generations)
        self._looked.update(looked)

    def _remember_unfinished_dead_letters(self) -> None:
        """Dead letters this source committed after its last events commit, whatever their
        age: a crash between the two commits left them, and the re-read makes them again."""
        after = last_commit_ms(self._events, self._source)
        since = None if after is None else after - _CLOCK_SLACK_MS
        known = added_by_source(self._quarantine, "quarantine_id", self._source, since)
        if len(known):
            self._recent_dead.add(known.to_pylist())


_CLOCK_SLACK_MS = 60_000  # commit times come from the writers' clocks


class CommittedMeanwhile(Exception):  # a signal to the writer, not an error
    """Another writer committed some of a replay's events after they were checked."""

    def __init__(self, known: pa.Array, snapshot_id: int | None) -> None:
        super().__init__("events committed by another writer meanwhile")
        self.known = known  # per row of the batch
        self.count: int = pc.sum(known).as_py() or 0
        self.snapshot_id = snapshot_id


def _known_in(table: Table, rows: pa.Table, column: str) -> pa.Array:
    """Per row: whether the table holds its `column` value (all of the table)."""
    ids = rows.column(column)
    if column == "event_id":  # a repeat has the same event time: only those files are read
        unknown = without_known(table, rows).column(column)
        return pc.invert(pc.is_in(ids, value_set=unknown))
    held = rows_where(table, column, ids.to_pylist(), (column,)).column(column)
    return pc.is_in(ids, value_set=held)


def _both(
    first: Callable[[Table], None], second: Callable[[Table], None]
) -> Callable[[Table], None]:
    def check(table: Table) -> None:
        first(table)
        second(table)

    return check


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


_FUTURE_SLACK = timedelta(minutes=10)


def _newest_plausible(rows: pa.Table) -> datetime | None:
    """The newest event time that is not in the future: one event dated 9999 (the schema
    allows it) must not make bronze look fresh forever."""
    if rows.num_rows == 0:
        return None
    limit = pa.scalar(datetime.now(UTC) + _FUTURE_SLACK, rows.schema.field("event_ts").type)
    ts = rows.column("event_ts")
    newest: datetime | None = pc.max(ts.filter(pc.less_equal(ts, limit))).as_py()
    return newest


def _count_dropped(counts: Mapping[str, int]) -> None:
    for reason, n in counts.items():
        if n:
            metrics.EVENTS_DROPPED.labels(reason=reason).inc(n)
