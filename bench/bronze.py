"""Bronze writer throughput: replay a generated NDJSON file through `wikistream run`'s loop.

Prints one JSON document: events/s (median of runs), commits, peak RSS for two input sizes
(memory must not grow with the input), and a decode-only baseline measured in the same run
(msgspec parsing the same lines into Python objects, no validation or writing) with the ratio.

    .venv/bin/python bench/bronze.py                # 1,000,000 events, 3 runs
    .venv/bin/python bench/bronze.py --events 200000 --runs 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent))
from datagen import ensure_events_file

DATA = Path(__file__).parent / "data"


def one_run(path: Path, events: int) -> dict[str, object]:
    """Ingest `path` into a fresh warehouse in this process; report rate and peak RSS."""
    from wikistream.lakehouse.store import Lakehouse
    from wikistream.pipeline.runner import run_ingest
    from wikistream.settings import load_settings
    from wikistream.sources.file import FileSource

    warehouse = Path(tempfile.mkdtemp(prefix="wikistream-bench-"))
    try:
        settings = load_settings(warehouse=warehouse, filters={"domains": ["*"]})
        Lakehouse(settings).init()  # as `wikistream init` does: not timed
        cpu_before, started = _cpu_seconds(), time.perf_counter()
        summary = run_ingest(
            settings, FileSource(path, settings.source.chunk_events), max_events=events
        )
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
    finally:
        shutil.rmtree(warehouse, ignore_errors=True)
    return {
        "events": summary.stats.read,
        "accepted": summary.stats.accepted,
        "commits": summary.stats.commits,
        "seconds": round(seconds, 3),
        "events_per_s": round(summary.stats.read / seconds),
        # CPU of every thread of the process: what the 2 cores have to give per event
        "cpu_us_per_event": round(cpu / summary.stats.read * 1e6, 1),
        "cores_busy": round(cpu / seconds, 2),
        "decode_s": round(summary.stats.decode_seconds, 2),
        "commit_s": round(summary.stats.commit_seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode_baseline(path: Path, events: int) -> float:
    """Events/s of plain msgspec decoding of the same lines (the JSON-parsing floor)."""
    decode = msgspec.json.Decoder().decode
    count = 0
    started = time.perf_counter()
    with path.open("rb") as handle:
        for line in handle:
            with contextlib.suppress(msgspec.DecodeError):
                decode(line)
            count += 1
            if count >= events:
                break
    return count / (time.perf_counter() - started)


def _in_subprocess(path: Path, events: int) -> dict[str, object]:
    code = (
        "import json, sys; sys.path.insert(0, 'bench'); from bronze import one_run; "
        f"from pathlib import Path; print(json.dumps(one_run(Path({str(path)!r}), {events})))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    path = ensure_events_file(DATA / f"events-{args.events}.jsonl", args.events)
    small = max(args.events // 4, 1)
    runs, baselines = [], []
    for _ in range(args.runs):  # interleaved, so noise hits both alike
        baselines.append(decode_baseline(path, args.events))
        runs.append(_in_subprocess(path, args.events))
    quarter = _in_subprocess(path, small)
    cores = os.cpu_count() or 1
    rate = statistics.median(r["events_per_s"] for r in runs)  # type: ignore[misc]
    baseline = statistics.median(baselines)
    print(
        json.dumps(
            {
                "benchmark": "bronze_file_replay",
                "machine": {"cpus": cores, "python": platform.python_version()},
                "input_events": args.events,
                "input_bytes": path.stat().st_size,
                "events_per_s_median": rate,
                "runs": runs,
                "decode_only_events_per_s_median": round(baseline),
                "ratio_to_decode_only": round(rate / baseline, 3),
                "peak_rss_mb": {
                    f"{small}_events": quarter["peak_rss_mb"],
                    f"{args.events}_events": runs[-1]["peak_rss_mb"],
                },
                "cpu_us_per_event_median": statistics.median(r["cpu_us_per_event"] for r in runs),  # type: ignore[misc]
                "target_events_per_s": 100_000,
                # at the target, all cores together have this much CPU per event (perfectly
                # parallel)
                "cpu_budget_us_per_event_at_target": round(cores * 1e6 / 100_000, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
