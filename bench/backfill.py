"""`wikistream backfill` of one large generated file, several times, each into a fresh
warehouse: does it complete in one run, how long does it take, how much memory.

Each round is a real `wikistream backfill --source file:… --no-process` process; its peak
RSS is sampled from /proc, its manifest read back, and bronze's rows checked against the
file (every valid event once). JSON on stdout.

    .venv/bin/python bench/backfill.py --events 3000000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from datagen import ensure_events_file  # noqa: E402

DATA = Path(__file__).parent / "data"


def _peak_rss_mb(process: subprocess.Popen[str]) -> float:
    peak = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            rss = next(line for line in status.read_text().splitlines() if line.startswith("VmRSS"))
            peak = max(peak, int(rss.split()[1]))
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            break
        time.sleep(0.1)
    return round(peak / 1024, 1)


def one_round(path: Path, folder: Path) -> dict[str, Any]:
    warehouse = folder / "wh"
    command = [
        *(sys.executable, "-m", "wikistream", "--warehouse", str(warehouse), "backfill"),
        *("--source", f"file:{path}", "--no-process", "--output", "json"),
    ]
    started = time.perf_counter()
    env = {**os.environ, "WIKISTREAM_FILTERS__DOMAINS": '["*"]'}  # every wiki: every event
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    peak = _peak_rss_mb(process)
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "exit_code": process.returncode,
        "seconds": round(seconds, 1),
        "peak_rss_mb": peak,
    }
    if process.returncode != 0:
        result["error"] = err[-2000:]
        return result
    manifest = json.loads(out)
    [item] = manifest["items"]
    result |= {
        "state": manifest["state"],
        "item_state": item["state"],
        "read": item["read"],
        "rows_written": item["rows"],
        "duplicates": item["duplicates"],
        "quarantined": item["quarantined"],
    }
    result["bronze_rows"], result["distinct_event_ids"] = _bronze(warehouse)
    result["events_per_s"] = round(item["read"] / seconds)
    return result


def _bronze(warehouse: Path) -> tuple[int, int]:
    import pyarrow.compute as pc

    from wikistream.lakehouse.store import Lakehouse
    from wikistream.settings import load_settings

    table = Lakehouse.reader(load_settings(warehouse=warehouse)).table("bronze.events")
    ids = table.scan(selected_fields=("event_id",)).to_arrow().column("event_id")
    return len(ids), pc.count_distinct(ids).as_py()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    path = ensure_events_file(DATA / f"events-{args.events}.jsonl", args.events)
    rounds = []
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="wikistream-bench-backfill-") as tmp:
            rounds.append(one_round(path, Path(tmp)))
        print(f"round {n + 1}: {json.dumps(rounds[-1])}", file=sys.stderr)
    done = [r for r in rounds if r.get("state") == "completed"]
    result = {
        "benchmark": "backfill",
        "events": args.events,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "rounds": rounds,
        "completed_in_one_run": f"{len(done)}/{len(rounds)}",
        "every_event_once": all(r["bronze_rows"] == r["distinct_event_ids"] for r in done),
        "median_seconds": statistics.median(r["seconds"] for r in done) if done else None,
        "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in done) if done else None,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
