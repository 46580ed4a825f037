"""A test warehouse: settings pointing at a folder, its tables read back, real sample events."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from wikistream.lakehouse.store import Lakehouse
from wikistream.settings import Settings, load_settings

# Real data copied into the repository with its licences (tests/data/README.md), so a fresh
# clone with nothing beside it passes its tests.
DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = DATA / "samples"
SCHEMAS = DATA / "schemas"

# The transform suite runs once on the native runner and once on a local Ray cluster
# (tests/pipeline/test_ray.py re-runs it in a subprocess with TESTS_RUNNER=ray).
TEST_RUNNER = os.environ.get("TESTS_RUNNER", "native")


def sample_lines() -> list[bytes]:
    """The 5,607 real recentchange events in tests/data/samples (MIT, editgroups)."""
    lines: list[bytes] = []
    for name in ("wikidata-2018-03-07-batch.jsonl", "wikidata-2018-batch-with-reverts.jsonl"):
        lines += [line for line in (SAMPLES / name).read_bytes().splitlines() if line.strip()]
    return lines


def make_settings(warehouse: Path | str, *, init: bool = True, **overrides: Any) -> Settings:
    """Settings for a test warehouse; `init`: its tables created, as the CLI does first."""
    base: dict[str, Any] = {
        "warehouse": warehouse,
        "engine": {"runner": TEST_RUNNER},
        "filters": {"domains": ["*"]},
        "synthetic": {"start": "2026-01-01T00:00:00Z"},
        "source": {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "read_timeout_s": 2.0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    settings = load_settings(**base)
    if init:
        Lakehouse(settings).init()
    return settings


def read_table(settings: Settings, identifier: str) -> pa.Table:
    return Lakehouse(settings).table(identifier).scan().to_arrow()


# Columns that say when and by which run a row was written: two runs over the same events
# differ in these and nothing else.
VOLATILE = ("processed_at", "processing_lag_s", "ingested_at", "quarantined_at", "run_id")
LAYER_KEYS = {
    "silver.events": ["event_id"],
    "silver.quarantine": ["event_id"],
    "gold.hourly_stats": ["event_hour", "domain"],
    "gold.metrics_10min": ["window_start", "scope", "entity"],
    "gold.risk_scores": ["window_start", "user"],
    "gold.daily_summary": ["event_date"],
}


def layer_rows(settings: Settings, identifier: str) -> list[dict[str, Any]]:
    """A table's rows without the volatile columns, in key order (to compare two runs)."""
    table = read_table(settings, identifier)
    table = table.drop_columns([c for c in VOLATILE if c in table.column_names])
    keys = [(k, "ascending") for k in LAYER_KEYS[identifier]]
    return table.sort_by(keys).to_pylist()


def all_layers(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Silver, its quarantine and every gold table, as `layer_rows`."""
    return {identifier: layer_rows(settings, identifier) for identifier in LAYER_KEYS}
