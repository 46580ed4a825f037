"""End to end, raw events to gold: WikiStream against the seed's Spark design, on the same
file, in the same run, as whole processes (start-up included, as a user pays it).

Variants, interleaved round by round (medians reported):
  spark          bench/spark_seed.py: one local PySpark job (local[2]), JSON -> silver Parquet
                 -> gold Parquet, no Iceberg, no gates; JVM start-up included. PySpark (a
                 456 MB download with its jars) lives in its own virtualenv, .venv-spark,
                 made on first use: only this benchmark needs it.
  processes      `wikistream run --source file:F --no-process`, then `wikistream process
                 --layer all` (bronze, silver, gold, gates), a fresh warehouse each round.
  one_process    `wikistream run --source file:F`: ingest with silver/gold kept current,
                 and the final cycle, in one process.
  backfill_1_worker, backfill_2_workers
                 `wikistream backfill --source file:F --workers 1|2 --no-process` (a run
                 manifest; with 2, the file in two parts loaded by two processes at once),
                 then `wikistream process --layer all`.
The file has the synthetic stream's canaries, resends and malformed records. Also measured:
`wikistream --help`, a whole `run` of one event (start-up to first commit, an upper bound on
the first record), each variant's row counts (silver rows must agree).

    .venv/bin/python bench/e2e.py                          # 200,000 and 1,000,000 events
    .venv/bin/python bench/e2e.py --events 200000 --rounds 3
JSON on stdout.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from datagen import ensure_events_file  # noqa: E402

DATA = Path(__file__).parent / "data"
SPARK_VENV = ROOT / ".venv-spark"
PYSPARK = "pyspark==4.3.0"


SPARK_PYTHON: Path | None = None  # --spark-python: a Python that already has PySpark


def spark_python() -> Path:
    if SPARK_PYTHON is not None:
        return SPARK_PYTHON
    python = SPARK_VENV / "bin" / "python"
    marker = SPARK_VENV / f".installed-{PYSPARK}"
    if not marker.exists():
        print(f"installing {PYSPARK} into {SPARK_VENV} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(SPARK_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PYSPARK], check=True)
        marker.touch()
    return python


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def wikistream(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "wikistream", "--config", str(config), *args]


def fresh_config(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    config = folder / "wikistream.toml"
    # Every wiki, as the Spark job keeps them: the same rows to clean and count.
    config.write_text(f'warehouse = "{folder / "wh"}"\n[filters]\ndomains = ["*"]\n')
    return config


def silver_rows(config: Path) -> int:
    _, out = timed(
        wikistream(config, "query", "--output", "json", "SELECT count(*) AS n FROM silver.events")
    )
    rows: int = json.loads(out)[0]["n"]
    return rows


def run_spark(path: Path, work: Path) -> dict[str, Any]:
    out = work / "spark"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    seconds, stdout = timed(
        [str(spark_python()), str(ROOT / "bench" / "spark_seed.py"), str(path), str(out)], env
    )
    detail = json.loads(stdout.strip().splitlines()[-1])
    return {"seconds": round(seconds, 2), "silver_rows": detail["rows"]["silver"], "detail": detail}


def run_processes(path: Path, work: Path) -> dict[str, Any]:
    config = fresh_config(work / "processes")
    ingest, _ = timed(wikistream(config, "run", "--source", f"file:{path}", "--no-process"))
    process, _ = timed(wikistream(config, "process", "--layer", "all"))
    return {
        "seconds": round(ingest + process, 2),
        "run_s": round(ingest, 2),
        "process_s": round(process, 2),
        "silver_rows": silver_rows(config),
    }


def run_one_process(path: Path, work: Path) -> dict[str, Any]:
    config = fresh_config(work / "one")
    seconds, _ = timed(wikistream(config, "run", "--source", f"file:{path}"))
    return {"seconds": round(seconds, 2), "silver_rows": silver_rows(config)}


def run_backfill(workers: int) -> Any:
    def variant(path: Path, work: Path) -> dict[str, Any]:
        config = fresh_config(work / f"backfill-{workers}")
        ingest, _ = timed(
            wikistream(
                config,
                "backfill",
                "--source",
                f"file:{path}",
                "--workers",
                str(workers),
                "--no-process",
            )
        )
        process, _ = timed(wikistream(config, "process", "--layer", "all"))
        return {
            "seconds": round(ingest + process, 2),
            "backfill_s": round(ingest, 2),
            "process_s": round(process, 2),
            "silver_rows": silver_rows(config),
        }

    return variant


VARIANTS = {
    "spark": run_spark,
    "processes": run_processes,
    "one_process": run_one_process,
    "backfill_1_worker": run_backfill(1),
    "backfill_2_workers": run_backfill(2),
}


def startup(work: Path) -> dict[str, float]:
    help_s = [timed([sys.executable, "-m", "wikistream", "--help"])[0] for _ in range(5)]
    path = ensure_events_file(DATA / "e2e-200000.ndjson", 200_000)
    first = []
    for _ in range(5):
        config = fresh_config(work / "first")
        timed(wikistream(config, "init"))
        first.append(
            timed(
                wikistream(
                    config, "run", "--source", f"file:{path}", "--no-process", "--max-events", "1"
                )
            )[0]
        )
    return {
        "help_s_median": round(statistics.median(help_s), 3),
        "run_one_event_s_median": round(statistics.median(first), 3),
    }


def measure(events: int, rounds: int, work: Path) -> dict[str, Any]:
    path = ensure_events_file(DATA / f"e2e-{events}.ndjson", events)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for round_ in range(rounds):
        for name, variant in VARIANTS.items():
            results[name].append(variant(path, work))
            print(
                f"{events:,} events, round {round_ + 1}: {name} {results[name][-1]['seconds']} s",
                file=sys.stderr,
            )
    medians = {n: statistics.median(r["seconds"] for r in rs) for n, rs in results.items()}
    return {
        "events": events,
        "file_bytes": path.stat().st_size,
        "rounds": results,
        "median_s": medians,
        "speedup_vs_spark": {
            n: round(medians["spark"] / medians[n], 2) for n in VARIANTS if n != "spark"
        },
        "silver_rows": {n: rs[-1]["silver_rows"] for n, rs in results.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--spark-python",
        type=Path,
        help=f"A Python with {PYSPARK} (default: .venv-spark, made once).",
    )
    args = parser.parse_args()
    global SPARK_PYTHON
    SPARK_PYTHON = args.spark_python
    with tempfile.TemporaryDirectory(prefix="wikistream-e2e-") as tmp:
        sizes = [measure(n, args.rounds, Path(tmp)) for n in args.events]
        print(
            json.dumps(
                {
                    "benchmark": "e2e",
                    "when": datetime.now().isoformat(),
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "startup": startup(Path(tmp)),
                    "sizes": sizes,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
