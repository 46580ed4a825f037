"""Soak: `wikistream run` on a 500 events/s stream for two minutes with maintenance running,
while this (second) process queries the tables over and over."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.cli.test_cli import wikistream
from tests.support.warehouse import make_settings
from wikistream.lakehouse.query import run_query
from wikistream.lakehouse.store import Lakehouse

RUN_SECONDS = 120


@pytest.mark.integration
@pytest.mark.timeout(600)
@pytest.mark.long
def test_soak_500_events_per_second_with_maintenance_and_a_concurrent_reader(
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "wh"
    env = {
        **os.environ,
        "WIKISTREAM_MAINTENANCE__INTERVAL_S": "15",  # maintenance several times in the run
        "WIKISTREAM_MAINTENANCE__MIN_SMALL_FILES": "3",
        "WIKISTREAM_MAINTENANCE__SNAPSHOT_RETENTION_H": "0.005",  # 18 s
        "WIKISTREAM_MAINTENANCE__KEEP_LAST_SNAPSHOTS": "5",
        "WIKISTREAM_MAINTENANCE__ORPHAN_AGE_H": "0.005",
    }
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wikistream",
            "--warehouse",
            str(warehouse),
            "run",
            "--source",
            "synthetic:500",
            "--max-seconds",
            str(RUN_SECONDS),
            "--output",
            "json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    memory: list[int] = []
    queries, failures = 0, []
    done = threading.Event()

    def sample_memory() -> None:
        process = psutil.Process(run.pid)
        while not done.wait(2):
            try:
                memory.append(process.memory_info().rss)
            except psutil.NoSuchProcess:
                return

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    settings = make_settings(warehouse)
    while run.poll() is None:
        try:
            catalog = Lakehouse(settings)
            if catalog.exists("gold.hourly_stats"):
                run_query(catalog, "SELECT sum(events) AS n FROM gold.hourly_stats")
                run_query(catalog, "SELECT count(*) AS n FROM silver.events")
                queries += 1
        except Exception as exc:  # any failed read is a finding
            failures.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.5)
    done.set()
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr[-3000:]
    assert failures == [] and queries >= 20

    summary = json.loads(stdout)
    assert summary["events_read"] >= 0.8 * 500 * RUN_SECONDS
    status = wikistream("--warehouse", str(warehouse), "status", "--output", "json")
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert report["healthy"] and report["problems"] == []
    counts = {t["table"]: t["rows"] for t in report["tables"]}
    accepted = summary["accepted"]
    assert counts["bronze.events"] == accepted
    gold = run_query(Lakehouse(settings), "SELECT sum(events) AS n FROM gold.hourly_stats")
    silver_quarantined = counts["silver.quarantine"]
    assert gold.column("n")[0].as_py() == accepted - silver_quarantined == counts["silver.events"]
    maintenance = report["components"].get("maintenance", {})
    assert maintenance.get("last_success"), report["components"]
    files = {t["table"]: t["data_files"] for t in report["tables"]}
    assert files["bronze.events"] < summary["commits"]  # compaction kept up with the commits

    # Flat: the last third of the run does not sit higher than the middle third (maintenance
    # reading a partition makes short peaks; growth would raise the whole level).
    third = len(memory) // 3
    middle, last = (
        statistics.median(memory[third : 2 * third]),
        statistics.median(memory[2 * third :]),
    )
    assert last < 1.25 * middle, [m // 2**20 for m in memory]
