"""The default silver quality gate over 1,000,000 rows, against pandera on the same data.

1. Builds the silver batch of N generated events in memory (decode -> silver transform).
2. Times WikiStream's default silver gate (Daft expressions) on it: median of --repeat runs.
3. Times the same checks written for pandera (an established DQ library, pandas backend) on
   the same rows, in the same process: Arrow -> pandas conversion and validation separately.
4. With --clean-run: the N events through ingest and every gate in cycles of --batch events,
   and the number of failed checks (false alarms on a clean stream; should be 0).

    .venv/bin/python bench/dq.py                       # 1,000,000 rows
    .venv/bin/python bench/dq.py --events 100000 --no-clean-run
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from datagen import ensure_events_file

DATA = Path(__file__).parent / "data"


def silver_batch(path: Path, events: int) -> pa.Table:
    """The silver rows of the first `events` events of the file (a live-like source)."""
    from wikistream.events.arrow import decode_chunk
    from wikistream.events.decode import EventDecoder
    from wikistream.layers.silver import to_silver
    from wikistream.settings import EVENT_TYPES, SilverSettings

    decoder = EventDecoder(["*"], EVENT_TYPES)
    lines = path.read_bytes().splitlines()[:events]
    now = datetime.now(UTC)
    parts = [
        decode_chunk(decoder, lines[i : i + 100_000], "sse:bench", now).table
        for i in range(0, len(lines), 100_000)
    ]
    bronze = pa.concat_tables(parts)
    # Event times of the generated file span hours in the past; make them the last few
    # minutes, as live events processed promptly are (so freshness is judged, and passes).
    ts = bronze.column("event_ts").cast(pa.int64())
    newest = pa.scalar(now, pa.timestamp("us", tz="UTC")).value
    age = pa.compute.subtract(pa.compute.max(ts), ts)
    shifted = pa.compute.subtract(newest, pa.compute.divide(age, 50))
    bronze = bronze.set_column(
        bronze.schema.get_field_index("event_ts"),
        "event_ts",
        shifted.cast(pa.timestamp("us", tz="UTC")),
    )
    return to_silver(bronze, SilverSettings(), datetime.now(UTC))


DRIFTS = {"bot_share_drift": "is_bot", "anonymous_share_drift": "is_anonymous"}


def _learned(batch: pa.Table, column: str) -> list[float]:
    """A history as the drift checks would have learned it: the share, give or take 2 %."""
    share = pa.compute.mean(batch.column(column).cast(pa.float64())).as_py()
    return [share * (1 + 0.02 * ((i % 5) - 2) / 2) for i in range(20)]


def ours(batch: pa.Table, repeat: int) -> dict[str, Any]:
    from wikistream.quality.checks import load_checks
    from wikistream.quality.evaluate import evaluate

    checks = load_checks().silver
    history = {name: _learned(batch, column) for name, column in DRIFTS.items()}
    times, failures = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = evaluate(batch, checks, lambda c: history.get(c.name, []))
        times.append(time.perf_counter() - started)
        failures = [r.check.name for r in outcome.failures]
    seconds = statistics.median(times)
    return {
        "seconds": round(seconds, 3),
        "runs_s": [round(t, 3) for t in times],
        "rows_per_s": round(batch.num_rows / seconds),
        "checks": len(checks),
        "failed_checks": failures,
    }


def pandera_schema(batch: pa.Table) -> Any:
    """The default silver checks, written for pandera."""
    import pandera.pandas as pdr

    from wikistream.quality.checks import load_checks

    by_name = {c.name: c for c in load_checks().silver}
    # pandas warns about capturing groups in a filter: the same patterns, non-capturing.
    ip = (by_name["ip_user_is_an_address"].regex or "").replace("(", "(?:")
    temporary = (by_name["temporary_account_name"].regex or "").replace("(", "(?:")
    bots, anonymous = (statistics.fmean(_learned(batch, c)) for c in DRIFTS.values())
    regions = by_name["region_known"].allowed
    global_projects = [
        "www.wikidata.org",
        "commons.wikimedia.org",
        "meta.wikimedia.org",
        "www.mediawiki.org",
        "species.wikimedia.org",
    ]

    def share_at_most(ratio: float, failing: Any) -> Any:
        return lambda df: bool(failing(df).mean() <= ratio)

    return pdr.DataFrameSchema(
        {
            "event_id": pdr.Column(str, unique=True, nullable=False),
            "event_ts": pdr.Column(nullable=False),
            "domain": pdr.Column(str, nullable=False),
            "user": pdr.Column(str, nullable=True),
            "title": pdr.Column(str, nullable=True),
            "type": pdr.Column(
                str, pdr.Check.isin(["edit", "new", "log", "categorize", "external"]), nullable=True
            ),
            "user_kind": pdr.Column(
                str, pdr.Check.isin(["registered", "ip", "temporary", "bot"]), nullable=True
            ),
            "namespace": pdr.Column(checks=pdr.Check.in_range(-2, 100000), nullable=True),
        },
        checks=[
            pdr.Check(lambda df: bool(df["user"].notna().mean() >= 0.95), name="user_complete"),
            pdr.Check(lambda df: bool(df["title"].notna().mean() >= 0.95), name="title"),
            pdr.Check(
                share_at_most(0.01, lambda df: ~df["region"].isin(regions)), name="region_known"
            ),
            pdr.Check(
                share_at_most(
                    0.01,
                    lambda df: (df["region"] == "global") != df["domain"].isin(global_projects),
                ),
                name="region_matches_domain",
            ),
            pdr.Check(
                share_at_most(
                    0.01,
                    lambda df: (
                        (df["user_kind"] == "ip")
                        & ~df["user"].fillna("").str.contains(ip, regex=True)
                    ),
                ),
                name="ip_user_is_an_address",
            ),
            pdr.Check(
                share_at_most(
                    0.01,
                    lambda df: (
                        (df["user_kind"] == "temporary")
                        & ~df["user"].fillna("").str.contains(temporary, regex=True)
                    ),
                ),
                name="temporary_account_name",
            ),
            pdr.Check(
                lambda df: (
                    df["length_old"].isna()
                    | df["length_new"].isna()
                    | (df["length_delta"] == df["length_new"] - df["length_old"])
                ),
                name="length_delta_consistent",
            ),
            pdr.Check(
                share_at_most(
                    0.5,
                    lambda df: (
                        (df["processing_lag_s"] > 3600)
                        & ~df["source"].str.contains("^(?:file:|backfill:)")
                    ),
                ),
                name="event_not_stale",
            ),
            pdr.Check(
                lambda df: bool(abs(df["is_bot"].mean() - 0.22) <= 0.25 * 0.22 + 1),
                name="bot_share_drift",
            ),
            pdr.Check(
                lambda df: bool(abs(df["is_anonymous"].mean() - 0.1) <= 1),
                name="anonymous_share_drift",
            ),
        ],
    )


def with_pandera(batch: pa.Table, repeat: int) -> dict[str, Any]:
    import pandera

    schema = pandera_schema(batch)
    started = time.perf_counter()
    frame = batch.to_pandas()
    convert = time.perf_counter() - started
    times, failed = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            schema.validate(frame, lazy=True)
        except Exception as exc:  # SchemaErrors: report, keep timing
            failed = str(exc)[:300]
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    return {
        "library": f"pandera {pandera.__version__} (pandas backend)",
        "seconds": round(seconds, 3),
        "runs_s": [round(t, 3) for t in times],
        "to_pandas_s": round(convert, 3),
        "rows_per_s": round(batch.num_rows / seconds),
        "failure": failed,
    }


def clean_run(path: Path, events: int, batch: int) -> dict[str, Any]:
    """Every gate over `events` clean events in cycles of `batch`: how many checks failed."""
    from wikistream.lakehouse.store import Lakehouse
    from wikistream.pipeline.process import Processor
    from wikistream.pipeline.runner import run_ingest
    from wikistream.settings import load_settings
    from wikistream.sources.file import FileSource

    warehouse = Path(tempfile.mkdtemp(prefix="wikistream-dq-"))
    try:
        settings = load_settings(warehouse=warehouse, filters={"domains": ["*"]})
        lakehouse = Lakehouse(settings)
        lakehouse.init()
        processor = Processor(lakehouse)
        held, started = 0, time.perf_counter()
        for done in range(0, events, batch):  # each run resumes where the last one stopped
            run_ingest(settings, FileSource(path), max_events=min(batch, events - done))
            held += len(processor.run().held)
        seconds = time.perf_counter() - started
        processor.close()
        results = Lakehouse(settings).table("dq.results").scan().to_arrow().to_pylist()
    finally:
        shutil.rmtree(warehouse, ignore_errors=True)
    verdicts = [r["verdict"] for r in results]
    return {
        "events": events,
        "cycles": events // batch,
        "seconds": round(seconds, 1),
        "check_results": len(results),
        "passed": verdicts.count("pass"),
        "skipped": verdicts.count("skipped"),
        "failed": verdicts.count("fail"),
        "failed_checks": sorted({r["check_name"] for r in results if r["verdict"] == "fail"}),
        "batches_held": held,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=50_000, help="clean run: events per cycle")
    parser.add_argument("--no-clean-run", action="store_true")
    args = parser.parse_args()

    from wikistream.engine import configure_engine
    from wikistream.settings import EngineSettings

    configure_engine(EngineSettings())
    path = ensure_events_file(DATA / f"events-{args.events}.jsonl", args.events)
    batch = silver_batch(path, args.events)
    mine = ours(batch, args.repeat)
    theirs = with_pandera(batch, args.repeat)
    result: dict[str, Any] = {
        "benchmark": "silver_gate",
        "rows": batch.num_rows,
        "wikistream": mine,
        "target_s": 2.0,
        "baseline": theirs,
        "baseline_over_wikistream": round(theirs["seconds"] / mine["seconds"], 2),
    }
    if not args.no_clean_run:
        result["clean_run"] = clean_run(path, args.events, args.batch)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
