"""`wikistream dq …` and `wikistream quarantine …` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import wikistream
from tests.support.events import recent_events, write_bronze
from tests.support.warehouse import make_settings

LIVE = "sse:https://stream.wikimedia.org/v2/stream/recentchange"


def test_a_held_batch_is_reported_checked_on_demand_and_released(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    settings = make_settings(warehouse)
    batch = recent_events(100)
    for e in batch[:30]:
        e.pop("user")
    write_bronze(settings, batch, LIVE)
    wh = ("--warehouse", str(warehouse))

    held = wikistream(*wh, "process")
    assert held.returncode == 4 and "HELD by its quality gate" in held.stderr

    report = json.loads(wikistream(*wh, "dq", "report", "--output", "json").stdout)
    [entry] = report["held"]
    assert entry["table"] == "silver.events"
    by_check = {c["check"]: c for c in report["checks"]}
    assert (
        by_check["user_complete"]["failed"] == 1 and by_check["user_complete"]["level"] == "error"
    )
    text = wikistream(*wh, "dq", "report", "--layer", "silver").stdout
    assert f"wikistream dq release {entry['run_id']}" in text

    on_demand = wikistream(*wh, "dq", "run", "--layer", "silver")
    assert on_demand.returncode == 4
    assert "user_complete" in on_demand.stdout and "fail" in on_demand.stdout

    bogus = wikistream(*wh, "dq", "release", "silver-nope")
    assert bogus.returncode == 2 and bogus.stderr.startswith("error: no gate run 'silver-nope'")
    released = wikistream(*wh, "dq", "release", entry["run_id"], "--reason", "redacted users")
    assert released.returncode == 0, released.stderr
    promoted = wikistream(*wh, "process", "--output", "json")
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["rows_written"]["silver.events"] == 100
    assert json.loads(wikistream(*wh, "dq", "report", "--output", "json").stdout)["held"] == []


def test_quarantine_list_and_replay(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    settings = make_settings(warehouse)
    write_bronze(settings, recent_events(20, age_s=4 * 3600) + recent_events(30), LIVE)
    wh = ("--warehouse", str(warehouse))
    assert wikistream(*wh, "process").returncode == 0

    listed = wikistream(*wh, "quarantine", "list", "--output", "json")
    rows = json.loads(listed.stdout)
    assert len(rows) == 20 and "20 rows in silver.quarantine" in listed.stderr
    assert rows[0]["failed_checks"] == ["event_not_stale"]

    dry = wikistream(*wh, "quarantine", "replay", "--dry-run")
    assert "would move 20 to silver.events" in dry.stdout
    moved = wikistream(*wh, "quarantine", "replay", "--output", "json")
    assert json.loads(moved.stdout)["promoted"] == 20
    again = json.loads(wikistream(*wh, "quarantine", "replay", "--output", "json").stdout)
    assert again["selected"] == 0
    total = wikistream(*wh, "query", "SELECT count(*) AS n FROM silver.events", "--output", "json")
    assert json.loads(total.stdout) == [{"n": 50}]
    bronze = wikistream(*wh, "quarantine", "list", "--layer", "bronze", "--output", "json")
    assert bronze.returncode == 0 and json.loads(bronze.stdout) == []
