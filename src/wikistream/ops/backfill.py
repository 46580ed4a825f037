"""`wikistream backfill`: batch loads of historical data, recorded in a run manifest.

A run is named after what it loads (sources, since, until), so running the same backfill
again finds its manifest, skips the items that are done and resumes the others from the
position they stored. Items are files, or hour slices of a stream; each goes through the
bronze writer in replay mode, which drops events bronze already holds. The manifest lives
in `ops.runs` (one row per run) and under the warehouse: `runs/<run_id>/manifest.json`
(every item: state, rows, checksum) and `runs/<run_id>/audit.jsonl` (one line per event).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
from pyiceberg.catalog import Catalog

from wikistream.exceptions import ConfigError
from wikistream.lakehouse import commits
from wikistream.lakehouse.catalog import ensure_table
from wikistream.lakehouse.documents import Documents
from wikistream.lakehouse.tables import OPS_RUNS
from wikistream.layers.bronze import BronzeStats, EventWindow
from wikistream.pipeline.runner import Replay, StopToken, run_ingest
from wikistream.settings import Settings
from wikistream.sources.registry import open_source

log = logging.getLogger(__name__)

PLANNED, RUNNING, DONE, FAILED = "planned", "running", "done", "failed"
COMPLETED, PARTIAL, INTERRUPTED = "completed", "partial", "interrupted"
_CHUNK = 1 << 20
# A stream slice reads on until its events are this far past its end: events arrive slightly
# out of order, and the next slice starts (`?since=`) at its end. The overlap is dropped as
# duplicates, so nothing at a boundary is lost or written twice.
SLICE_GRACE = timedelta(seconds=60)


@dataclass
class Item:
    """One unit of a backfill: a file, or a slice [since, until) of a stream."""

    key: str
    spec: str
    since: str | None = None  # a stream slice: [since, until)
    until: str | None = None
    checksum: str | None = None  # sha256 of a file's bytes
    bytes: int | None = None
    planned_records: int | None = None  # lines (NDJSON) or data: lines (SSE capture)
    state: str = PLANNED
    read: int = 0
    rows: int = 0
    quarantined: int = 0
    duplicates: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None


@dataclass
class Manifest:
    run_id: str
    sources: list[str]
    since: str | None
    until: str | None
    items: list[Item]
    state: str = RUNNING
    created_at: str = field(default_factory=lambda: _now().isoformat())
    updated_at: str = field(default_factory=lambda: _now().isoformat())
    finished_at: str | None = None

    def count(self, state: str) -> int:
        return sum(item.state == state for item in self.items)

    @property
    def rows(self) -> int:
        return sum(item.rows for item in self.items)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    settings: Settings,
    specs: list[str],
    since: datetime | None,
    until: datetime | None,
    run_id: str | None = None,
    slice_hours: float = 1.0,
) -> Manifest:
    """The manifest of this backfill: the stored one if it ran before, else a new plan.

    Raises:
        ConfigError: no items, a stream without --since, or a file a finished item loaded
            has changed since (that is a different backfill: give it another --run-id).
    """
    items = [item for spec in specs for item in _items(spec, since, until, slice_hours)]
    if not items:
        raise ConfigError("nothing to backfill: the sources match no files")
    run_id = run_id or _run_id(items, since, until)
    documents = Documents(settings)
    stored = documents.read(_manifest_path(run_id))
    if stored is None:
        manifest = Manifest(run_id, specs, _iso(since), _iso(until), items)
        audit = [_line(item, PLANNED) for item in items]
    else:
        manifest = _load(stored)
        audit = _audit_lines(documents, run_id)
        _check_unchanged(manifest, {item.key: item for item in items}, audit)
    _save(documents, manifest, audit)
    return manifest


def run(
    catalog: Catalog,
    settings: Settings,
    manifest: Manifest,
    stop: StopToken | None = None,
    on_progress: Callable[[Item, BronzeStats], None] | None = None,
) -> Manifest:
    """Load every item that is not done; record each outcome as it happens.

    An item that fails is recorded with its error and the run goes on (state `partial`);
    a stop request (SIGINT/SIGTERM) commits what was read and leaves `interrupted`.
    """
    if manifest.count(DONE) == len(manifest.items):
        return manifest  # done before: nothing to load, nothing to record
    stop = stop or StopToken()
    documents = Documents(settings)
    audit = _audit_lines(documents, manifest.run_id)
    manifest.state, manifest.finished_at = RUNNING, None
    _record(catalog, documents, manifest, audit)
    for item in manifest.items:
        if item.state == DONE:
            continue
        if stop.event.is_set():
            break
        item.state, item.started_at, item.error = RUNNING, _now().isoformat(), None
        audit.append(_line(item, "started"))
        _record(catalog, documents, manifest, audit)
        try:
            summary = _load_item(settings, manifest, item, stop.child(), on_progress)
        except Exception as exc:  # recorded; the other items still load
            log.warning("backfill item failed", extra={"item": item.key, "error": str(exc)})
            item.state, item.error = FAILED, f"{type(exc).__name__}: {exc}"
            audit.append(_line(item, FAILED))
        else:
            _add(item, summary.stats)
            if summary.stopped_by in ("source ended", "until"):
                item.state, item.finished_at = DONE, _now().isoformat()
                audit.append(_line(item, DONE))
            else:
                item.state = PLANNED  # stopped early: resumes from its position next time
                audit.append(_line(item, "stopped"))
        if on_progress is not None:
            on_progress(item, BronzeStats())  # its totals now include this attempt
        _record(catalog, documents, manifest, audit)
    manifest.state = _final_state(manifest, stop)
    if manifest.state != INTERRUPTED:
        manifest.finished_at = _now().isoformat()
    _record(catalog, documents, manifest, audit)
    return manifest


def _load_item(
    settings: Settings,
    manifest: Manifest,
    item: Item,
    stop: StopToken,
    on_progress: Callable[[Item, BronzeStats], None] | None,
) -> Any:
    window = EventWindow(_parse(manifest.since), _parse(manifest.until))
    # The checksum (files) or slice start (streams) names the stored position: a file that
    # changed before it finished starts over (bronze drops what it already has).
    tag = (item.checksum or "")[:12]
    if item.since is not None and item.until is not None:  # a stream slice (and a grace)
        source_settings = settings.source.model_copy(update={"since": item.since})
        settings = settings.model_copy(update={"source": source_settings})
        window = replace(window, stop_at=datetime.fromisoformat(item.until) + SLICE_GRACE)
        tag = datetime.fromisoformat(item.since).strftime("%Y%m%dT%H%M%S")
    source = open_source(item.spec, settings)
    replay = Replay(window=window, kind=f"backfill:{manifest.run_id}:{tag}", resume=True)
    progress = None if on_progress is None else (lambda stats, _s: on_progress(item, stats))
    return run_ingest(settings, source, stop=stop, on_progress=progress, replay=replay)


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
    spec: str, since: datetime | None, until: datetime | None, slice_hours: float
) -> list[Item]:
    kind, _, argument = spec.partition(":")
    if kind == "file":
        paths = sorted(glob.glob(argument)) if glob.has_magic(argument) else [argument]
        return [_file_item(Path(p)) for p in paths]
    if kind in ("sse", "live"):
        if since is None:
            raise ConfigError(f"backfilling {spec} needs --since (EventStreams keeps ~7 days)")
        return _slices(spec, since, until or _now(), slice_hours)
    raise ConfigError(f"backfill reads file:PATH (globs allowed) or sse:URL, not {spec!r}")


def _file_item(path: Path) -> Item:
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    resolved = path.resolve()
    digest, size, records = _fingerprint(resolved)
    return Item(key=str(resolved), spec=f"file:{resolved}", checksum=digest, bytes=size,
                planned_records=records)  # fmt: skip


def _fingerprint(path: Path) -> tuple[str, int, int]:
    """sha256 of the bytes, their size, and how many records the (decompressed) file has."""
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for block in iter(lambda: raw.read(_CHUNK), b""):
            digest.update(block)
        raw.seek(0)
        gzipped = raw.read(2) == b"\x1f\x8b"
    records = 0
    try:
        with gzip.open(path, "rb") if gzipped else path.open("rb") as stream:
            head = stream.read(_CHUNK)
            sse = head.lstrip().startswith((b":", b"event:", b"id:", b"data:"))
            tail = b""
            while head:
                lines = (tail + head).split(b"\n")
                tail = lines.pop()
                records += sum(1 for line in lines if (line.startswith(b"data:") if sse
                                                       else line.strip()))  # fmt: skip
                head = stream.read(_CHUNK)
            records += 1 if tail.strip() and not sse else 0
    except (OSError, EOFError):
        pass  # a damaged file: loading it fails and is recorded; counting is best effort
    return digest.hexdigest(), path.stat().st_size, records


def _slices(spec: str, since: datetime, until: datetime, hours: float) -> list[Item]:
    if until <= since:
        raise ConfigError("--until must be after --since")
    step = timedelta(hours=hours)
    items: list[Item] = []
    start = since
    while start < until:
        end = min(start + step, until)
        items.append(Item(key=f"{spec}@{start.isoformat()}", spec=spec, since=start.isoformat(),
                          until=end.isoformat()))  # fmt: skip
        start = end
    return items


def _run_id(items: list[Item], since: datetime | None, until: datetime | None) -> str:
    what = msgspec.json.encode([[i.key for i in items], _iso(since), _iso(until)])
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
        audit.append(_line(item, "changed"))


# the manifest -----------------------------------------------------------------------------


def _manifest_path(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def _audit_path(run_id: str) -> str:
    return f"runs/{run_id}/audit.jsonl"


def _load(stored: dict[str, Any]) -> Manifest:
    items = [Item(**item) for item in stored.pop("items")]
    return Manifest(items=items, **stored)


def load_manifest(settings: Settings, run_id: str) -> Manifest | None:
    stored = Documents(settings).read(_manifest_path(run_id))
    return None if stored is None else _load(stored)


def _audit_lines(documents: Documents, run_id: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = documents.read_lines(_audit_path(run_id))
    return lines


def _line(item: Item, event: str) -> dict[str, Any]:
    return {"at": _now().isoformat(), "event": event, "item": item.key, "state": item.state,
            "read": item.read, "rows": item.rows, "quarantined": item.quarantined,
            "duplicates": item.duplicates, "sha256": item.checksum,
            "error": item.error}  # fmt: skip


def _save(documents: Documents, manifest: Manifest, audit: list[dict[str, Any]]) -> None:
    manifest.updated_at = _now().isoformat()
    documents.write(_manifest_path(manifest.run_id), manifest.as_dict())
    documents.write_lines(_audit_path(manifest.run_id), audit)


def _record(
    catalog: Catalog, documents: Documents, manifest: Manifest, audit: list[dict[str, Any]]
) -> None:
    """Write the manifest documents, then the run's row in ops.runs."""
    _save(documents, manifest, audit)
    row = {
        "run_id": manifest.run_id, "kind": "backfill", "state": manifest.state,
        "sources": manifest.sources, "since": _parse(manifest.since),
        "until": _parse(manifest.until), "items_planned": len(manifest.items),
        "items_done": manifest.count(DONE), "items_failed": manifest.count(FAILED),
        "rows_written": manifest.rows, "started_at": _parse(manifest.created_at),
        "updated_at": _parse(manifest.updated_at), "finished_at": _parse(manifest.finished_at),
        "manifest": documents.location(_manifest_path(manifest.run_id)),
    }  # fmt: skip
    table = ensure_table(catalog, OPS_RUNS)
    rows = pa.Table.from_pylist([row], schema=OPS_RUNS.schema)
    commits.replace(table, rows, "run_id", [manifest.run_id], {})


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
