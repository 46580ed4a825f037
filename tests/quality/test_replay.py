"""bronze.quarantine replay: records an older decoder rejected move to bronze.events once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pyarrow.compute as pc

from tests.support.events import recent_events
from tests.support.warehouse import make_settings, read_table
from wikistream.events.arrow import quarantine_to_arrow
from wikistream.events.decode import Rejection
from wikistream.lakehouse import commits
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_QUARANTINE
from wikistream.quality.replay import replay_bronze_quarantine


def test_bronze_replay_moves_what_decodes_now_and_keeps_the_rest(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "wh")
    valid = [msgspec.json.encode(e) for e in recent_events(5)]
    garbage = [b"{not json", b"[]"]
    dead = [
        (f"q{i}", Rejection(i, "invalid_type", "old decoder bug"), str(i), raw)
        for i, raw in enumerate(valid + garbage + valid[:1])
    ]
    table = Lakehouse(settings).table(BRONZE_QUARANTINE)
    commits.append(table, quarantine_to_arrow(dead, "sse:https://x", datetime.now(UTC)), {})

    first = replay_bronze_quarantine(Lakehouse(settings))
    again = replay_bronze_quarantine(Lakehouse(settings))
    assert (first.selected, first.promoted, first.still_failing) == (8, 5, 2)
    assert (again.selected, again.promoted) == (2, 0)
    events = read_table(settings, "bronze.events")
    assert events.num_rows == 5 == len(pc.unique(events.column("event_id")))
    left = read_table(settings, "bronze.quarantine").column("raw").to_pylist()
    assert sorted(left) == sorted(garbage)
