"""Processing at history scale: memory bounded by a chunk, not by the warehouse.

For each size: generated events spread over `--days` days are backfilled into bronze
(`backfill --no-process`, not the figure here), then three real `wikistream` processes are
timed, each with the peak RSS of its whole process tree sampled every 100 ms:

    catch_up       `process`                      silver and gold of everything backfilled
    full_refresh   `process --full-refresh`       silver and gold rebuilt from bronze
    gold_replay    `replay --layer gold --from earliest`

With --ray the full refresh runs again on a local two-node Ray cluster (two `ray start`
processes); its figure adds the nodes' RSS to the driver's. JSON on stdout (and in
bench/results/scale.json).

    .venv/bin/python bench/scale.py                          # 1 M, 4 M, 8 M events, 30 days
    .venv/bin/python bench/scale.py --events 1000000 --ray
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from datagen import ensure_events_file  # noqa: E402

DATA = Path(__file__).parent / "data"
RESULTS = Path(__file__).parent / "results" / "scale.json"


class TreeRss:
    """Peak RSS (MB) of processes and all their descendants, sampled in a thread."""

    def __init__(self, *pids: int) -> None:
        self._pids = pids
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self._pids:
                try:
                    root = psutil.Process(pid)
                    for process in [root, *root.children(recursive=True)]:
                        total += process.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_mb = max(self.peak_mb, total / 2**20)
            time.sleep(0.1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak_mb, 1)


def _wikistream(
    config: Path,
    warehouse: Path,
    *args: str,
    watch: tuple[int, ...] = (),
    env: dict[str, str] | None = None,
) -> Any:
    command = [
        *(sys.executable, "-m", "wikistream", "--log-level", "warning", "--config", str(config)),
        *("--warehouse", str(warehouse), *args, "--output", "json"),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    rss = TreeRss(process.pid, *watch)
    out, err = process.communicate()
    peak = rss.stop()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{err[-3000:]}")
    return seconds, peak, json.loads(out) if out.strip() else {}


def _step(name: str, events: int, measured: tuple[float, float, Any]) -> dict[str, Any]:
    seconds, peak, _ = measured
    row = {
        "step": name,
        "seconds": round(seconds, 1),
        "peak_rss_mb": peak,
        "rows_per_s": round(events / seconds),
    }
    print(json.dumps({"events": events, **row}), file=sys.stderr)
    return row


def one_size(events: int, days: float, folder: Path, ray: str | None) -> dict[str, Any]:
    path = ensure_events_file(DATA / f"history-{events}-{days:g}d.jsonl", events, days)
    warehouse = folder / f"wh-{events}"
    config = folder / "wikistream.toml"
    config.write_text('[filters]\ndomains = ["*"]\n')
    started = time.perf_counter()
    _wikistream(config, warehouse, "backfill", "--source", f"file:{path}", "--no-process")
    result: dict[str, Any] = {
        "events": events,
        "days": days,
        "backfill_s": round(time.perf_counter() - started, 1),
        "steps": [],
    }
    steps = result["steps"]
    steps.append(_step("catch_up", events, _wikistream(config, warehouse, "process")))
    full = _wikistream(config, warehouse, "process", "--full-refresh")
    steps.append(_step("full_refresh", events, full))
    replay = ("replay", "--layer", "gold", "--from", "earliest")
    steps.append(_step("gold_replay", events, _wikistream(config, warehouse, *replay)))
    if ray is not None:
        from tests.support.servers import RayCluster

        cluster = RayCluster(folder, nodes=2)
        try:
            ray_config = folder / "ray.toml"
            ray_config.write_text(
                '[filters]\ndomains = ["*"]\n'
                f'[engine]\nrunner = "ray"\nray_address = "{cluster.address}"\n'
            )
            nodes = tuple(node.pid for node in cluster.nodes)
            full = ("process", "--full-refresh")
            measured = _wikistream(ray_config, warehouse, *full, watch=nodes, env=cluster.env)
            steps.append(_step("full_refresh_ray_2_nodes", events, measured))
        finally:
            cluster.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 4_000_000, 8_000_000])
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--ray", action="store_true", help="also on a 2-node Ray cluster")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="wikistream-scale-") as folder:
        for events in args.events:
            runs.append(one_size(events, args.days, Path(folder), "ray" if args.ray else None))
    report = {
        "benchmark": "scale",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "max_rows_per_chunk": 250_000,
        "runs": runs,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
