"""Wikimedia's recentchange schema is the contract of the decode edge.

Events generated from the schema file itself (tests/support/schema_events.py) go through
decode, then a real bronze commit, then a real silver and gold cycle. Each one is accepted with its
values intact, dropped by a configured filter, or quarantined with its documented reason
code; none raises, none makes a commit fail.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.schema_events import (
    ALLOWED_DOMAINS,
    EVENTS,
    bronze_values,
    encode,
    expected_outcome,
)
from tests.support.warehouse import make_settings
from wikistream.events.arrow import decode_chunk
from wikistream.events.decode import EventDecoder
from wikistream.lakehouse.reads import rows_where
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS, BRONZE_QUARANTINE, SILVER_EVENTS
from wikistream.layers.bronze import BronzeWriter
from wikistream.layers.enrichment import normalize_user
from wikistream.pipeline.process import Processor
from wikistream.settings import EVENT_TYPES, Settings
from wikistream.sources.base import SourceBatch

NOW = datetime(2026, 11, 23, tzinfo=UTC)
DECODER = EventDecoder(ALLOWED_DOMAINS, EVENT_TYPES)
SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
BATCHES = st.lists(st.tuples(EVENTS, st.booleans()), min_size=1, max_size=12)
# Events with 100,000-character strings: Hypothesis would warn when it prints a failing one.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def _records(batch: list[tuple[dict[str, Any], bool]]) -> list[bytes]:
    return [encode(event, ascii_only) for event, ascii_only in batch]


def _check_accepted_row(row: dict[str, Any], event: dict[str, Any], raw: bytes) -> None:
    outcome = expected_outcome(event, raw)
    wanted = bronze_values(event, outcome)
    log_params = wanted.pop("log_params")
    got = {k: row[k] for k in wanted}
    assert got == wanted
    if log_params is None:
        assert row["log_params"] is None
    else:
        assert json.loads(row["log_params"]) == log_params
    assert row["raw"] == raw.decode()


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_DATA)
@given(BATCHES)
def test_every_schema_event_is_accepted_dropped_or_quarantined_with_its_reason(
    batch: list[tuple[dict[str, Any], bool]],
) -> None:
    records = _records(batch)
    chunk = decode_chunk(DECODER, records, "contract", NOW)
    rejected = {r.index: r for r in chunk.rejections}
    rows = iter(chunk.table.to_pylist())
    dropped: dict[str, int] = {}
    for index, ((event, _), raw) in enumerate(zip(batch, records, strict=True)):
        outcome = expected_outcome(event, raw)
        if outcome.kind == "quarantined":
            assert index in rejected, (event["meta"].get("dt"), outcome, event)
            assert rejected[index].reason in outcome.reasons, (event, rejected[index])
        elif outcome.kind == "dropped":
            assert index not in rejected, (event, rejected.get(index))
            (reason,) = outcome.reasons
            dropped[reason] = dropped.get(reason, 0) + 1
        else:
            assert index not in rejected, (event, rejected.get(index))
            _check_accepted_row(next(rows), event, raw)
    assert next(rows, None) is None
    assert dict(chunk.dropped) == dropped


# -- through a real bronze commit and a real silver cycle ------------------------------------

_sources = itertools.count()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Processor]]:
    warehouse: Path = tmp_path_factory.mktemp("contract") / "wh"
    configured = make_settings(warehouse, filters={"domains": ALLOWED_DOMAINS})
    processor = Processor(Lakehouse(configured))
    yield configured, processor
    processor.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[*SLOW_DATA, HealthCheck.function_scoped_fixture],
)
@given(BATCHES)
def test_schema_events_reach_bronze_and_silver_intact(
    pipeline: tuple[Settings, Processor], batch: list[tuple[dict[str, Any], bool]]
) -> None:
    configured, processor = pipeline
    records = _records(batch)
    source = f"contract:{next(_sources)}"
    lakehouse = Lakehouse(configured)
    writer = BronzeWriter(lakehouse, source)
    writer.add(SourceBatch(records, [str(i + 1) for i in range(len(records))]))
    writer.flush()
    writer.close()
    assert writer.position == str(len(records))  # committed, position included
    bronze = rows_where(lakehouse.table(BRONZE_EVENTS), "source", [source]).to_pylist()
    dead = rows_where(lakehouse.table(BRONZE_QUARANTINE), "source", [source]).to_pylist()
    by_raw = {row["raw"]: row for row in bronze}
    reasons = {bytes(row["raw"]): row["reason"] for row in dead}
    accepted: dict[str, tuple[dict[str, Any], bytes]] = {}
    for (event, _), raw in zip(batch, records, strict=True):
        outcome = expected_outcome(event, raw)
        if outcome.kind == "quarantined":
            assert reasons.get(raw) in outcome.reasons, (event, reasons.get(raw))
        elif outcome.kind == "accepted":
            row = by_raw.get(raw.decode())
            if row is None:  # a repeat of an event bronze already holds: dropped, not lost
                (event_id,) = DECODER.decode([raw]).ids
                known = rows_where(lakehouse.table(BRONZE_EVENTS), "event_id", [event_id])
                assert known.num_rows == 1, event
                continue
            _check_accepted_row(row, event, raw)
            accepted[row["event_id"]] = (event, raw)
    report = processor.run("all")  # silver, and gold over whatever silver now holds
    assert report.held == {}, report.held
    silver = rows_where(lakehouse.table(SILVER_EVENTS), "event_id", list(accepted)).to_pylist()
    quarantined = rows_where(
        lakehouse.table("silver.quarantine"), "event_id", list(accepted), ("event_id",)
    )
    ids = [row["event_id"] for row in silver] + quarantined.column("event_id").to_pylist()
    assert sorted(ids) == sorted(accepted)  # every accepted event once, in silver or its quarantine
    for row in silver:
        event, raw = accepted[row["event_id"]]
        outcome = expected_outcome(event, raw)
        assert (row["event_ts"], row["domain"]) == (outcome.event_ts, outcome.domain)
        assert row["type"] == event.get("type") and row["title"] == event.get("title")
        assert row["user"] == normalize_user(event.get("user"))
