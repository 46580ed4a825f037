"""WikiStream on object storage behind an Iceberg REST catalog vs. the local default.

In one run, on the same generated events, for each setup: bronze ingest (file replay through
`wikistream run`'s loop), a full silver + gold refresh (quality gates included), and the
latency of single commits (1,000 rows with a position, the shape of a live-stream commit).
The object store is SeaweedFS (S3 + Iceberg REST, SigV4) on loopback, started here: this
measures WikiStream's own overhead on S3 and REST, not a network. JSON on stdout; ratios are
object store / local.

    .venv/bin/python bench/objectstore.py                  # 300,000 events, 50 commits
    .venv/bin/python bench/objectstore.py --events 100000 --commits 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from tests.support.servers import SeaweedFS, aws_env  # noqa: E402
from tests.support.setups import make_setup  # noqa: E402

from datagen import ensure_events_file  # noqa: E402

DATA = Path(__file__).parent / "data"


def measure(settings: Any, path: Path, events: int, commits: int) -> dict[str, Any]:
    from wikistream.lakehouse import commits as commit
    from wikistream.lakehouse.store import Lakehouse
    from wikistream.lakehouse.tables import DQ_RELEASES
    from wikistream.pipeline.process import Processor
    from wikistream.pipeline.runner import run_ingest
    from wikistream.sources.file import FileSource

    lakehouse = Lakehouse(settings)
    lakehouse.init()
    started = time.perf_counter()
    summary = run_ingest(
        settings, FileSource(path, settings.source.chunk_events), max_events=events
    )
    bronze_s = time.perf_counter() - started
    started = time.perf_counter()
    with Processor(lakehouse) as processor:
        report = processor.run("all", full_refresh=True)
    refresh_s = time.perf_counter() - started
    if report.held:
        raise SystemExit(f"a quality gate held a batch in the benchmark: {report.held}")
    latencies = _commit_latencies(lakehouse, commits, commit, DQ_RELEASES)
    return {
        "bronze": {
            "events": summary.stats.read,
            "accepted": summary.stats.accepted,
            "commits": summary.stats.commits,
            "seconds": round(bronze_s, 2),
            "events_per_s": round(summary.stats.read / bronze_s),
        },
        "full_refresh": {
            "seconds": round(refresh_s, 2),
            "silver_rows": report.rows.get("silver.events", 0),
            "seconds_by_table": {k: round(v, 2) for k, v in report.seconds.items()},
        },
        "commit_latency_ms": _percentiles(latencies),
    }


def _commit_latencies(lakehouse: Any, count: int, commit: Any, table_def: Any) -> list[float]:
    """Single appends of 1,000 rows with a source position, one after the other."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from wikistream.lakehouse.positions import POSITION_KEY, SOURCE_KEY

    now = datetime.now(UTC)
    rows = pa.Table.from_pylist(
        [
            {
                "run_id": f"bench-{i}",
                "layer": "silver",
                "table_name": "silver.events",
                "input_to": str(i),
                "released_at": now,
            }
            for i in range(1000)
        ],
        schema=table_def.schema,
    )
    table = lakehouse.table(table_def)
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        commit.append(table, rows, {SOURCE_KEY: "bench", POSITION_KEY: str(i)})
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "p50": at(0.5),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1], 1),
        "mean": round(statistics.fmean(ordered), 1),
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--commits", type=int, default=50)
    args = parser.parse_args()
    os.environ.update(aws_env())
    path = ensure_events_file(DATA / f"events-{args.events}.jsonl", args.events)
    from wikistream.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="wikistream-bench-objectstore-"))
    seaweed = SeaweedFS(work / "seaweedfs")
    try:
        results = {}
        for name in ("sqlite", "rest"):
            (work / name).mkdir(exist_ok=True)
            setup = make_setup(name, work / name, seaweed, None)
            config = setup.config(work / name, filters={"domains": ["*"]})
            print(f"measuring {name} …", file=sys.stderr)
            results["local" if name == "sqlite" else "s3_rest"] = measure(
                load_settings(config), path, args.events, args.commits
            )
    finally:
        seaweed.stop()
        shutil.rmtree(work, ignore_errors=True)
    local, remote = results["local"], results["s3_rest"]
    document = {
        "benchmark": "object storage (SeaweedFS S3 + Iceberg REST, SigV4) vs local default",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "events": args.events,
        **results,
        "ratios_s3_over_local": {
            "bronze_seconds": round(remote["bronze"]["seconds"] / local["bronze"]["seconds"], 2),
            "full_refresh_seconds": round(
                remote["full_refresh"]["seconds"] / local["full_refresh"]["seconds"], 2
            ),
            "commit_p50": round(
                remote["commit_latency_ms"]["p50"] / local["commit_latency_ms"]["p50"], 2
            ),
        },
    }
    print(json.dumps(document, indent=2))
    (Path(__file__).parent / "results" / "objectstore.json").write_text(
        json.dumps(document, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
