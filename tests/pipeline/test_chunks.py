"""Rebuilds in chunks: the same rows as one shot, a kill mid-rebuild resumed, and a silver
rewrite of one day rebuilding that day's gold windows only."""

from __future__ import annotations

import json
import signal
import time
from datetime import date
from pathlib import Path

import pytest

from tests.support.events import spread_history, write_bronze
from tests.support.processes import spawn
from tests.support.warehouse import all_layers, make_settings
from wikistream.lakehouse.positions import summary_value
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import GOLD_TABLES, SILVER_EVENTS
from wikistream.pipeline.chunks import REBUILD_KEY, Chunk, plan_chunks
from wikistream.pipeline.process import Processor
from wikistream.settings import Settings

TINY = {"max_rows_per_chunk": 1000}  # the smallest budget allowed


def _ingest(settings: Settings, events: list[dict[str, object]], per_commit: int) -> None:
    for at in range(0, len(events), per_commit):
        write_bronze(settings, events[at : at + per_commit], "file:/data/history.jsonl")


def _process(settings: Settings, **kwargs: object) -> dict[str, int]:
    with Processor(Lakehouse(settings)) as processor:
        report = processor.run(**kwargs)  # type: ignore[arg-type]
    assert not report.held, report.held
    return report.rows


def test_plan_groups_days_under_the_budget_and_slices_a_large_day() -> None:
    days = {date(2026, 10, d): n for d, n in ((1, 400), (2, 500), (3, 300), (4, 2500), (5, 10))}
    chunks = plan_chunks(days, 1000)
    assert [c.days for c in chunks[:2]] == [
        (date(2026, 10, 1), date(2026, 10, 2)),
        (date(2026, 10, 3),),
    ]
    slices = [c for c in chunks if c.days == (date(2026, 10, 4),)]
    assert [(c.start.hour, c.end.hour if c.end.hour else 24) for c in slices] == [  # type: ignore[union-attr]
        (0, 8),
        (8, 16),
        (16, 24),
    ]
    assert chunks[-1] == Chunk((date(2026, 10, 5),), 10)
    ends = [c.until for c in chunks]
    assert ends == sorted(ends)  # a resumed rebuild skips the chunks that end before it


def test_rebuilds_in_tiny_chunks_equal_the_one_shot_result(tmp_path: Path) -> None:
    """Six days, one of them ten times larger (cut into hour slices), 1,000 rows a chunk:
    the catch-up after bronze-only ingestion, the full refresh and the gold rebuild all
    give the rows one unchunked cycle gives."""
    history = spread_history(6, 150, big_day=4)
    whole = make_settings(tmp_path / "whole")
    _ingest(whole, history, 5000)
    _process(whole)
    expected = all_layers(whole)
    assert len(expected["silver.events"]) == len(history)

    chunked = make_settings(tmp_path / "chunked", process=TINY)
    _ingest(chunked, history, 250)  # 12 bronze snapshots: a catch-up of several increments
    silver = Lakehouse(chunked).table(SILVER_EVENTS)
    rows = _process(chunked)
    assert rows["silver.events"] == len(history)
    silver.refresh()
    commits = [s for s in silver.metadata.snapshots if summary_value(s, "added-records")]
    assert len(commits) >= 3  # the catch-up went in increments under the budget
    assert all_layers(chunked) == expected

    rows = _process(chunked, full_refresh=True)
    assert rows["silver.events"] == len(history)
    silver.refresh()
    markers = [s for s in silver.metadata.snapshots if summary_value(s, REBUILD_KEY)]
    # Days 1-3 (450 rows), day 4 in two slices (1,500), days 5-6 (300): four chunks, the
    # first three leave a marker.
    assert len(markers) == 3
    assert all_layers(chunked) == expected

    _process(chunked, layer="gold", full_refresh=True)
    assert all_layers(chunked) == expected


def _newest_marker(settings: Settings, identifier: str) -> str | None:
    table = Lakehouse(settings).table(identifier)
    snapshot = table.current_snapshot()
    return None if snapshot is None else summary_value(snapshot, REBUILD_KEY)


@pytest.mark.integration
def test_a_rebuild_killed_mid_chunk_resumes_and_equals_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    """`process --full-refresh` SIGKILLed during silver's chunks, then again during a gold
    table's chunks; the same command each time after: the rows of an uninterrupted run."""
    history = spread_history(12, 700)
    whole = make_settings(tmp_path / "whole")
    _ingest(whole, history, 10_000)
    _process(whole)
    expected = all_layers(whole)

    warehouse = tmp_path / "killed"
    settings = make_settings(warehouse, process=TINY)
    _ingest(settings, history, 10_000)
    config = tmp_path / "wikistream.toml"
    config.write_text('[filters]\ndomains = ["*"]\n[process]\nmax_rows_per_chunk = 1000\n')
    command = ("--config", str(config), "--warehouse", str(warehouse), "process", "--full-refresh")
    log = tmp_path / "process.log"
    for table in (SILVER_EVENTS.identifier, "gold.metrics_10min"):
        process = spawn(log, *command)
        deadline = time.monotonic() + 120
        while _newest_marker(settings, table) is None:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no chunk committed in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert _newest_marker(settings, table) is not None  # killed between two chunks
    finished = spawn(log, *command, "--output", "json")
    assert finished.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert all(_newest_marker(settings, t.identifier) is None for t in GOLD_TABLES)
    assert all_layers(settings) == expected


def test_a_silver_replay_of_one_day_rebuilds_only_that_days_gold_windows(tmp_path: Path) -> None:
    history = spread_history(5, 300)
    settings = make_settings(tmp_path / "wh")
    _ingest(settings, history, 5000)
    _process(settings)
    expected = all_layers(settings)
    lakehouse = Lakehouse(settings)
    before = {t.identifier: lakehouse.table(t).current_snapshot() for t in GOLD_TABLES}

    day = date(2026, 10, 3)
    with Processor(lakehouse) as processor:
        replayed = processor.recompute_silver([day])
        rebuilt = processor.run()
    assert replayed.rows["silver.events"] == 300
    for table_def in GOLD_TABLES:
        table = lakehouse.table(table_def)
        start = before[table_def.identifier]
        assert start is not None
        after = [s for s in table.metadata.snapshots if s.sequence_number > start.sequence_number]
        assert len(after) == 1, table_def.identifier  # one day: one chunk, one commit
        summary = after[0].summary
        assert summary is not None
        assert summary["changed-partition-count"] == "1", (table_def.identifier, summary)
        assert int(summary["added-records"] or 0) == rebuilt.rows[table_def.identifier]
        assert int(summary["deleted-records"] or 0) == rebuilt.rows[table_def.identifier]
        assert json.loads(json.dumps(summary["total-records"])) == summary["total-records"]
    assert all_layers(settings) == expected
