"""One behaviour suite, run against every catalog setup that can run here (tests/support/
setups.py): the embedded SQLite default, PostgreSQL + S3, an Iceberg REST catalog (SigV4) +
S3, and Glue + S3. In-process where the library is the interface, through the real CLI with
a config file where the user is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.support.setups import Setup
from tests.support.warehouse import sample_lines
from wikistream.events.decode import EventDecoder
from wikistream.exceptions import PartitionsMoved
from wikistream.lakehouse import commits
from wikistream.lakehouse.documents import Documents
from wikistream.lakehouse.positions import stored_position, stored_positions
from wikistream.lakehouse.reads import appended_since
from wikistream.lakehouse.storage import table_storage
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS, DQ_RELEASES
from wikistream.layers.bronze import BronzeWriter
from wikistream.pipeline.process import Processor
from wikistream.pipeline.runner import run_ingest
from wikistream.settings import EVENT_TYPES, Settings
from wikistream.sources.base import SourceBatch
from wikistream.sources.file import FileSource


def _ready(setup: Setup, folder: Path, monkeypatch: Any) -> Settings:
    """The setup's settings, its environment (AWS credentials) set, its tables created."""
    for key, value in setup.env.items():
        monkeypatch.setenv(key, value)
    settings = setup.settings(folder)
    Lakehouse(settings).init()
    return settings


def cli(
    setup: Setup, folder: Path, *args: str, timeout: float = 300, **settings: Any
) -> subprocess.CompletedProcess[str]:
    """`wikistream --config FILE ARGS` as a user runs it on a host with the setup's
    environment (AWS credentials); `settings` are added to the config file."""
    config = setup.config(folder, filters={"domains": ["*"]}, **settings)
    return subprocess.run(
        [sys.executable, "-m", "wikistream", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=folder,
        env={**os.environ, **setup.env},
    )


def _events_file(folder: Path, lines: list[bytes], name: str = "events.jsonl") -> Path:
    path = folder / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _ids(lines: list[bytes]) -> set[str]:
    return set(EventDecoder(["*"], EVENT_TYPES).decode(lines).ids)


def test_init_append_restart_from_the_position_and_read_increments(
    setup: Setup, tmp_path: Path, monkeypatch: Any
) -> None:
    for key, value in setup.env.items():
        monkeypatch.setenv(key, value)
    created = cli(setup, tmp_path, "init", "--output", "json")
    assert created.returncode == 0, created.stderr
    assert set(json.loads(created.stdout)["tables"].values()) == {"created"}
    again = cli(setup, tmp_path, "init", "--output", "json")
    assert set(json.loads(again.stdout)["tables"].values()) == {"current"}
    settings = setup.settings(tmp_path)
    lines = sample_lines()[:600]
    path = _events_file(tmp_path, lines[:300])
    first = run_ingest(settings, FileSource(path))
    lakehouse = Lakehouse(settings)
    bronze = lakehouse.table(BRONZE_EVENTS)
    middle = bronze.current_snapshot().snapshot_id
    assert stored_position(bronze, first.source) == first.end_position
    path = _events_file(tmp_path, lines)  # the file grew: a restart reads only what is new
    second = run_ingest(settings, FileSource(path))
    assert second.start_position == first.end_position and second.stats.read == 300
    events = lakehouse.table(BRONZE_EVENTS).scan().to_arrow()
    assert Counter(events.column("event_id").to_pylist()).most_common(1)[0][1] == 1
    assert set(events.column("event_id").to_pylist()) == _ids(lines)
    increment, upto = appended_since(lakehouse.table(BRONZE_EVENTS), middle)
    assert set(increment.column("event_id").to_pylist()) == _ids(lines[300:])
    assert upto == lakehouse.table(BRONZE_EVENTS).current_snapshot().snapshot_id


def test_a_cycle_with_gates_then_query_status_history_time_travel_and_rollback(
    setup: Setup, tmp_path: Path, monkeypatch: Any
) -> None:
    settings = _ready(setup, tmp_path, monkeypatch)
    lines = sample_lines()
    run_ingest(settings, FileSource(_events_file(tmp_path, lines[:2000])))
    with Processor(Lakehouse(settings)) as processor:
        report = processor.run()
    assert report.held == {} and report.rows["silver.events"] == 2000
    silver_before = Lakehouse(settings).table("silver.events").current_snapshot().snapshot_id
    run_ingest(settings, FileSource(_events_file(tmp_path, lines[:3000])))
    with Processor(Lakehouse(settings)) as processor:
        processor.run()
    counts = cli(
        setup,
        tmp_path,
        "query",
        "--output",
        "json",
        "SELECT (SELECT count(*) FROM silver.events) AS silver, "
        "(SELECT sum(events) FROM gold.hourly_stats) AS gold",
    )
    assert counts.returncode == 0, counts.stderr
    assert json.loads(counts.stdout) == [{"silver": 3000, "gold": 3000}]
    then = cli(
        setup,
        tmp_path,
        "query",
        "--output",
        "json",
        "--as-of",
        str(silver_before),
        "SELECT count(*) AS n FROM silver.events",
    )
    assert json.loads(then.stdout) == [{"n": 2000}], then.stderr
    status = cli(setup, tmp_path, "status", "--output", "json")
    assert status.returncode in (0, 4), status.stderr
    tables = {t["table"]: t for t in json.loads(status.stdout)["tables"]}
    assert tables["bronze.events"]["rows"] == 3000 and tables["dq.results"]["rows"] > 0
    history = cli(setup, tmp_path, "history", "silver.events", "--output", "json")
    assert any(s["snapshot_id"] == silver_before for s in json.loads(history.stdout))
    rolled = cli(
        setup,
        tmp_path,
        "rollback",
        "silver.events",
        "--to",
        str(silver_before),
        "--yes",
        "--output",
        "json",
    )
    assert rolled.returncode == 0, rolled.stderr
    assert json.loads(rolled.stdout)["rows_after"] == 2000
    gold = cli(
        setup,
        tmp_path,
        "query",
        "--output",
        "json",
        "SELECT sum(events) AS n FROM gold.hourly_stats",
    )
    assert json.loads(gold.stdout) == [{"n": 2000}]  # gold rebuilt to match silver
    report = cli(setup, tmp_path, "dq", "report", "--output", "json")
    assert json.loads(report.stdout)["runs"] > 0
    with Processor(Lakehouse(settings)) as processor:
        processor.run()  # the next cycle catches silver up again
    final = cli(
        setup, tmp_path, "query", "--output", "json", "SELECT count(*) AS n FROM silver.events"
    )
    assert json.loads(final.stdout) == [{"n": 3000}]


def test_maintenance_compacts_expires_and_removes_orphans_never_a_live_file(
    setup: Setup, tmp_path: Path, monkeypatch: Any
) -> None:
    for key, value in setup.env.items():
        monkeypatch.setenv(key, value)
    settings = setup.settings(tmp_path)
    lakehouse = Lakehouse(settings)
    lakehouse.init()
    lines = sample_lines()[:1200]
    for step in range(1, 7):  # six small commits: six small files per day partition
        run_ingest(settings, FileSource(_events_file(tmp_path, lines[: step * 200])))
    bronze = lakehouse.table(BRONZE_EVENTS)
    storage = table_storage(bronze.io, bronze.location())
    orphan = f"{bronze.location()}/data/orphan-left-by-a-crashed-writer.parquet"
    storage.write(orphan, b"not referenced by any snapshot")
    maintained = cli(
        setup,
        tmp_path,
        "maintain",
        "--table",
        "bronze.events",
        "--retention-hours",
        "0.0001",
        "--orphan-age-hours",
        "0",
        "--output",
        "json",
        maintenance={"keep_last_snapshots": 1},
    )
    assert maintained.returncode == 0, maintained.stderr
    [report] = json.loads(maintained.stdout)
    assert report["compaction"]["files_before"] > report["compaction"]["files_after"] >= 1
    assert report["expiry"]["expired"] > 0
    removed = [_normal(p) for p in report["orphans"]["removed"]]
    assert _normal(orphan) in removed  # and what compaction and expiry left behind
    bronze = lakehouse.table(BRONZE_EVENTS)
    assert _normal(bronze.metadata_location) not in removed
    events = bronze.scan().to_arrow()  # every file a snapshot refers to is still there
    assert set(events.column("event_id").to_pylist()) == _ids(lines)
    assert stored_position(bronze, FileSource(tmp_path / "events.jsonl").name) is not None


def _normal(location: str) -> str:
    return location.removeprefix("file://")


def test_backfill_manifest_in_the_warehouse_and_bronze_quarantine_replay(
    setup: Setup, tmp_path: Path, monkeypatch: Any
) -> None:
    for key, value in setup.env.items():
        monkeypatch.setenv(key, value)
    lines = sample_lines()
    files = tmp_path / "dump"
    files.mkdir()
    _events_file(files, lines[:500] + [b"{not json"], "part-1.jsonl")
    _events_file(files, lines[500:1000], "part-2.jsonl")
    done = cli(
        setup, tmp_path, "backfill", "--source", f"file:{files}/part-*.jsonl", "--output", "json"
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["state"] == "completed" and manifest["items"][0]["quarantined"] == 1
    settings = setup.settings(tmp_path)
    stored = Documents(settings).read(f"runs/{manifest['run_id']}/manifest.json")
    assert stored is not None and stored["state"] == "completed"
    assert len(Documents(settings).read_lines(f"runs/{manifest['run_id']}/audit.jsonl")) >= 6
    if setup.remote:
        assert not (tmp_path / "warehouse").exists()  # documents went to object storage
    runs = cli(
        setup, tmp_path, "query", "--output", "json", "SELECT state, rows_written FROM ops.runs"
    )
    assert json.loads(runs.stdout) == [{"state": "completed", "rows_written": 1000}]
    again = cli(
        setup, tmp_path, "backfill", "--source", f"file:{files}/part-*.jsonl", "--output", "json"
    )
    assert again.returncode == 0 and json.loads(again.stdout)["state"] == "completed"
    replay = cli(setup, tmp_path, "quarantine", "replay", "--layer", "bronze", "--output", "json")
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout) == {
        "layer": "bronze",
        "selected": 1,
        "promoted": 0,
        "still_failing": 1,
        "dry_run": False,
    }
    bronze = Lakehouse(settings).table(BRONZE_EVENTS).scan().to_arrow()
    assert bronze.num_rows == 1000 == len(pc.unique(bronze.column("event_id")))


def test_concurrent_appends_from_two_writers_are_retried_not_lost(
    setup: Setup, tmp_path: Path, monkeypatch: Any
) -> None:
    settings = _ready(setup, tmp_path, monkeypatch)
    first = Lakehouse(settings).table("dq.releases")
    second = Lakehouse(settings).table("dq.releases")  # both now hold the same snapshot

    def row(run_id: str) -> pa.Table:
        return pa.Table.from_pylist(
            [
                {
                    "run_id": run_id,
                    "layer": "silver",
                    "table_name": "silver.events",
                    "input_to": "1",
                    "released_at": datetime.now(UTC),
                }
            ],
            DQ_RELEASES.schema,
        )

    commits.append(first, row("a"), {})
    commits.append(second, row("b"), {})  # loses the race, reloads, retries
    rows = Lakehouse(settings).table("dq.releases").scan().to_arrow()
    assert sorted(rows.column("run_id").to_pylist()) == ["a", "b"]


def test_a_lease_has_one_holder_and_passes_on_when_it_runs_out(
    setup: Setup, tmp_path: Path, monkeypatch: Any
) -> None:
    settings = _ready(setup, tmp_path, monkeypatch)
    first = Lakehouse(settings).lease("process", "first", ttl_s=2.0)
    second = Lakehouse(settings).lease("process", "second", ttl_s=2.0)
    assert first.acquire()
    assert not second.acquire()  # held: the catalog's compare-and-swap keeps it
    time.sleep(2.2)
    assert second.acquire() and not first.acquire()
    assert first.state().holder == "second"


def test_workers_commit_their_own_partitions_and_never_another_s(
    setup: Setup, tmp_path: Path, monkeypatch: Any
) -> None:
    """Two bronze writers of one partitioned source on one table (Kafka workers): each
    stores its partitions' positions; one whose partition moved to the other is refused."""
    settings = _ready(setup, tmp_path, monkeypatch)
    lines = sample_lines()[:400]
    a = BronzeWriter(Lakehouse(settings), "kafka:rc")
    b = BronzeWriter(Lakehouse(settings), "kafka:rc")
    assert a.stored(["0"]) == {} and b.stored(["1"]) == {}
    a.add(SourceBatch(lines[:200], [str(n + 1) for n in range(200)], ["0"] * 200))
    b.add(SourceBatch(lines[200:], [str(n + 1) for n in range(200)], ["1"] * 200))
    a.flush()
    if setup.name == "glue":
        # moto's Glue ignores UpdateTable's VersionId (AWS Glue's optimistic lock that
        # PyIceberg sends), so two commits at once overwrite each other there: in turn.
        a.close()
    b.flush()
    a.close()
    b.close()
    table = Lakehouse(settings).table(BRONZE_EVENTS)
    assert stored_positions(table)["kafka:rc"] == {"0": "200", "1": "200"}
    # partition 1 moves to a new owner, which commits; the old owner's late batch is refused
    c = BronzeWriter(Lakehouse(settings), "kafka:rc")
    assert c.stored(["1"]) == {"1": "200"}
    stale = BronzeWriter(Lakehouse(settings), "kafka:rc")
    stale.positions["1"] = "150"  # what it had seen before it stalled
    c.add(SourceBatch([lines[0]], ["201"], ["1"]))
    c.flush()
    c.close()
    stale.add(SourceBatch([lines[1]], ["201"], ["1"]))
    stale.flush()
    with pytest.raises(PartitionsMoved):
        stale.close()
    assert stored_positions(Lakehouse(settings).table(BRONZE_EVENTS))["kafka:rc"]["1"] == "201"
    rows = Lakehouse(settings).table(BRONZE_EVENTS).scan().to_arrow().num_rows
    assert rows == len(_ids(lines))  # the late batch added nothing
