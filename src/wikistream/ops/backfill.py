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
import logging
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
from wikistream.sources.base import Source, Splittable
from wikistream.sources.file import FileSource
from wikistream.sources.registry import open_source

log = logging.getLogger(__name__)

# A stream slice reads on until its events are STREAM_GRACE past its end: events arrive
# slightly out of order, and the next slice starts (`?since=`) at its end. The overlap is
# dropped as duplicates, so nothing at a boundary is lost or written twice. A file is read
# to its end whatever `--until` says: out-of-order events late in it still count.


def plan(
    lakehouse: Lakehouse,
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
    settings = lakehouse.settings
    items = [
        item
        for spec in specs
        for item in _items(spec, settings, since, until, slice_hours, workers)
    ]
    if not items:
        raise ConfigError("nothing to backfill: the sources match no files")
    run_id = run_id or _run_id(items, since, until)
    documents = lakehouse.documents
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
    settings, documents = lakehouse.settings, lakehouse.documents
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
    spec: str,
    settings: Settings,
    since: datetime | None,
    until: datetime | None,
    slice_hours: float,
    parts: int,
) -> list[Item]:
    kind, _, argument = spec.partition(":")
    if kind == "file":
        paths = sorted(glob.glob(argument)) if glob.has_magic(argument) else [argument]
        if not paths or not all(Path(p).is_file() for p in paths):
            missing = next((p for p in paths if not Path(p).is_file()), argument)
            raise ConfigError(f"no such file: {missing}")
        return [part for p in paths for part in _file_items(Path(p), settings, parts)]
    if kind in ("sse", "live"):
        if since is None:
            raise ConfigError(f"backfilling {spec} needs --since (EventStreams keeps ~7 days)")
        return _slices(spec, since, until or now(), slice_hours)
    raise ConfigError(f"backfill reads file:PATH (globs allowed) or sse:URL, not {spec!r}")


def _file_items(path: Path, settings: Settings, parts: int) -> list[Item]:
    """The file as one item, or as up to `parts` items of whole lines, as the file source
    cuts it (plain NDJSON only: gzip and SSE captures load whole)."""
    source = open_source(f"file:{path}", settings)
    if not isinstance(source, Splittable):  # pragma: no cover - every file source is
        raise ConfigError(f"{path} cannot be planned")
    print_ = source.fingerprint()
    resolved = source.name.removeprefix("file:")
    whole = Item(
        key=resolved,
        spec=source.name,
        checksum=print_.sha256,
        bytes=print_.size,
        planned_records=print_.records,
    )
    cuts = source.parts(parts)
    if len(cuts) < 2:
        return [whole]
    return [
        replace(
            whole,
            key=f"{resolved}@bytes={part.first}-{part.end}",
            first_byte=part.first,
            end_byte=part.end,
            bytes=part.end - part.first,
            planned_records=part.records,
        )
        for part in cuts
    ]


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
