"""The run manifest of a backfill: its items and their states, where it is kept.

`<warehouse>/runs/<run_id>/manifest.json` holds every item, `audit.jsonl` beside it one
line per item event, and `ops.runs` one row per run for queries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from wikistream.lakehouse import commits
from wikistream.lakehouse.documents import Documents
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import OPS_RUNS

PLANNED, RUNNING, DONE, FAILED = "planned", "running", "done", "failed"
COMPLETED, PARTIAL, INTERRUPTED = "completed", "partial", "interrupted"


@dataclass
class Item:
    """One unit of a backfill: a file, a part of one, or a slice [since, until) of a stream."""

    key: str
    spec: str
    since: str | None = None  # a stream slice: [since, until)
    until: str | None = None
    checksum: str | None = None  # sha256 of a file's bytes
    first_byte: int | None = None  # a part of a file (parallel backfill): [first, end) bytes
    end_byte: int | None = None
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
    created_at: str = field(default_factory=lambda: now().isoformat())
    updated_at: str = field(default_factory=lambda: now().isoformat())
    finished_at: str | None = None

    def count(self, state: str) -> int:
        return sum(item.state == state for item in self.items)

    @property
    def rows(self) -> int:
        return sum(item.rows for item in self.items)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def manifest_path(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def _audit_path(run_id: str) -> str:
    return f"runs/{run_id}/audit.jsonl"


def load(stored: dict[str, Any]) -> Manifest:
    items = [Item(**item) for item in stored.pop("items")]
    return Manifest(items=items, **stored)


def audit_lines(documents: Documents, run_id: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = documents.read_lines(_audit_path(run_id))
    return lines


def audit_line(item: Item, event: str) -> dict[str, Any]:
    return {
        "at": now().isoformat(),
        "event": event,
        "item": item.key,
        "state": item.state,
        "read": item.read,
        "rows": item.rows,
        "quarantined": item.quarantined,
        "duplicates": item.duplicates,
        "sha256": item.checksum,
        "error": item.error,
    }


def save(documents: Documents, manifest: Manifest, audit: list[dict[str, Any]]) -> None:
    manifest.updated_at = now().isoformat()
    documents.write(manifest_path(manifest.run_id), manifest.as_dict())
    documents.write_lines(_audit_path(manifest.run_id), audit)


def record(
    lakehouse: Lakehouse, documents: Documents, manifest: Manifest, audit: list[dict[str, Any]]
) -> None:
    """Write the manifest documents, then the run's row in ops.runs."""
    save(documents, manifest, audit)
    row = {
        "run_id": manifest.run_id,
        "kind": "backfill",
        "state": manifest.state,
        "sources": manifest.sources,
        "since": parse_time(manifest.since),
        "until": parse_time(manifest.until),
        "items_planned": len(manifest.items),
        "items_done": manifest.count(DONE),
        "items_failed": manifest.count(FAILED),
        "rows_written": manifest.rows,
        "started_at": parse_time(manifest.created_at),
        "updated_at": parse_time(manifest.updated_at),
        "finished_at": parse_time(manifest.finished_at),
        "manifest": documents.location(manifest_path(manifest.run_id)),
    }
    table = lakehouse.table(OPS_RUNS)
    rows = pa.Table.from_pylist([row], schema=OPS_RUNS.schema)
    commits.replace(table, rows, "run_id", [manifest.run_id], {})


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
