"""Table maintenance on PyIceberg primitives: compaction, snapshot expiry, orphan files.

PyIceberg only has `expire_snapshots`, so compaction is a partition overwrite (same rows,
fewer files) committed against the snapshot it read (a concurrent commit makes it retry,
never lose rows), and orphan removal lists the table location and deletes what no snapshot,
manifest or metadata file refers to. Maintenance snapshots carry `wikistream.maintenance`
in their summary; incremental readers skip them (they add no new rows).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from typing import Any

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import And, BooleanExpression, EqualTo, IsNull
from pyiceberg.manifest import DataFileContent
from pyiceberg.table import Table

from wikistream.lakehouse.commits import data_files, replace_in_one_snapshot
from wikistream.lakehouse.positions import MAINTENANCE_KEY, lineage
from wikistream.lakehouse.storage import table_storage

log = logging.getLogger(__name__)

_RETRIES = 5


@dataclass
class CompactionReport:
    partitions: int = 0
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    bytes_rewritten: int = 0


def compact(table: Table, target_bytes: int, min_files: int = 2) -> CompactionReport:
    """Rewrite every partition that holds at least `min_files` files smaller than
    `target_bytes` into as few files as the target size allows. Rows do not change."""
    report = CompactionReport()
    if table.current_snapshot() is None:
        return report
    if table.properties.get("write.target-file-size-bytes") != str(target_bytes):

        def set_target() -> None:
            with table.transaction() as tx:
                tx.set_properties({"write.target-file-size-bytes": str(target_bytes)})

        _retrying(table, set_target)
    for partition in _partitions_to_compact(table, target_bytes, min_files):
        done = _compact_partition(table, partition)
        if done is not None:
            report.partitions += 1
            report.files_before += done[0]
            report.files_after += done[1]
            report.rows += done[2]
            report.bytes_rewritten += done[3]
    return report


@dataclass(frozen=True)
class DataFile:
    path: str
    partition: dict[str, Any]
    size: int


def current_files(table: Table) -> list[DataFile]:
    """The data files of the current snapshot (an empty table has none)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    names = [f.name for f in table.spec().fields]
    files = []
    for manifest in snapshot.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            data = entry.data_file
            if data.content != DataFileContent.DATA:
                continue
            partition = {name: data.partition[i] for i, name in enumerate(names)}
            files.append(DataFile(data.file_path, partition, data.file_size_in_bytes))
    return files


def _partitions_to_compact(table: Table, target: int, min_files: int) -> list[dict[str, Any]]:
    small: dict[tuple[Any, ...], list[DataFile]] = defaultdict(list)
    for data in current_files(table):
        if data.size < target:
            small[tuple(sorted(data.partition.items()))].append(data)
    return [files[0].partition for files in small.values() if len(files) >= min_files]


def _compact_partition(table: Table, partition: dict[str, Any]) -> tuple[int, int, int, int] | None:
    condition = _matching(partition)
    for attempt in range(_RETRIES):
        table.refresh()
        snapshot = table.current_snapshot()
        if snapshot is None:
            return None
        before = _files_in(table, partition)
        rows = table.scan(row_filter=condition, snapshot_id=snapshot.snapshot_id).to_arrow()
        try:  # the partition's files out and the compacted ones in, in one snapshot
            files = data_files(table, rows)
            replace_in_one_snapshot(table, files, condition, {MAINTENANCE_KEY: "compaction"})
        except CommitFailedException:
            log.info("compaction lost a race; retrying", extra={"attempt": attempt + 1})
            continue
        table.refresh()
        after = _files_in(table, partition)
        return len(before), len(after), rows.num_rows, sum(before.values())
    log.warning("compaction gave up on a busy partition", extra={"partition": str(partition)})
    return None


def _files_in(table: Table, partition: dict[str, Any]) -> dict[str, int]:
    return {f.path: f.size for f in current_files(table) if f.partition == partition}


def _matching(partition: dict[str, Any]) -> BooleanExpression:
    terms: list[BooleanExpression] = []
    for column, value in partition.items():
        if value is None:
            terms.append(IsNull(column))  # type: ignore[call-arg]
        else:
            literal = value.isoformat() if hasattr(value, "isoformat") else value
            terms.append(EqualTo(column, literal))  # type: ignore[call-arg]
    return reduce(And, terms) if len(terms) > 1 else terms[0]


@dataclass
class ExpiryReport:
    expired: int = 0
    kept: int = 0
    protected: list[int] = field(default_factory=list)


def expire(
    table: Table,
    older_than: datetime,
    keep_last: int,
    protected: set[int],
    max_snapshots: int | None = None,
    needed_since: datetime | None = None,
) -> ExpiryReport:
    """Expire snapshots older than `older_than`, and beyond the newest `max_snapshots` of the
    current lineage; never the newest `keep_last`, `protected` ones (positions sources
    resume from), or any snapshot from `needed_since` on (what a consumer still reads)."""
    report = ExpiryReport()

    def expire_now() -> None:
        chain = lineage(table)
        keep = {s.snapshot_id for s in chain[:keep_last]} | protected
        cutoff = int(older_than.timestamp() * 1000)
        floor = None if needed_since is None else int(needed_since.timestamp() * 1000)
        excess = {s.snapshot_id for s in chain[max_snapshots:]} if max_snapshots else set()
        doomed = [
            s.snapshot_id
            for s in table.metadata.snapshots
            if (s.timestamp_ms < cutoff or s.snapshot_id in excess)
            and s.snapshot_id not in keep
            and (floor is None or s.timestamp_ms < floor)
        ]
        report.protected = sorted(protected & {s.snapshot_id for s in chain})
        report.expired = len(doomed)
        if doomed:
            table.maintenance.expire_snapshots().by_ids(doomed).commit()

    _retrying(table, expire_now)
    table.refresh()
    report.kept = len(table.metadata.snapshots)
    return report


def _retrying(table: Table, action: Callable[[], None]) -> None:
    """Run a metadata change against the freshest table state; a concurrent commit (a writer
    appending meanwhile) makes it start over."""
    for attempt in range(_RETRIES):
        table.refresh()
        try:
            action()
            return
        except CommitFailedException:
            log.info("maintenance lost a race; retrying", extra={"attempt": attempt + 1})
            time.sleep(0.05 * 2**attempt)
    log.warning("maintenance step gave up on a busy table", extra={"table": str(table.name())})


@dataclass
class OrphanReport:
    files_scanned: int = 0
    referenced: int = 0
    removed: list[str] = field(default_factory=list)
    bytes_removed: int = 0


def remove_orphans(table: Table, older_than: datetime, dry_run: bool = False) -> OrphanReport:
    """Delete files under the table location that nothing refers to and that are older than
    `older_than` (younger ones may belong to a commit in progress). Listing and deleting go
    through the table's own FileIO, so an object store is reached with its configuration."""
    referenced = _referenced_files(table)
    storage = table_storage(table.io, table.location())
    report = OrphanReport(referenced=len(referenced))
    for stored in storage.files(table.location()):
        report.files_scanned += 1
        if _normal(stored.location) in referenced or stored.modified is None:
            continue
        if stored.modified >= older_than:
            continue
        report.removed.append(stored.location)
        report.bytes_removed += stored.size
        if not dry_run:
            storage.delete(stored.location)
    return report


def _referenced_files(table: Table) -> set[str]:
    """Every file a retained snapshot or the metadata log refers to."""
    paths: set[str] = set()
    metadata_location = table.metadata_location
    paths.add(metadata_location)
    paths.update(entry.metadata_file for entry in table.metadata.metadata_log)
    manifests = {}
    for snapshot in table.metadata.snapshots:
        paths.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            manifests[manifest.manifest_path] = manifest
    for path, manifest in manifests.items():
        paths.add(path)
        entries = manifest.fetch_manifest_entry(table.io, discard_deleted=False)
        paths.update(entry.data_file.file_path for entry in entries)
    paths.update(s.statistics_path for s in table.metadata.statistics)
    return {_normal(p) for p in paths}


def _normal(path: str) -> str:
    """file:///x and /x name the same local file; s3a://b/k and s3://b/k the same object."""
    path = path.removeprefix("file://")
    for alias in ("s3a://", "s3n://"):
        if path.startswith(alias):
            return "s3://" + path.removeprefix(alias)
    return path


def small_files(table: Table, below_bytes: int) -> tuple[int, int]:
    """(data files, of which smaller than `below_bytes`) in the current snapshot."""
    sizes = [f.size for f in current_files(table)]
    return len(sizes), sum(1 for size in sizes if size < below_bytes)
