"""`wikistream backfill` as an operator runs it: killed halfway and re-run, a damaged file,
a changed file, a stream in hour slices. Every row lands once; the manifest tells the truth."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.cli.test_cli import wikistream
from tests.support.sse_server import EventStreamsServer, Script
from tests.support.warehouse import make_settings, read_table
from wikistream.sources.synthetic import SyntheticGenerator

ALL_WIKIS = '[filters]\ndomains = ["*"]\n'


def _files(folder: Path, files: int, per_file: int) -> list[Path]:
    """Synthetic history: `files` NDJSON files (every other one gzip), distinct events."""
    generator = SyntheticGenerator(seed=7, start="2026-03-01T00:00:00Z")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(files):
        data = b"".join(generator.record(n * per_file + i) + b"\n" for i in range(per_file))
        path = folder / f"part-{n}.jsonl{'.gz' if n % 2 else ''}"
        path.write_bytes(gzip.compress(data, compresslevel=1) if n % 2 else data)
        paths.append(path)
    return paths


def _args(tmp_path: Path, warehouse: Path, *args: str) -> list[str]:
    config = tmp_path / "wikistream.toml"
    config.write_text(ALL_WIKIS)
    return ["--config", str(config), "--warehouse", str(warehouse), *args]


def _manifest(warehouse: Path) -> dict[str, object]:
    [path] = (warehouse / "runs").glob("*/manifest.json")
    data: dict[str, object] = json.loads(path.read_text())
    return data


def _bronze_ids(warehouse: Path) -> list[str]:
    ids: list[str] = (
        read_table(make_settings(warehouse), "bronze.events").column("event_id").to_pylist()
    )
    return ids


@pytest.mark.integration
def test_a_backfill_killed_halfway_and_run_again_loads_each_row_once(tmp_path: Path) -> None:
    paths = _files(tmp_path / "history", files=6, per_file=15_000)
    source = f"file:{tmp_path / 'history'}/part-*"

    # The reference: the same backfill, never interrupted.
    clean = tmp_path / "clean"
    done = wikistream(*_args(tmp_path, clean, "backfill", "--source", source, "--no-process"))
    assert done.returncode == 0, done.stderr
    expected = sorted(_bronze_ids(clean))
    assert len(expected) == len(set(expected)) > 80_000

    warehouse = tmp_path / "wh"
    args = _args(tmp_path, warehouse, "backfill", "--source", source, "--no-process")
    command = [sys.executable, "-m", "wikistream", *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    states: list[str] = []
    while time.monotonic() < deadline:  # kill once some items are done and one is loading
        try:
            states = [item["state"] for item in _manifest(warehouse)["items"]]  # type: ignore[attr-defined]
        except (ValueError, OSError):
            states = []
        if states.count("done") >= 2 and "running" in states:
            break
        time.sleep(0.05)
    time.sleep(0.3)  # into the item's first commits
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert states.count("done") >= 2 and states.count("done") < len(paths), states
    killed = _manifest(warehouse)
    assert killed["state"] == "running"  # the truth: it never finished

    again = wikistream(
        *_args(
            tmp_path, warehouse, "backfill", "--source", source, "--no-process", "--output", "json"
        )
    )
    assert again.returncode == 0, again.stderr
    manifest = json.loads(again.stdout)
    assert manifest["state"] == "completed" and manifest["finished_at"]
    assert [item["state"] for item in manifest["items"]] == ["done"] * len(paths)
    ids = _bronze_ids(warehouse)
    assert sorted(ids) == expected  # none lost, none twice
    audit = [
        json.loads(line)
        for line in next((warehouse / "runs").glob("*/audit.jsonl")).read_text().splitlines()
    ]
    events = [(line["item"], line["event"]) for line in audit]
    assert sum(event == "planned" for _, event in events) == len(paths)
    assert sum(event == "done" for _, event in events) == len(paths)
    resumed = [item for item, event in events if event == "started"]
    assert len(resumed) == len(paths) + 1  # the killed item was started twice
    assert all(len(line["sha256"]) == 64 for line in audit)

    runs = wikistream(
        *_args(
            tmp_path,
            warehouse,
            "query",
            "SELECT run_id, state, items_done, rows_written FROM ops.runs",
            "--output",
            "json",
        )
    )
    [row] = json.loads(runs.stdout)
    assert row["state"] == "completed" and row["items_done"] == len(paths)
    assert row["run_id"] == manifest["run_id"]


def test_a_damaged_file_leaves_the_run_partial_and_a_fixed_one_completes_it(
    tmp_path: Path,
) -> None:
    paths = _files(tmp_path / "history", files=3, per_file=2_000)
    clean = tmp_path / "clean"
    reference = _args(
        tmp_path, clean, "backfill", "--source", f"file:{tmp_path}/history/*", "--no-process"
    )
    assert wikistream(*reference).returncode == 0
    expected = sorted(_bronze_ids(clean))
    damaged = paths[1]  # gzip: cut in the middle, as an interrupted download would be
    whole = damaged.read_bytes()
    damaged.write_bytes(whole[: len(whole) // 2])
    warehouse = tmp_path / "wh"
    args = _args(
        tmp_path,
        warehouse,
        "backfill",
        *[a for p in paths for a in ("--source", f"file:{p}")],
        "--no-process",
    )

    first = wikistream(*args)
    assert first.returncode == 1
    manifest = _manifest(warehouse)
    items = {Path(i["key"]).name: i for i in manifest["items"]}  # type: ignore[attr-defined]
    assert manifest["state"] == "partial"
    assert [items[p.name]["state"] for p in paths] == ["done", "failed", "done"]
    assert "InputBroken" in items[damaged.name]["error"]
    assert "compressed data is corrupt or cut short" in items[damaged.name]["error"]
    assert "failed" in first.stdout and "run the same command again" in first.stderr

    damaged.write_bytes(whole)  # downloaded again
    second = wikistream(*args, "--output", "json")
    assert second.returncode == 0, second.stderr
    manifest = json.loads(second.stdout)
    assert manifest["state"] == "completed"
    assert sorted(_bronze_ids(warehouse)) == expected

    paths[0].write_bytes(paths[0].read_bytes() + b"\n")  # a finished file changes: refuse
    changed = wikistream(*args)
    assert changed.returncode == 2 and "changed since run" in changed.stderr


def test_a_stream_backfill_loads_its_hour_slices_once(tmp_path: Path, samples: list[bytes]) -> None:
    with EventStreamsServer(samples[:3000], Script(hold_open_at_end_s=30)) as server:
        times = sorted(datetime.fromisoformat(json.loads(s)["meta"]["dt"]) for s in samples[:3000])
        since, until = times[200], times[1500]  # the stream goes on > 60 s past until
        warehouse = tmp_path / "wh"
        args = _args(
            tmp_path,
            warehouse,
            "backfill",
            "--source",
            f"sse:{server.url}",
            "--since",
            since.isoformat(),
            "--until",
            until.isoformat(),
            "--slice-hours",
            "0.01",
            "--no-process",
            "--output",
            "json",
        )
        result = wikistream(*args)
        assert result.returncode == 0, result.stderr
        manifest = json.loads(result.stdout)
        slices = manifest["items"]
        assert len(slices) >= 3 and {i["state"] for i in slices} == {"done"}
        sinces = [r["since"] for r in server.observed.requests]
        assert sinces == [i["since"] for i in slices]  # one connection per slice, from its start
        expected = sum(since <= t < until for t in times)
        ids = _bronze_ids(warehouse)
        assert len(ids) == len(set(ids)) == expected
        assert wikistream(*args).returncode == 0  # again: nothing to do, nothing added
        assert len(_bronze_ids(warehouse)) == expected
        assert len(server.observed.requests) == len(slices)


def test_backfill_explains_bad_input(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    missing = wikistream(*_args(tmp_path, warehouse, "backfill", "--source", "file:/nope.jsonl"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert not os.path.exists(warehouse / "runs")
    stream = wikistream(*_args(tmp_path, warehouse, "backfill", "--source", "live"))
    assert stream.returncode == 2 and "needs --since" in stream.stderr
    synthetic = wikistream(*_args(tmp_path, warehouse, "backfill", "--source", "synthetic"))
    assert synthetic.returncode == 2 and "file:PATH" in synthetic.stderr
    one, other = tmp_path / "one.jsonl", tmp_path / "other.jsonl"
    for path in (one, other):
        path.write_bytes(SyntheticGenerator(seed=1).record(0) + b"\n")
    named = ("backfill", "--run-id", "nightly", "--no-process", "--source")
    assert wikistream(*_args(tmp_path, warehouse, *named, f"file:{one}")).returncode == 0
    reused = wikistream(*_args(tmp_path, warehouse, *named, f"file:{other}"))
    assert reused.returncode == 2 and "planned for other sources" in reused.stderr


def test_a_backfill_killed_right_after_its_last_item_completes_when_run_again(
    tmp_path: Path,
) -> None:
    from wikistream.lakehouse.store import Lakehouse
    from wikistream.ops.backfill import plan, run
    from wikistream.ops.manifest import DONE, RUNNING, record

    [path] = _files(tmp_path / "history", files=1, per_file=500)
    warehouse = tmp_path / "wh"
    args = _args(tmp_path, warehouse, "backfill", "--source", f"file:{path}", "--no-process")
    assert wikistream(*args).returncode == 0
    # What a SIGKILL between the last item and the run's final record leaves behind:
    settings = make_settings(warehouse, filters={"domains": ["*"]})
    lakehouse = Lakehouse(settings)
    manifest = plan(lakehouse, [f"file:{path}"], None, None)
    assert [i.state for i in manifest.items] == [DONE]
    manifest.state, manifest.finished_at = RUNNING, None
    record(lakehouse, lakehouse.documents, manifest, [])
    again = wikistream(*args, "--output", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["state"] == "completed"
    assert run(lakehouse, plan(lakehouse, [f"file:{path}"], None, None)).state == ("completed")
    runs = read_table(settings, "ops.runs").to_pylist()
    assert [r["state"] for r in runs] == ["completed"]


def test_item_counts_add_up_to_what_bronze_holds_across_a_failed_attempt(tmp_path: Path) -> None:
    """A truncated .gz fails after committing part of itself; fixed and re-run, the item's
    rows count what both attempts wrote, which is what bronze holds from it."""
    [path] = _files(tmp_path / "history", files=2, per_file=20_000)[1:]  # the .gz one
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 3 // 4])
    warehouse = tmp_path / "wh"
    args = _args(tmp_path, warehouse, "backfill", "--source", f"file:{path}", "--no-process")
    first = wikistream(*args, "--output", "json")
    assert first.returncode == 1
    [item] = json.loads(first.stdout)["items"]
    assert item["state"] == "failed" and item["rows"] == len(_bronze_ids(warehouse)) > 0
    path.write_bytes(whole)
    second = wikistream(*args, "--output", "json")
    assert second.returncode == 0, second.stderr
    [item] = json.loads(second.stdout)["items"]
    ids = _bronze_ids(warehouse)
    assert item["rows"] == len(ids) == len(set(ids))  # both attempts counted, nothing twice
    assert item["read"] >= 20_000


def test_a_stream_backfill_that_cannot_reach_the_stream_exits_3(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = _args(
        tmp_path,
        tmp_path / "wh",
        "backfill",
        "--source",
        f"sse:http://127.0.0.1:{port}/v2/stream/recentchange",
        "--since",
        "2026-12-01T00:00:00Z",
        "--until",
        "2026-12-01T02:00:00Z",
    )
    result = wikistream(*args, env={"WIKISTREAM_SOURCE__BACKOFF_INITIAL_S": "0.05"})
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach" in errors[0], result.stderr
