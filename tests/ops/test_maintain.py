"""Maintenance on real tables: compaction keeps the rows and cuts the files, expiry and
orphan removal never take what a reader or a layer still needs, positions survive."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.table import Table

from tests.support.events import recent_events, write_bronze
from tests.support.warehouse import make_settings, read_table
from wikistream.lakehouse import commits
from wikistream.lakehouse.maintenance import current_files, expire
from wikistream.lakehouse.positions import POSITION_KEY, SOURCE_KEY, stored_position
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS
from wikistream.ops.maintain import maintain
from wikistream.pipeline.process import Processor
from wikistream.settings import MaintenanceSettings, Settings

AGGRESSIVE = MaintenanceSettings(
    snapshot_retention_h=1e-6, keep_last_snapshots=1, orphan_age_h=0, min_small_files=2
)


def _sorted(table: pa.Table) -> list[dict[str, object]]:
    return table.sort_by("event_id").to_pylist()


def _all_layers(settings: Settings) -> dict[str, int]:
    catalog = Lakehouse(settings)
    return {
        name: catalog.table(name).scan().to_arrow().num_rows
        for name in ("bronze.events", "silver.events", "gold.hourly_stats")
    }


@pytest.mark.integration
@pytest.mark.timeout(600)
@pytest.mark.long
def test_compaction_of_1000_small_files_keeps_every_row_and_cuts_files_10x(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "wh")
    table = Lakehouse(settings).table(BRONZE_EVENTS)
    events = recent_events(3000)
    for day in (0, 1):  # two partitions
        for e in events[day * 1500 : (day + 1) * 1500]:
            e["meta"]["dt"] = (
                datetime.fromisoformat(e["meta"]["dt"]) - timedelta(days=day)
            ).isoformat()
    from tests.support.events import bronze_rows

    rows = bronze_rows(events)
    for commit in range(200):  # 1,000 files of 3 rows, as a busy writer leaves them
        _append_files([rows.slice(i * 3, 3) for i in range(commit * 5, commit * 5 + 5)], table)
        if commit % 20 == 19:  # as `run` does: expiry keeps commits fast; files stay small
            expire(table, datetime.now(UTC), keep_last=20, protected=set())
    table.refresh()
    before = _sorted(table.scan().to_arrow())
    files_before = len(current_files(table))

    processor = Processor(Lakehouse(settings))
    processor.run()  # silver reads bronze before the compaction ...
    [report] = maintain(Lakehouse(settings), settings.maintenance, ["bronze.events"])
    table.refresh()
    assert _sorted(table.scan().to_arrow()) == before
    files_after = len(current_files(table))
    assert files_before >= 1000 and files_after * 10 <= files_before
    compacted = report.compaction
    assert (compacted.files_before, compacted.files_after) == (files_before, files_after)
    write_bronze(settings, recent_events(10, age_s=5), "sse:x")  # ... and what came after it
    processor.run()
    processor.close()
    silver = read_table(settings, "silver.events")  # yesterday's 1,500 are late: quarantined
    assert silver.num_rows == 1510 == len(pc.unique(silver.column("event_id")))
    assert read_table(settings, "silver.quarantine").num_rows == 1500


def _append_files(parts: list[pa.Table], table: Table) -> None:
    """One commit adding each part as its own data file (5 small appends' worth of files)."""
    files = [
        data_file
        for part in parts
        for data_file in _dataframe_to_data_files(table.metadata, part, table.io, uuid.uuid4())
    ]
    with (
        table.transaction() as transaction,
        transaction.update_snapshot().fast_append() as append,
    ):
        for data_file in files:
            append.append_data_file(data_file)


def test_expiry_and_orphan_removal_keep_everything_readers_and_layers_need(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "wh")
    processor = Processor(Lakehouse(settings))
    for _ in range(4):
        write_bronze(settings, recent_events(50, age_s=20), "sse:x")
        processor.run()
    write_bronze(settings, recent_events(30, age_s=10), "sse:x")  # silver has not read this
    time.sleep(0.05)
    reports = maintain(Lakehouse(settings), AGGRESSIVE)
    assert sum(r.expiry.expired for r in reports) > 0
    assert sum(len(r.orphans.removed) for r in reports) > 0  # files of expired snapshots
    for name in ("bronze.events", "silver.events", "gold.hourly_stats", "gold.risk_scores"):
        read_table(settings, name)  # every remaining file is there
    processor.run()  # silver's position in bronze survived: it reads exactly the 30 new rows
    processor.close()
    layers = _all_layers(settings)
    assert layers["bronze.events"] == layers["silver.events"] == 230
    hourly = read_table(settings, "gold.hourly_stats")
    assert pc.sum(hourly.column("events")).as_py() == 230


def test_an_idle_source_keeps_its_position_through_expiry(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "wh")
    table = Lakehouse(settings).table(BRONZE_EVENTS)
    empty = BRONZE_EVENTS.schema.empty_table()
    commits.append(table, empty, {SOURCE_KEY: "file:/old/backfill.jsonl", POSITION_KEY: "9876"})
    for i in range(5):  # a busy live source afterwards
        commits.append(table, empty, {SOURCE_KEY: "sse:live", POSITION_KEY: str(i)})
    time.sleep(0.05)
    [report] = maintain(Lakehouse(settings), AGGRESSIVE, ["bronze.events"])
    assert report.carried_positions == ["file:/old/backfill.jsonl"]
    table = Lakehouse(settings).table("bronze.events")
    assert stored_position(table, "file:/old/backfill.jsonl") == "9876"
    assert stored_position(table, "sse:live") == "4"
    assert len(table.snapshots()) <= 3


@pytest.mark.integration
def test_maintenance_while_a_writer_runs_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    settings = make_settings(warehouse)
    env = {**os.environ, "WIKISTREAM_COMMIT__MAX_SECONDS": "0.2"}
    writer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wikistream",
            "--warehouse",
            str(warehouse),
            "run",
            "--source",
            "synthetic:3000",
            "--max-events",
            "30000",
            "--no-process",
            "--output",
            "json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    rounds = 0
    while writer.poll() is None and time.monotonic() < deadline:
        catalog = Lakehouse(settings)
        if catalog.exists("bronze.events"):
            maintain(
                catalog,
                MaintenanceSettings(
                    min_small_files=2,
                    snapshot_retention_h=1e-6,
                    keep_last_snapshots=3,
                    orphan_age_h=0.01,
                ),
                ["bronze.events"],
            )
            rounds += 1
    stdout, stderr = writer.communicate(timeout=60)
    assert writer.returncode == 0, stderr
    assert rounds >= 2
    events = read_table(settings, "bronze.events")
    import json

    summary = json.loads(stdout)
    assert events.num_rows == summary["accepted"] == len(pc.unique(events.column("event_id")))
    table = Lakehouse(settings).table("bronze.events")
    assert stored_position(table, "synthetic:seed=42") == "30000"
