"""The synthetic stream: deterministic, resumable, and as varied as the real one."""

from __future__ import annotations

import time
from collections import Counter

import msgspec

from wikistream.events.decode import EventDecoder
from wikistream.settings import DEFAULT_DOMAINS, EVENT_TYPES
from wikistream.sources.synthetic import SyntheticGenerator, SyntheticSource

START = "2026-01-01T00:00:00Z"


def _records(source: SyntheticSource, start: str | None = None) -> list[bytes]:
    return [r for batch in source.batches(start) for r in batch.records]


def test_same_seed_same_bytes_and_resume_continues_exactly() -> None:
    full = _records(SyntheticSource(seed=3, start=START, chunk_events=100, limit=1000))
    assert full == _records(SyntheticSource(seed=3, start=START, chunk_events=7, limit=1000))
    rest = _records(SyntheticSource(seed=3, start=START, chunk_events=50, limit=1000), "400")
    assert rest == full[400:]
    other = _records(SyntheticSource(seed=4, start=START, chunk_events=100, limit=1000))
    assert other != full


def test_the_stream_covers_what_the_real_one_has() -> None:
    generator = SyntheticGenerator(seed=42, start=START)
    records = [generator.record(i) for i in range(20_000)]
    decoder = EventDecoder(DEFAULT_DOMAINS, EVENT_TYPES)
    batch = decoder.decode(records)
    types = Counter(e.type for e in batch.events)
    assert set(types) == set(EVENT_TYPES)
    users = [e.user for e in batch.events]
    assert any(u and u.startswith("~2026-") for u in users)  # temporary accounts
    assert any(u and ":" in u for u in users)  # IPv6
    assert any(u and u.count(".") == 3 and u.replace(".", "").isdigit() for u in users)
    assert any(u is None for u in users)  # redacted
    assert any(e.bot for e in batch.events)
    shapes = {
        type(msgspec.json.decode(bytes(e.log_params))).__name__
        for e in batch.events
        if e.type == "log"
    }
    assert shapes == {"list", "dict", "str"}
    assert batch.dropped["canary"] > 0 and batch.dropped["domain_filtered"] > 0
    reasons = Counter(r.reason for r in batch.rejections)
    assert 20 <= sum(reasons.values()) <= 80  # ~0.2 % malformed, several kinds
    assert len(reasons) >= 5
    assert len(batch.ids) - len(set(batch.ids)) > 50  # resent duplicates
    assert len({e.meta.domain for e in batch.events}) >= 15


def test_rate_paces_the_stream() -> None:
    source = SyntheticSource(rate=200, start="now", limit=100)
    began = time.monotonic()
    assert len(_records(source)) == 100
    assert 0.35 <= time.monotonic() - began <= 2.0
