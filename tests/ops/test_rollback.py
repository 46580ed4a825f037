"""`wikistream rollback` on real tables: the exact earlier rows come back, the layers above
are rebuilt to match, and ingestion then resumes from the restored position."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc

from tests.cli.test_cli import wikistream
from tests.support.events import recent_events, run_cycle, write_bronze
from tests.support.warehouse import make_settings, read_table
from wikistream.lakehouse.positions import COMMIT_KEY, lineage, stored_position
from wikistream.lakehouse.snapshots import resolve
from wikistream.lakehouse.store import Lakehouse
from wikistream.pipeline.runner import run_ingest
from wikistream.settings import Settings
from wikistream.sources.file import FileSource

ALL_WIKIS = '[filters]\ndomains = ["*"]\n'


def _rows(settings: Settings, table: str) -> list[dict[str, object]]:
    """The rows, without the columns that say when they were (re)computed."""
    rows = read_table(settings, table)
    rows = rows.drop_columns(
        [c for c in rows.column_names if c.endswith("_at") or c == "processing_lag_s"]
    )
    return rows.sort_by("event_id").to_pylist()


def _exact(settings: Settings, table: str) -> list[dict[str, object]]:
    return read_table(settings, table).sort_by("event_id").to_pylist()


def _rollback(tmp_path: Path, warehouse: Path, table: str, to: str) -> dict[str, object]:
    config = tmp_path / "wikistream.toml"
    config.write_text(ALL_WIKIS)
    result = wikistream(
        "--config",
        str(config),
        "--warehouse",
        str(warehouse),
        "rollback",
        table,
        "--to",
        to,
        "--yes",
        "--output",
        "json",
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _consistent(settings: Settings) -> None:
    """silver = bronze minus what its checks quarantined; gold counts every silver row."""
    bronze = set(read_table(settings, "bronze.events").column("event_id").to_pylist())
    silver = read_table(settings, "silver.events").column("event_id").to_pylist()
    quarantined = set(read_table(settings, "silver.quarantine").column("event_id").to_pylist())
    assert len(silver) == len(set(silver))
    assert set(silver) | quarantined == bronze and not set(silver) & quarantined
    hourly = read_table(settings, "gold.hourly_stats")
    assert pc.sum(hourly.column("events")).as_py() == len(silver)


def _half_loaded(tmp_path: Path, samples: list[bytes]) -> tuple[Path, Settings, Path]:
    """A file of 2,000 real events, the first 1,000 ingested and processed."""
    warehouse = tmp_path / "wh"
    settings = make_settings(warehouse)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(samples[:2000]) + b"\n")
    run_ingest(settings, FileSource(path, chunk_events=500), max_events=1000)
    run_cycle(settings)
    return warehouse, settings, path


def test_rollback_of_bronze_restores_its_rows_and_rebuilds_the_layers_above(
    tmp_path: Path, samples: list[bytes]
) -> None:
    warehouse, settings, path = _half_loaded(tmp_path, samples)
    bronze = Lakehouse(settings).table("bronze.events")
    first = bronze.current_snapshot()
    assert first is not None
    then = {
        "bronze": _exact(settings, "bronze.events"),
        "silver": _rows(settings, "silver.events"),
        "position": stored_position(bronze, f"file:{path.resolve()}"),
    }
    time.sleep(0.05)
    moment = datetime.now(UTC)
    time.sleep(0.05)

    # A bad load: more events arrive (say, from a file that should not have been loaded).
    run_ingest(settings, FileSource(path, chunk_events=500))
    run_cycle(settings)
    everything = _rows(settings, "bronze.events")
    assert len(everything) > len(then["bronze"])  # type: ignore[arg-type]

    report = _rollback(tmp_path, warehouse, "bronze.events", moment.isoformat())
    assert report["to_snapshot"] == first.snapshot_id
    assert report["rows_after"] == len(then["bronze"])  # type: ignore[arg-type]
    assert _exact(settings, "bronze.events") == then["bronze"]  # the very rows of then
    assert _rows(settings, "silver.events") == then["silver"]
    bronze = Lakehouse(settings).table("bronze.events")
    assert stored_position(bronze, f"file:{path.resolve()}") == then["position"]
    _consistent(settings)

    # Ingestion resumes from the restored position: each event once again.
    run_ingest(settings, FileSource(path, chunk_events=500))
    run_cycle(settings)
    assert _rows(settings, "bronze.events") == everything
    _consistent(settings)


def test_rollback_of_silver_rebuilds_gold_and_the_next_cycle_catches_up(
    tmp_path: Path, samples: list[bytes]
) -> None:
    warehouse, settings, path = _half_loaded(tmp_path, samples)
    silver_then = _rows(settings, "silver.events")
    snapshot = Lakehouse(settings).table("silver.events").current_snapshot()
    assert snapshot is not None
    run_ingest(settings, FileSource(path, chunk_events=500))
    run_cycle(settings)
    silver_all = _rows(settings, "silver.events")

    report = _rollback(tmp_path, warehouse, "silver.events", str(snapshot.snapshot_id))
    assert _rows(settings, "silver.events") == silver_then
    hourly = read_table(settings, "gold.hourly_stats")
    assert pc.sum(hourly.column("events")).as_py() == len(silver_then)  # gold rebuilt to match
    assert "gold.hourly_stats" in report["rebuilt"]  # type: ignore[operator]

    run_cycle(settings)  # silver resumes from the bronze position it had then
    assert _rows(settings, "silver.events") == silver_all
    _consistent(settings)


def test_gold_windows_are_replaced_in_one_snapshot_each(tmp_path: Path) -> None:
    """A reader, or a rollback target, never sees a window deleted and not yet added."""
    settings = make_settings(tmp_path / "wh")
    events = recent_events(300)
    write_bronze(settings, events[:200], "sse:x")
    run_cycle(settings)
    write_bronze(settings, events[200:], "sse:x")  # the same hours again: replaced
    run_cycle(settings)
    hourly = Lakehouse(settings).table("gold.hourly_stats")
    for snapshot in hourly.snapshots():
        as_of = hourly.scan(snapshot_id=snapshot.snapshot_id).to_arrow()
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        silver_at = int(summary["wikistream.position"])
        silver = Lakehouse(settings).table("silver.events")
        counted = silver.scan(snapshot_id=silver_at).to_arrow().num_rows
        assert pc.sum(as_of.column("events")).as_py() == counted  # never a half state
    operations = [s.summary.operation.value for s in hourly.snapshots() if s.summary]
    assert "delete" not in operations and "overwrite" in operations


def test_a_rollback_never_lands_on_the_first_half_of_an_older_replacement(tmp_path: Path) -> None:
    """Older versions replaced windows as a delete and an append in one catalog commit: the
    delete half is listed by history, but no reader ever saw it."""
    settings = make_settings(tmp_path / "wh")
    write_bronze(settings, recent_events(100), "sse:x")
    run_cycle(settings)
    table = Lakehouse(settings).table("gold.hourly_stats")
    rows = table.scan().to_arrow()
    time.sleep(0.01)
    table.overwrite(rows, snapshot_properties={COMMIT_KEY: "old-style"})  # two snapshots
    table.refresh()
    delete_half, completed = (s.snapshot_id for s in lineage(table)[1::-1])
    refused = wikistream(
        "--warehouse",
        str(tmp_path / "wh"),
        "rollback",
        "gold.hourly_stats",
        "--to",
        str(delete_half),
        "--yes",
    )
    assert refused.returncode == 2 and f"roll back to {completed}" in refused.stderr
    when = datetime.fromtimestamp(table.snapshot_by_id(delete_half).timestamp_ms / 1000, UTC)
    assert resolve(table, when.isoformat()) == completed
    listed = wikistream("--warehouse", str(tmp_path / "wh"), "history", "gold.hourly_stats")
    assert "half of a replacement" in listed.stdout
