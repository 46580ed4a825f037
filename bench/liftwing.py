"""Does scoring with LiftWing slow ingestion when the service is down? `run` side by side.

Rounds alternate between `run` without LiftWing and `run` with LiftWing on for every
synthetic edit of enwiki and the service unreachable (a port nothing listens on: each edit
is tried `attempts` times with back-off, the queue fills, the rest is dropped and counted).
Each round is bench/layers.py's freshness measure: a synthetic stream at `--rate` events/s
through `run`'s loops for `--seconds`; read -> counted in gold.hourly_stats, p50 and p99,
and the events read per second. Medians per variant; JSON on stdout and in
bench/results/liftwing.json.

    .venv/bin/python bench/liftwing.py --rounds 3 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from layers import freshness

RESULTS = Path(__file__).parent / "results" / "liftwing.json"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=200)
    args = parser.parse_args()
    down = {
        "enabled": True,
        "url": f"http://127.0.0.1:{_closed_port()}/v1/models/revertrisk-language-agnostic:predict",
        "wikis": ["enwiki"],
        "queue_size": 1000,
    }
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "liftwing_down": []}
    for _ in range(args.rounds):
        runs["without"].append(freshness(args.rate, args.seconds))
        runs["liftwing_down"].append(freshness(args.rate, args.seconds, liftwing=down))
    medians = {
        name: {
            key: statistics.median(r[key] for r in found if r[key] is not None)
            for key in ("events_per_s", "p50_s", "p99_s")
        }
        for name, found in runs.items()
    }
    report = {"benchmark": "liftwing", "rounds": runs, "median": medians}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
