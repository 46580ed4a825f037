"""`wikistream backfill --workers 2`: one file loaded in parts by two processes at once.

The file repeats its events (the second half is the first again), so both workers commit
the same events at the same moments: each must be in bronze once. A backfill stopped with
SIGTERM, and one whose worker is SIGKILLed, complete when run again without a row twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import wikistream
from tests.ops.test_backfill import _args, _bronze_ids, _manifest
from wikistream.sources.synthetic import SyntheticGenerator


def _repeating_file(path: Path, events: int) -> Path:
    generator = SyntheticGenerator(seed=11, start="2026-03-01T00:00:00Z")
    half = b"".join(generator.record(i) + b"\n" for i in range(events))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(half + half)
    return path


def _reference(tmp_path: Path, source: str) -> list[str]:
    clean = tmp_path / "clean"
    done = wikistream(*_args(tmp_path, clean, "backfill", "--source", source, "--no-process"))
    assert done.returncode == 0, done.stderr
    ids = sorted(_bronze_ids(clean))
    assert len(ids) == len(set(ids))
    return ids


def _two_worker_backfill(tmp_path: Path, events: int) -> tuple[list[str], Path, list[str]]:
    """The arguments of a two-worker backfill of a repeating file, its warehouse, and the
    event ids a one-worker backfill of the same file writes."""
    source = f"file:{_repeating_file(tmp_path / 'history.jsonl', events)}"
    expected = _reference(tmp_path, source)
    warehouse = tmp_path / "wh"
    args = _args(
        tmp_path,
        warehouse,
        "backfill",
        "--source",
        source,
        "--workers",
        "2",
        "--no-process",
        "--output",
        "json",
    )
    return args, warehouse, expected


@pytest.mark.integration
def test_two_workers_write_each_event_once_though_both_parts_hold_it(tmp_path: Path) -> None:
    args, warehouse, expected = _two_worker_backfill(tmp_path, 20_000)
    done = wikistream(*args)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["state"] == "completed"
    assert [i["state"] for i in manifest["items"]] == ["done", "done"]
    assert all("@bytes=" in i["key"] for i in manifest["items"])
    assert sum(i["read"] for i in manifest["items"]) == 40_000
    assert sorted(_bronze_ids(warehouse)) == expected  # none lost, none twice
    assert sum(i["rows"] for i in manifest["items"]) == len(expected)


def _workers_of(parent: int) -> list[int]:
    """The spawned worker processes of `parent` (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in command and b"resource_tracker" not in command:
            found.append(int(entry.name))
    return found


def _start_and_wait_for_commits(args: list[str], warehouse: Path) -> tuple[Any, list[int]]:
    """The backfill started, once both workers run and bronze has a commit."""
    command = [sys.executable, "-m", "wikistream", *args]
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        workers = _workers_of(parent.pid)
        time.sleep(0.05)
    assert len(workers) == 2
    bronze = warehouse / "bronze"
    while time.monotonic() < deadline and not list(bronze.rglob("*.parquet")):
        time.sleep(0.05)
    time.sleep(0.5)
    return parent, workers


@pytest.mark.integration
def test_a_stopped_or_killed_parallel_backfill_completes_when_run_again(tmp_path: Path) -> None:
    args, warehouse, expected = _two_worker_backfill(tmp_path, 30_000)
    with (tmp_path / "wikistream.toml").open("a") as config:
        config.write("[commit]\nmax_events = 2000\n")  # commits early: signals land mid-part

    # SIGTERM to the backfill: the workers commit what they read; the run is interrupted.
    parent, workers = _start_and_wait_for_commits(args, warehouse)
    parent.send_signal(signal.SIGTERM)
    out, err = parent.communicate(timeout=300)
    assert parent.returncode == 130, err
    manifest = json.loads(out)
    assert manifest["state"] == "interrupted"
    assert all(i["state"] in ("interrupted", "done") for i in manifest["items"])
    # What each item wrote before the stop is in its counts: they add up to bronze.
    assert sum(i["rows"] for i in manifest["items"]) == len(_bronze_ids(warehouse))
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # none left behind
    ids = _bronze_ids(warehouse)
    assert len(ids) == len(set(ids))

    # SIGKILL to one worker: its part fails, the other completes; nothing twice.
    parent, workers = _start_and_wait_for_commits(args, warehouse)
    os.kill(workers[0], signal.SIGKILL)
    out, err = parent.communicate(timeout=300)
    assert parent.returncode == 1, err  # partial: one item failed
    manifest = json.loads(out)
    assert manifest["state"] == "partial"
    assert sorted(i["state"] for i in manifest["items"]) == ["done", "failed"]
    [failed] = [i for i in manifest["items"] if i["state"] == "failed"]
    assert "exited with code -9" in failed["error"]
    ids = _bronze_ids(warehouse)
    assert len(ids) == len(set(ids))

    again = wikistream(*args)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["state"] == "completed"
    assert sorted(_bronze_ids(warehouse)) == expected
    assert _manifest(warehouse)["state"] == "completed"
