"""Silver and gold throughput and live freshness. Prints one JSON document.

1. Ingests N generated events into bronze (not timed here: see bench/bronze.py).
2. Full refresh: bronze -> silver -> gold in one cycle, per-layer seconds, events/s.
3. Incremental: the same events processed as 100 bronze commits with a cycle after each.
4. Freshness: a synthetic stream at 200 events/s through `run`'s loops (bronze commits every
   2 s, a silver/gold cycle every 2 s); for sampled events, the time from being read to being
   counted in gold.hourly_stats; p50 and p99.
5. The full refresh again on a local Ray cluster, and the ratio Ray / native.

With --baseline SRC (another checkout's src/, e.g. a `git worktree` of an older commit):
only the full refresh, this code and SRC's interleaved round by round on the same bronze
table (ingested once, restored before every round), medians and the speed-up.

    .venv/bin/python bench/layers.py                       # 1,000,000 events
    .venv/bin/python bench/layers.py --events 100000 --no-ray
    git worktree add /tmp/base HEAD~5 && .venv/bin/python bench/layers.py --baseline /tmp/base/src
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from datagen import ensure_events_file

DATA = Path(__file__).parent / "data"


def _settings(warehouse: Path, runner: str = "native", **extra: Any) -> Any:
    from wikistream.settings import load_settings

    return load_settings(
        warehouse=warehouse, filters={"domains": ["*"]}, engine={"runner": runner}, **extra
    )


def _created(settings: Any) -> Any:
    from wikistream.lakehouse.store import Lakehouse

    lakehouse = Lakehouse(settings)
    lakehouse.init()
    return lakehouse


def full_refresh(path: Path, events: int, runner: str) -> dict[str, Any]:
    """Ingest, then time one silver+gold cycle over everything."""
    from wikistream.lakehouse.store import Lakehouse
    from wikistream.pipeline.process import Processor
    from wikistream.pipeline.runner import run_ingest
    from wikistream.sources.file import FileSource

    warehouse = Path(tempfile.mkdtemp(prefix="wikistream-layers-"))
    try:
        settings = _settings(warehouse, runner)
        _created(settings)
        run_ingest(settings, FileSource(path), max_events=events)
        return _timed_refresh(Processor(Lakehouse(settings)), events, runner)
    finally:
        shutil.rmtree(warehouse, ignore_errors=True)


def refresh_in_place(warehouse: Path, events: int) -> dict[str, Any]:
    """Time one full refresh of a warehouse that already holds bronze (with this code or a
    baseline's: older versions took the settings beside the lakehouse)."""
    import inspect

    from wikistream.lakehouse.store import Lakehouse
    from wikistream.pipeline.process import Processor

    settings = _settings(warehouse)
    lakehouse = Lakehouse(settings)
    older = "settings" in inspect.signature(Processor).parameters
    processor = Processor(lakehouse, settings) if older else Processor(lakehouse)  # type: ignore[call-arg]
    return _timed_refresh(processor, events, "native")


def _timed_refresh(processor: Any, events: int, runner: str) -> dict[str, Any]:
    started = time.perf_counter()
    report = processor.run(full_refresh=True)
    seconds = time.perf_counter() - started
    return {
        "runner": runner,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
        "per_table_seconds": {k: round(v, 2) for k, v in report.seconds.items()},
        "rows": report.rows,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def incremental(path: Path, events: int, batches: int) -> dict[str, Any]:
    """The same events as `batches` bronze commits, each followed by a cycle."""
    from wikistream.lakehouse.store import Lakehouse
    from wikistream.pipeline.process import Processor
    from wikistream.pipeline.runner import run_ingest
    from wikistream.sources.file import FileSource

    warehouse = Path(tempfile.mkdtemp(prefix="wikistream-layers-"))
    per_batch = -(-events // batches)
    try:
        settings = _settings(warehouse, commit={"max_events": per_batch})
        _created(settings)
        processor = Processor(Lakehouse(settings))
        cycle_seconds = []
        for _ in range(batches):
            run_ingest(settings, FileSource(path), max_events=per_batch)
            started = time.perf_counter()
            processor.run()
            cycle_seconds.append(time.perf_counter() - started)
    finally:
        shutil.rmtree(warehouse, ignore_errors=True)
    total = sum(cycle_seconds)
    return {
        "batches": batches,
        "events_per_batch": per_batch,
        "processing_seconds": round(total, 2),
        "events_per_s": round(events / total),
        "cycle_seconds_p50": round(statistics.median(cycle_seconds), 3),
        "cycle_seconds_max": round(max(cycle_seconds), 3),
    }


def freshness(rate: float, seconds: float, **extra: Any) -> dict[str, Any]:
    """Read -> visible in gold.hourly_stats, for events sampled every second, with what
    `wikistream run` does (ops.run.run_pipeline: supervisor, processing loop and its lease,
    maintenance); `extra`: more settings (e.g. liftwing={...})."""
    from wikistream.ops.run import run_pipeline
    from wikistream.sources.synthetic import SyntheticSource

    warehouse = Path(tempfile.mkdtemp(prefix="wikistream-fresh-"))
    settings = _settings(warehouse, synthetic={"start": "now"}, **extra)
    catalog = _created(settings)
    watching = threading.Event()
    lags: list[float] = []
    counts: list[tuple[float, int]] = []  # (time read, events read so far)

    def progress(stats: Any, _elapsed: float) -> None:
        counts.append((time.time(), stats.read))

    def watch() -> None:
        pending = counts
        while not watching.is_set():
            time.sleep(0.25)
            try:
                table = (
                    catalog.table("gold.hourly_stats").scan(selected_fields=("events",)).to_arrow()
                )
            except Exception:  # noqa: S112 - not created yet: look again shortly
                continue
            counted = sum(table.column("events").to_pylist()) if table.num_rows else 0
            now = time.time()
            while pending and pending[0][1] * 0.97 <= counted:  # minus filtered/dead letters
                lags.append(now - pending.pop(0)[0])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        summary = run_pipeline(
            catalog,
            lambda: SyntheticSource(rate=rate, start="now"),
            max_seconds=seconds,
            on_progress=progress,
        )
        time.sleep(settings.process.interval_s)
    finally:
        watching.set()
        watcher.join()
        shutil.rmtree(warehouse, ignore_errors=True)
    lags.sort()
    return {
        "rate_events_per_s": rate,
        "seconds": seconds,
        "samples": len(lags),
        "p50_s": round(lags[len(lags) // 2], 2) if lags else None,
        "p99_s": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 2) if lags else None,
        "target_p99_s": 15,
        "events_read": summary.stats.read,
        "events_per_s": round(summary.stats.read / seconds, 1),
        **({"liftwing": summary.extra["liftwing"]} if "liftwing" in summary.extra else {}),
    }


def _subprocess(call: str, src: Path | None = None) -> dict[str, Any]:
    """`call` in a fresh interpreter; `src`: import wikistream from there (a baseline)."""
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, 'bench'); "
        f"import layers; print(json.dumps({call}))"
    )
    env = {**os.environ, "RAY_ADDRESS": ""}
    if src is not None:
        env["PYTHONPATH"] = str(src)  # before site-packages, where the editable install is
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def side_by_side(path: Path, events: int, baseline: Path, rounds: int) -> dict[str, Any]:
    """Full refresh: this code against `baseline`'s, interleaved on the same bronze."""
    from wikistream.pipeline.runner import run_ingest
    from wikistream.sources.file import FileSource

    root = Path(tempfile.mkdtemp(prefix="wikistream-layers-"))
    warehouse, kept = root / "warehouse", root / "bronze-only"
    try:
        settings = _settings(warehouse)
        _created(settings)
        run_ingest(settings, FileSource(path), max_events=events)
        shutil.copytree(warehouse, kept)
        runs: dict[str, list[dict[str, Any]]] = {"current": [], "baseline": []}
        for _ in range(rounds):
            for name, src in (("baseline", baseline), ("current", None)):
                shutil.rmtree(warehouse)
                shutil.copytree(kept, warehouse)  # the catalog holds absolute paths: same place
                call = f"layers.refresh_in_place(Path({str(warehouse)!r}), {events})"
                runs[name].append(_subprocess(call, src))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    medians = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    return {
        "benchmark": "silver_gold_side_by_side",
        "input_events": events,
        "baseline_src": str(baseline),
        "rounds": runs,
        "median_seconds": medians,
        "speedup": round(medians["baseline"] / medians["current"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--freshness-seconds", type=float, default=60)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="SRC",
        help="only the full refresh, against the wikistream package in SRC",
    )
    parser.add_argument("--rounds", type=int, default=3, help="with --baseline")
    args = parser.parse_args()

    path = ensure_events_file(DATA / f"events-{args.events}.jsonl", args.events)
    if args.baseline is not None:
        result = side_by_side(path, args.events, args.baseline.resolve(), args.rounds)
        print(json.dumps(result, indent=2))
        return
    p = str(path)
    native = _subprocess(f"layers.full_refresh(Path({p!r}), {args.events}, 'native')")
    result: dict[str, Any] = {
        "benchmark": "silver_gold",
        "input_events": args.events,
        "full_refresh": native,
        "target_full_refresh_s": 30,
        "incremental": _subprocess(
            f"layers.incremental(Path({p!r}), {args.events}, {args.batches})"
        ),
        "freshness": _subprocess(f"layers.freshness(200, {args.freshness_seconds})"),
    }
    if not args.no_ray:
        ray = _subprocess(f"layers.full_refresh(Path({p!r}), {args.events}, 'ray')")
        result["full_refresh_ray"] = ray
        result["ray_over_native_seconds"] = round(ray["seconds"] / native["seconds"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
