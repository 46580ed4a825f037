"""Dashboard API under load: N concurrent clients polling `wikistream serve` over a
1,000,000-event warehouse; p50/p95 latency, requests/s, and how often the lakehouse was read.

The warehouse is built once (synthetic events through `run --no-process` and `process`,
whole processes) and kept in --warehouse for later runs. Each round runs the server in its
own process and N clients, each polling /api/overview (all the page shows, one request per
refresh) in a closed loop for --seconds: ApacheBench (`ab -k`, Debian `apache2-utils`) when
installed, else httpx in this process (which then shares the cores and, at 50 clients, is
the bottleneck itself: 100 requests/s where ab measures 1,000). The cache's misses
per view (from /metrics) say how many lakehouse reads the round cost, per cache interval.
The baseline in the same run: the same load with the cache off (cache_s = 0).

    .venv/bin/python bench/web.py                       # 1,000,000 events, 1/10/50 clients
    .venv/bin/python bench/web.py --events 200000 --clients 1 10
JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.servers import _wait_for, free_port  # noqa: E402

# Views that read the lakehouse (the others are computed from these).
READING_VIEWS = ("until", "windows", "risk", "deletions", "gates", "tables", "problems", "alerts")


def wikistream(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "wikistream", "--config", str(config), *args]


def build(folder: Path, events: int) -> Path:
    config = folder / "wikistream.toml"
    if (folder / "built").exists():
        return config
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(f'warehouse = "{folder / "wh"}"\n')
    started = time.perf_counter()
    ingest = ("run", "--source", "synthetic", "--no-process", "--max-events", str(events))
    subprocess.run(wikistream(config, *ingest), check=True, capture_output=True)
    subprocess.run(wikistream(config, "process", "--layer", "all"), check=True, capture_output=True)
    (folder / "built").write_text(f"{time.perf_counter() - started:.1f} s\n")
    return config


def misses(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:  # noqa: S310
        text = answer.read().decode()
    found = re.findall(r'^wikistream_web_cache_misses_total\{view="(\w+)"\} (\S+)$', text, re.M)
    return {view: float(n) for view, n in found}


async def client(http: httpx.AsyncClient, url: str, until: float, out: list[float]) -> int:
    errors = 0
    while time.perf_counter() < until:
        started = time.perf_counter()
        answer = await http.get(f"{url}/api/overview")
        out.append(time.perf_counter() - started)
        errors += answer.status_code != 200
    return errors


def load_ab(url: str, clients: int, seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [
            "ab",
            "-q",
            "-k",
            "-t",
            str(seconds),
            "-n",
            "10000000",
            "-c",
            str(clients),
            f"{url}/api/overview",
        ],
        capture_output=True,
        text=True,
        check=True,
    )

    def field(pattern: str) -> float:
        found = re.search(pattern, done.stdout, re.M)
        if found is None:
            raise SystemExit(f"unexpected ab output:\n{done.stdout}")
        return float(found.group(1))

    def count(kind: str) -> int:
        found = re.search(rf"{kind}:\s+(\d+)", done.stdout)
        return int(found.group(1)) if found else 0

    return {
        "clients": clients,
        "requests": int(field(r"^Complete requests:\s+(\d+)")),
        # ab counts an answer of another length as "failed": the overview's length
        # changes when it is refreshed. Errors are the rest, and non-2xx answers.
        "errors": sum(
            count(kind) for kind in ("Connect", "Receive", "Exceptions", "Non-2xx responses")
        ),
        "requests_per_s": field(r"^Requests per second:\s+([\d.]+)"),
        "p50_ms": field(r"^\s+50%\s+(\d+)"),
        "p95_ms": field(r"^\s+95%\s+(\d+)"),
        "seconds": field(r"^Time taken for tests:\s+([\d.]+)"),
        "load_generator": "ab",
    }


async def load(url: str, clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        started = time.perf_counter()
        errors = await asyncio.gather(
            *(client(http, url, started + seconds, latencies) for _ in range(clients))
        )
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": len(ordered),
        "errors": sum(errors),
        "requests_per_s": round(len(ordered) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
        "seconds": round(elapsed, 1),
        "load_generator": "httpx",
    }


def round_(config: Path, clients: int, seconds: float, cache_s: float) -> dict[str, Any]:
    settings = config.with_name(f"serve-{cache_s}.toml")
    settings.write_text(config.read_text() + f"[web]\ncache_s = {cache_s}\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = config.with_name("serve.log")
    with log.open("ab") as out:
        server = subprocess.Popen(
            wikistream(settings, "serve", "--port", str(port)), stdout=out, stderr=out
        )
    try:
        _wait_for(f"{url}/healthz", server, log, 120)
        cold_started = time.perf_counter()
        with urllib.request.urlopen(f"{url}/api/overview", timeout=120):  # noqa: S310
            cold_ms = 1000 * (time.perf_counter() - cold_started)
        before = misses(url)
        if shutil.which("ab"):
            result = load_ab(url, clients, seconds)
        else:
            result = asyncio.run(load(url, clients, seconds))
        after = misses(url)
    finally:
        server.terminate()
        server.wait(30)
    reads = {v: after.get(v, 0) - before.get(v, 0) for v in READING_VIEWS}
    intervals = max(1.0, result["seconds"] / cache_s) if cache_s else 1.0
    return result | {
        "cache_s": cache_s,
        "first_request_ms": round(cold_ms, 1),
        "lakehouse_reads": round(sum(reads.values())),
        "lakehouse_reads_per_interval": round(sum(reads.values()) / intervals, 2),
        "reads_by_view": {v: int(n) for v, n in reads.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--cache-s", type=float, default=5.0)
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        help="Where the warehouse is kept (default /tmp/wikistream-bench-web-N).",
    )
    args = parser.parse_args()
    folder = args.warehouse or Path(f"/tmp/wikistream-bench-web-{args.events}")
    config = build(folder, args.events)
    rounds = [round_(config, n, args.seconds, args.cache_s) for n in args.clients]
    baseline = round_(config, 10, args.seconds, 0.0)
    cached_10 = next((r for r in rounds if r["clients"] == 10), rounds[-1])
    print(
        json.dumps(
            {
                "benchmark": "web",
                "events": args.events,
                "when": datetime.now().isoformat(),
                "machine": {
                    "cpus": __import__("os").cpu_count(),
                    "python": platform.python_version(),
                },
                "built_in": (folder / "built").read_text().strip(),
                "rounds": rounds,
                "baseline_uncached_10_clients": baseline,
                "ratio_requests_per_s_cached_over_uncached": round(
                    cached_10["requests_per_s"] / max(baseline["requests_per_s"], 0.01), 1
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
