"""The query surface: how long a command takes to answer, and how the SQL engines compare.

Three measures, JSON on stdout:

* `commands`: `status`, `query`, `history`, `tables`, `describe` on a demo warehouse (20,000
  events, as `make demo` makes it), each a cold process, median of `--repeat`; with
  `--baseline SRC` the same commands of that checkout's code in the same run (rounds
  interleaved).
* `queries`: analysts' questions on a warehouse of `--events` generated events (1,000,000 by
  default): the time of each, this code's engine (DuckDB in its sandbox) and, with
  `--baseline`, the baseline's (Daft SQL) on the same tables; a question an engine cannot
  answer is marked with its error (that is the coverage).
* `engines`: start-up (import + one trivial query), peak memory of a query process, and
  the wheels each engine adds.

    .venv/bin/python bench/query.py --baseline /tmp/base/src        # e.g. a `git worktree`
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

sys.path.insert(0, str(Path(__file__).parent))
from datagen import ensure_events_file

DATA = Path(__file__).parent / "data"

COMMANDS = {
    "status": ["status", "--output", "json"],
    "query": ["query", "SELECT count(*) AS n FROM silver.events"],
    "history": ["history", "silver.events"],
    "tables": ["tables"],
    "describe": ["describe", "silver.events"],
}

QUESTIONS = {
    "count": "SELECT count(*) AS n FROM silver.events",
    "min_max": "SELECT min(event_ts) AS first, max(event_ts) AS last FROM silver.events",
    "per_hour_group_by_1": "SELECT date_trunc('hour', event_ts) AS h, count(*) AS n "
    "FROM silver.events GROUP BY 1 ORDER BY 1",
    "busiest_wikis": "SELECT domain, count(*) AS n FROM silver.events GROUP BY domain "
    "ORDER BY n DESC LIMIT 10",
    "distinct_users": 'SELECT count(DISTINCT "user") AS n FROM silver.events',
    "percentile": "SELECT quantile_cont(length_delta, 0.9) AS p90 FROM silver.events",
    "window": 'SELECT domain, "user", n FROM (SELECT domain, "user", count(*) AS n, '
    "row_number() OVER (PARTITION BY domain ORDER BY count(*) DESC) AS r "
    'FROM silver.events GROUP BY domain, "user") WHERE r = 1',
    "cte_join": "WITH h AS (SELECT domain, sum(events) AS events FROM gold.hourly_stats "
    "GROUP BY domain) SELECT s.domain, count(*) AS silver, max(h.events) AS gold "
    "FROM silver.events s JOIN h ON s.domain = h.domain GROUP BY s.domain",
    "regex": "SELECT count(*) AS n FROM silver.events WHERE regexp_matches(title, '^Of')",
    "json": "SELECT count(*) AS n FROM bronze.events "
    "WHERE json_extract_string(log_params, '$.target') IS NOT NULL",
    "describe": "DESCRIBE silver.events",
}


def _cli(src: Path | None, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "wikistream", "--config", str(config), *args]


def _env(src: Path | None) -> dict[str, str]:
    env = {**os.environ, "RAY_ADDRESS": ""}
    if src is not None:
        env["PYTHONPATH"] = str(src)  # before site-packages, where the editable install is
    return env


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, int, str, float]:
    """Seconds, exit code, stderr, peak RSS (MB) of one cold process (output discarded)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        err.seek(0)
        message = err.read().decode(errors="replace")
    return seconds, os.waitstatus_to_exitcode(status), message, usage.ru_maxrss / 1024


def _warehouse(folder: Path, events: int, path: Path | None) -> Path:
    config = folder / "wikistream.toml"
    config.write_text(f'warehouse = "{folder / "wh"}"\n[filters]\ndomains = ["*"]\n')
    if path is None:
        steps = [["demo", "--events", str(events)]]
    else:
        steps = [["backfill", "--source", f"file:{path}", "--no-process"], ["process"]]
    for step in steps:
        done = subprocess.run(_cli(None, config, *step), capture_output=True, text=True)
        if done.returncode not in (0, 4):
            raise RuntimeError(done.stderr[-2000:])
    return config


def commands(config: Path, baseline: Path | None, repeat: int) -> dict[str, Any]:
    codes = {"current": None, "baseline": baseline} if baseline else {"current": None}
    times: dict[str, dict[str, list[float]]] = {name: {} for name in codes}
    for _ in range(repeat):
        for command, args in COMMANDS.items():
            for name, src in codes.items():
                seconds, code, err, _ = _timed(_cli(src, config, *args), _env(src))
                if code in (0, 4):
                    times[name].setdefault(command, []).append(seconds)
                else:
                    times[name].setdefault(command, [])
    return {
        name: {
            command: round(statistics.median(values), 3) if values else "not a command there"
            for command, values in by_command.items()
        }
        for name, by_command in times.items()
    } | {"repeat": repeat}


def queries(config: Path, baseline: Path | None) -> dict[str, Any]:
    codes = {"current": None, "baseline": baseline} if baseline else {"current": None}
    answers: dict[str, dict[str, Any]] = {}
    for question, sql in QUESTIONS.items():
        for name, src in codes.items():
            seconds, code, err, rss = _timed(
                _cli(src, config, "query", sql, "--output", "json"), _env(src)
            )
            entry = {"seconds": round(seconds, 3), "peak_rss_mb": round(rss)}
            if code != 0:
                entry = {"error": err.strip().splitlines()[-1][:200] if err else f"exit {code}"}
            answers.setdefault(question, {})[name] = entry
    coverage = {name: sum("error" not in by[name] for by in answers.values()) for name in codes}
    return {"per_question": answers, "answered": coverage, "questions": len(QUESTIONS)}


def engines() -> dict[str, Any]:
    """Start-up of each engine alone, and what its wheel weighs."""
    snippets = {
        "duckdb": "import duckdb; duckdb.connect().sql('SELECT 1').fetchall()",
        "daft_sql": "import daft; daft.sql('SELECT 1 AS x').to_pydict()",
    }
    startup = {}
    for name, code in snippets.items():
        runs = []
        for _ in range(5):
            seconds, _, _, rss = _timed([sys.executable, "-c", code], dict(os.environ))
            runs.append((seconds, rss))
        startup[name] = {
            "seconds": round(statistics.median(s for s, _ in runs), 3),
            "peak_rss_mb": round(statistics.median(r for _, r in runs)),
        }
    import importlib.metadata as metadata

    sizes = {}
    for package in ("duckdb", "daft"):
        files = metadata.distribution(package).files or []
        sizes[package] = round(sum((f.size or 0) for f in files) / 1e6, 1)
    return {"startup": startup, "installed_mb": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--demo-events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", type=Path, metavar="SRC")
    args = parser.parse_args()
    baseline = args.baseline.resolve() if args.baseline else None
    path = ensure_events_file(DATA / f"events-{args.events}.jsonl", args.events)
    with tempfile.TemporaryDirectory(prefix="wikistream-bench-query-") as tmp:
        demo = _warehouse(Path(tmp) / "demo", args.demo_events, None)
        big = _warehouse(Path(tmp) / "big", args.events, path)
        result = {
            "benchmark": "query",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "baseline_src": str(baseline) if baseline else None,
            "commands_demo_warehouse_s": commands(demo, baseline, args.repeat),
            f"queries_{args.events}_events": queries(big, baseline),
            "engines": engines(),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
