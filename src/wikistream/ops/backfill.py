"""`wikistream backfill`: batch loads of historical data, recorded in a run manifest.

A run is named after what it loads (sources, since, until), so running the same backfill
again finds its manifest, skips the items that are done and resumes the others from the
position they stored. Items are files, or hour slices of a stream; each goes through the
bronze writer in replay mode, which drops events bronze already holds. With `workers` > 1,
a large NDJSON file is cut into that many parts (at line boundaries) and the items load in
as many processes at once (ops/workers.py), each part with its own stored position. The
manifest lives in `ops.runs` (one row per run) and under the warehouse:
`runs/<run_id>/manifest.json` (every item: state, rows, checksum) and
`runs/<run_id>/audit.jsonl` (one line per event).
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import logging
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from wikistream.exceptions import (
    ConfigError,
    SourceRejected,
    SourceUnavailable,
    WikiStreamError,
)
from wikistream.lakehouse.documents import Documents
from wikistream.lakehouse.store import Lakehouse
from wikistream.layers.bronze import STREAM_GRACE, BronzeStats, EventWindow
from wikistream.ops.manifest import (
    COMPLETED,
    DONE,
    FAILED,
    INTERRUPTED,
    PARTIAL,
    PLANNED,
    RUNNING,
    Item,
    Manifest,
    audit_line,
    audit_lines,
    iso,
    load,
    manifest_path,
    now,
    parse_time,
    record,
    save,
)
from wikistream.ops.workers import Outcome, load_in_parallel
from wikistream.pipeline.reading import StopToken
from wikistream.pipeline.runner import Attempt, Replay, run_ingest
from wikistream.settings import Settings
from wikistream.sources.base import Source
from wikistream.sources.file import FileSource
from wikistream.sources.registry import open_source

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
MIN_PART_BYTES = 1 << 20  # smaller parts are not worth a process each
# A stream slice reads on until its events are STREAM_GRACE past its end: events arrive
# slightly out of order, and the next slice starts (`?since=`) at its end. The overlap is
# dropped as duplicates, so nothing at a boundary is lost or written twice. A file is read
# to its end whatever `--until` says: out-of-order events late in it still count.


def plan(
    settings: Settings,
    specs: list[str],
    since: datetime | None,
    until: datetime | None,
    run_id: str | None = None,
    slice_hours: float = 1.0,
    workers: int = 1,
) -> Manifest:
    """The manifest of this backfill: the stored one if it ran before, else a new plan.

    Raises:
        ConfigError: no items, a stream without --since, or a file a finished item loaded
            has changed since (that is a different backfill: give it another --run-id).
    """
    items = [item for spec in specs for item in _items(spec, since, until, slice_hours, workers)]
    if not items:
        raise ConfigError("nothing to backfill: the sources match no files")
    run_id = run_id or _run_id(items, since, until)
    documents = Documents(settings)
    stored = documents.read(manifest_path(run_id))
    if stored is None:
        manifest = Manifest(run_id, specs, iso(since), iso(until), items)
        audit = [audit_line(item, PLANNED) for item in items]
    else:
        manifest = load(stored)
        audit = audit_lines(documents, run_id)
        _check_unchanged(manifest, {item.key: item for item in items}, audit)
    save(documents, manifest, audit)
    return manifest


def run(
    lakehouse: Lakehouse,
    settings: Settings,
    manifest: Manifest,
    stop: StopToken | None = None,
    on_progress: Callable[[Item, BronzeStats], None] | None = None,
    workers: int = 1,
) -> Manifest:
    """Load every item that is not done, `workers` at a time (each in its own process
    when more than one); record each outcome as it happens.

    An item that fails is recorded with its error and the run goes on (state `partial`);
    a stop request (SIGINT/SIGTERM) commits what was read and leaves `interrupted`.
    """
    stop = stop or StopToken()
    documents = Documents(settings)
    audit = audit_lines(documents, manifest.run_id)
    if manifest.count(DONE) == len(manifest.items):  # e.g. killed right after its last item
        if manifest.state != COMPLETED:
            manifest.state, manifest.finished_at = COMPLETED, now().isoformat()
            record(lakehouse, documents, manifest, audit)
        return manifest
    manifest.state, manifest.finished_at = RUNNING, None
    record(lakehouse, documents, manifest, audit)

    unreachable: list[str] = []  # a source that never answered: the run stops, exit 3

    def started(item: Item) -> None:
        item.state, item.started_at, item.error = RUNNING, now().isoformat(), None
        audit.append(audit_line(item, "started"))
        record(lakehouse, documents, manifest, audit)

    def finished(item: Item, outcome: Outcome) -> None:
        if outcome.error is not None:
            _add(item, outcome.stats)  # what it committed before failing stands
            item.state, item.error = FAILED, outcome.error
            audit.append(audit_line(item, FAILED))
        else:
            _add(item, outcome.stats)
            if outcome.stopped_by in ("source ended", "until"):
                item.state, item.finished_at = DONE, now().isoformat()
                audit.append(audit_line(item, DONE))
            else:
                item.state = INTERRUPTED  # stopped early: resumes from its position next time
                audit.append(audit_line(item, "stopped"))
        if outcome.unreachable is not None:
            unreachable.append(outcome.unreachable)
        if on_progress is not None:
            on_progress(item, BronzeStats())  # its totals now include this attempt
        record(lakehouse, documents, manifest, audit)

    todo = [item for item in manifest.items if item.state != DONE]
    if workers > 1 and len(todo) > 1:
        load_in_parallel(
            settings, manifest, todo, workers, stop, _load_here, started, on_progress, finished
        )
    else:
        for item in todo:
            if stop.event.is_set() or unreachable:
                break
            started(item)
            finished(item, _load_here(settings, manifest, item, stop.child(), on_progress))
    manifest.state = _final_state(manifest, stop)
    if manifest.state != INTERRUPTED:
        manifest.finished_at = now().isoformat()
    record(lakehouse, documents, manifest, audit)
    if unreachable:
        state = f"backfill {manifest.run_id} is recorded as {manifest.state}"
        raise SourceUnavailable(f"{unreachable[0]} ({state}; run the same command again)")
    return manifest


def _load_here(
    settings: Settings,
    manifest: Manifest,
    item: Item,
    stop: StopToken,
    on_progress: Callable[[Item, BronzeStats], None] | None,
) -> Outcome:
    """One item in this process (a worker's too); an error is its outcome, with the rows
    the item committed before it (they stand)."""
    attempt = Attempt()
    try:
        summary = _load_item(settings, manifest, item, stop, on_progress, attempt)
    except (SourceUnavailable, SourceRejected) as exc:
        unreachable = str(exc) if attempt.stats.read == 0 else None
        return Outcome(attempt.stats, error=f"{type(exc).__name__}: {exc}", unreachable=unreachable)
    except Exception as exc:  # recorded; the other items still load
        expected = isinstance(exc, WikiStreamError)
        error = f"{type(exc).__name__}: {exc}"
        # A bug keeps its traceback in the log (and on the console with --debug).
        log.error(
            "backfill item failed", exc_info=not expected, extra={"item": item.key, "error": error}
        )
        return Outcome(attempt.stats, error=error)
    return Outcome(summary.stats, stopped_by=summary.stopped_by)


def _load_item(
    settings: Settings,
    manifest: Manifest,
    item: Item,
    stop: StopToken,
    on_progress: Callable[[Item, BronzeStats], None] | None,
    attempt: Attempt,
) -> Any:
    window = EventWindow(parse_time(manifest.since), parse_time(manifest.until))
    # The checksum (files) or slice start (streams) names the stored position: a file that
    # changed before it finished starts over (bronze drops what it already has).
    tag = (item.checksum or "")[:12]
    if item.first_byte is not None:  # a part: positions of its own
        tag = f"{tag}@{item.first_byte}"
    if item.since is not None and item.until is not None:  # a stream slice (and a grace)
        window = replace(window, stop_at=datetime.fromisoformat(item.until) + STREAM_GRACE)
        tag = datetime.fromisoformat(item.since).strftime("%Y%m%dT%H%M%S")
    if item.end_byte is not None:
        path = Path(item.spec.removeprefix("file:"))
        source: Source = FileSource(path, settings.source.chunk_events, end=item.end_byte)
        start = str(item.first_byte)
    else:
        source, start = open_source(item.spec, settings, since=item.since), None
    replay = Replay(
        start=start, window=window, kind=f"backfill:{manifest.run_id}:{tag}", resume=True
    )
    progress = None if on_progress is None else (lambda stats, _s: on_progress(item, stats))
    return run_ingest(
        settings, source, stop=stop, on_progress=progress, replay=replay, attempt=attempt
    )


def _add(item: Item, stats: BronzeStats) -> None:
    item.read += stats.read
    item.rows += stats.accepted
    item.quarantined += stats.quarantined
    item.duplicates += stats.duplicates


def _final_state(manifest: Manifest, stop: StopToken) -> str:
    if manifest.count(FAILED):
        return PARTIAL
    if manifest.count(DONE) == len(manifest.items):
        return COMPLETED
    return INTERRUPTED if stop.event.is_set() else PARTIAL


# planning ---------------------------------------------------------------------------------


def _items(
    spec: str, since: datetime | None, until: datetime | None, slice_hours: float, parts: int
) -> list[Item]:
    kind, _, argument = spec.partition(":")
    if kind == "file":
        paths = sorted(glob.glob(argument)) if glob.has_magic(argument) else [argument]
        return [part for p in paths for part in _file_items(Path(p), parts)]
    if kind in ("sse", "live"):
        if since is None:
            raise ConfigError(f"backfilling {spec} needs --since (EventStreams keeps ~7 days)")
        return _slices(spec, since, until or now(), slice_hours)
    raise ConfigError(f"backfill reads file:PATH (globs allowed) or sse:URL, not {spec!r}")


def _file_items(path: Path, parts: int) -> list[Item]:
    """The file as one item, or as `parts` items of whole lines (NDJSON of at least
    MIN_PART_BYTES per part; gzip and SSE captures cannot be cut)."""
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    resolved = path.resolve()
    digest, size, records = _fingerprint(resolved)
    whole = Item(
        key=str(resolved),
        spec=f"file:{resolved}",
        checksum=digest,
        bytes=size,
        planned_records=records,
    )
    parts = min(parts, size // MIN_PART_BYTES)
    if parts < 2 or not _plain_ndjson(resolved):
        return [whole]
    cuts = _cuts(resolved, size, parts)
    return [
        replace(
            whole,
            key=f"{resolved}@bytes={first}-{end}",
            first_byte=first,
            end_byte=end,
            bytes=end - first,
            planned_records=_records_between(resolved, first, end),
        )
        for first, end in itertools.pairwise(cuts)
    ]


def _plain_ndjson(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096)
    first = next((line.strip() for line in head.splitlines() if line.strip()), b"")
    return head[:2] != b"\x1f\x8b" and first.startswith(b"{")


def _cuts(path: Path, size: int, parts: int) -> list[int]:
    """Part boundaries: 0, the byte after the first newline past each even share, size."""
    cuts = [0]
    with path.open("rb") as handle:
        for share in range(1, parts):
            handle.seek(max(cuts[-1], size * share // parts))
            handle.readline()  # to the end of the line the share falls in
            cuts.append(handle.tell())
    cuts.append(size)
    return sorted(set(cuts))


def _records_between(path: Path, first: int, end: int) -> int:
    counter = _RecordCounter()
    with path.open("rb") as handle:
        handle.seek(first)
        left = end - first
        while left > 0:
            block = handle.read(min(_CHUNK, left))
            if not block:
                break
            left -= len(block)
            counter.feed(block)
    return counter.total()


def _fingerprint(path: Path) -> tuple[str, int, int]:
    """sha256 of the bytes, their size, and how many records the (decompressed) file has,
    in one read of the file."""
    digest = hashlib.sha256()
    counter = _RecordCounter()
    inflater: _Inflater | None = None
    size = 0
    with path.open("rb") as raw:
        for block in iter(lambda: raw.read(_CHUNK), b""):
            if size == 0 and block[:2] == b"\x1f\x8b":
                inflater = _Inflater()
            size += len(block)
            digest.update(block)
            counter.feed(block if inflater is None else inflater.feed(block))
    return digest.hexdigest(), size, counter.total()


class _Inflater:
    """Gzip, decompressed block by block (several members in a row too); a damaged
    stream yields nothing more: counting is best effort, loading it fails and is recorded."""

    def __init__(self) -> None:
        self._stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._broken = False

    def feed(self, block: bytes) -> bytes:
        out = b""
        while block and not self._broken:
            try:
                out += self._stream.decompress(block)
            except zlib.error:
                self._broken = True
                break
            block = self._stream.unused_data if self._stream.eof else b""
            if self._stream.eof:
                self._stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return out


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
            self._sse = data.lstrip().startswith((b":", b"event:", b"id:", b"data:"))
        lines = (self._tail + data).split(b"\n")
        self._tail = lines.pop()
        self._count += sum(1 for line in lines if self._is_record(line))

    def total(self) -> int:
        return self._count + (1 if self._tail and self._is_record(self._tail) else 0)

    def _is_record(self, line: bytes) -> bool:
        return line.startswith(b"data:") if self._sse else bool(line.strip())


def _slices(spec: str, since: datetime, until: datetime, hours: float) -> list[Item]:
    if until <= since:
        raise ConfigError("--until must be after --since")
    step = timedelta(hours=hours)
    items: list[Item] = []
    start = since
    while start < until:
        end = min(start + step, until)
        items.append(
            Item(
                key=f"{spec}@{start.isoformat()}",
                spec=spec,
                since=start.isoformat(),
                until=end.isoformat(),
            )
        )
        start = end
    return items


def _run_id(items: list[Item], since: datetime | None, until: datetime | None) -> str:
    what = msgspec.json.encode([[i.key for i in items], iso(since), iso(until)])
    return "backfill-" + hashlib.sha256(what).hexdigest()[:12]


def _check_unchanged(manifest: Manifest, now: dict[str, Item], audit: list[dict[str, Any]]) -> None:
    if set(now) != {item.key for item in manifest.items}:
        raise ConfigError(
            f"run {manifest.run_id} was planned for other sources ({', '.join(manifest.sources)}"
            f"); choose another --run-id for these"
        )
    for item in manifest.items:
        current = now.get(item.key)
        if current is None or current.checksum == item.checksum:
            continue
        if item.state == DONE:
            raise ConfigError(
                f"{item.key} changed since run {manifest.run_id} loaded it (sha256 "
                f"{item.checksum} -> {current.checksum}); to load it again, start another "
                "backfill with --run-id NAME"
            )
        item.checksum, item.bytes = current.checksum, current.bytes
        item.planned_records = current.planned_records
        audit.append(audit_line(item, "changed"))
