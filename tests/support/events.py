"""Small, hand-written recentchange events for transform tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pyarrow as pa

from wikistream.events.arrow import decode_chunk
from wikistream.events.decode import EventDecoder
from wikistream.lakehouse import commits
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS
from wikistream.settings import EVENT_TYPES, Settings

_ids = itertools.count()


def event(
    at: str,
    user: str | None = "Alice",
    *,
    domain: str = "en.wikipedia.org",
    type: str = "edit",
    old: int | None = 100,
    new: int | None = 150,
    bot: bool = False,
    comment: str = "",
    id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An event at `at` (ISO time); `old`/`new` are the page lengths."""
    body: dict[str, Any] = {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "dt": at,
            "id": id or f"id-{next(_ids)}",
            "domain": domain,
            "stream": "mediawiki.recentchange",
        },
        "type": type,
        "namespace": 0,
        "title": "Page",
        "bot": bot,
        "comment": comment,
        "wiki": domain.split(".")[0] + "wiki",
    }
    if user is not None:
        body["user"] = user
    length = {k: v for k, v in (("old", old), ("new", new)) if v is not None}
    if length:
        body["length"] = length
    body.update(extra)
    return body


def bronze_rows(events: list[dict[str, Any]]) -> pa.Table:
    """The bronze rows these events become (every domain allowed)."""
    records = [msgspec.json.encode(e) for e in events]
    decoder = EventDecoder(["*"], EVENT_TYPES)
    return decode_chunk(decoder, records, "test", datetime(2026, 11, 23, tzinfo=UTC)).table


def recent_events(count: int, age_s: float = 30, **kw: Any) -> list[dict[str, Any]]:
    """`count` events 10 ms apart, the first `age_s` seconds ago, by seven users."""
    start = datetime.now(UTC) - timedelta(seconds=age_s)
    return [
        event((start + timedelta(milliseconds=10 * i)).isoformat(), f"User{i % 7}", **kw)
        for i in range(count)
    ]


def write_bronze(settings: Settings, events: list[dict[str, Any]], source: str) -> None:
    """Append events to bronze.events as a writer would (a bad batch is a real one)."""
    records = [msgspec.json.encode(e) for e in events]
    rows = decode_chunk(EventDecoder(["*"], EVENT_TYPES), records, source, datetime.now(UTC))
    commits.append(Lakehouse(settings).table(BRONZE_EVENTS), rows.table, {})


def run_cycle(settings: Settings, layer: str = "all") -> None:
    """One silver/gold cycle, as `wikistream process` runs it."""
    from wikistream.pipeline.process import Processor  # Daft: only the tests that need it

    processor = Processor(Lakehouse(settings))
    try:
        processor.run(layer)
    finally:
        processor.close()


def spread_history(
    days: int, per_day: int, big_day: int = 0, start: str = "2026-10-01T00:00:00Z"
) -> list[dict[str, Any]]:
    """`days` days of events, `per_day` a day spread over its hours (day `big_day - 1` holds
    ten times as many, when given), by a few dozen users of three wikis: some anonymous,
    some bots, large deletions and reverts among them."""
    first = datetime.fromisoformat(start)
    found: list[dict[str, Any]] = []
    for day in range(days):
        count = per_day * (10 if day == big_day - 1 else 1)
        for i in range(count):
            at = first + timedelta(days=day, seconds=i * 86_400 // count)
            user = f"192.0.2.{i % 13}" if i % 5 == 0 else f"User{i % 37}"
            domain = ("en.wikipedia.org", "de.wikipedia.org", "www.wikidata.org")[i % 3]
            old, new = (9000, 100) if i % 41 == 0 else (100, 100 + i % 300)
            comment = f"Undid revision {i} by User{(i + 1) % 37}" if i % 29 == 0 else "edit"
            kind = "new" if i % 17 == 0 else "edit"
            found.append(
                event(
                    at.isoformat().replace("+00:00", "Z"),
                    user,
                    domain=domain,
                    type=kind,
                    old=None if kind == "new" else old,
                    new=new,
                    bot=i % 23 == 0,
                    comment=comment,
                )
            )
    return found
