"""`wikistream replay` on real tables: lost rows come back once, and a replay run twice
leaves every table as running it once."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc

from tests.cli.test_cli import wikistream
from tests.support.events import event, run_cycle, write_bronze
from tests.support.sse_server import EventStreamsServer, Script
from tests.support.warehouse import make_settings, read_table
from wikistream.lakehouse import commits
from wikistream.lakehouse.store import Lakehouse
from wikistream.pipeline.runner import run_ingest
from wikistream.settings import Settings
from wikistream.sources.file import FileSource

ALL_WIKIS = '[filters]\ndomains = ["*"]\n'
SILVER_COLUMNS = ("event_id", "event_ts", "domain", "user", "region", "is_bot", "length_delta")


def _cli(warehouse: Path, *args: str) -> dict[str, object]:
    config = warehouse.parent / "wikistream.toml"
    if not config.exists():
        config.write_text(ALL_WIKIS)
    result = wikistream(
        "--config", str(config), "--warehouse", str(warehouse), *args, "--output", "json"
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _ids(settings: Settings, table: str = "bronze.events") -> list[str]:
    ids: list[str] = read_table(settings, table).column("event_id").to_pylist()
    return ids


def _lose(settings: Settings, table: str, ids: list[str]) -> None:
    """Data loss for real: the rows are deleted from the table."""
    commits.delete(Lakehouse(settings).table(table), "event_id", ids)


def test_bronze_replay_from_a_file_brings_lost_events_back_once(
    tmp_path: Path, samples: list[bytes]
) -> None:
    warehouse = tmp_path / "wh"
    settings = make_settings(warehouse)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(samples[:3000]) + b"\n{not json\n")
    run_ingest(settings, FileSource(path))
    original = sorted(_ids(settings))
    dead_letters = read_table(settings, "bronze.quarantine").num_rows
    assert len(original) > 2900 and dead_letters == 1
    _lose(settings, "bronze.events", original[100:400])
    assert len(_ids(settings)) == len(original) - 300

    args = (
        "replay",
        "--layer",
        "bronze",
        "--from",
        "earliest",
        "--source",
        f"file:{path}",
        "--no-process",
    )
    first = _cli(warehouse, *args)
    assert first["accepted"] == 300 and first["source"] == f"replay:file:{path.resolve()}"
    assert sorted(_ids(settings)) == original  # each once, none lost
    second = _cli(warehouse, *args)
    assert second["accepted"] == 0
    assert second["duplicates_dropped"] == first["duplicates_dropped"] + 300  # type: ignore[operator]
    assert sorted(_ids(settings)) == original
    assert read_table(settings, "bronze.quarantine").num_rows == dead_letters

    # From a position (a byte offset the file source produced): only what follows is read.
    middle = sum(len(line) + 1 for line in samples[:1500])
    partial = _cli(
        warehouse,
        "replay",
        "--layer",
        "bronze",
        "--from",
        str(middle),
        "--source",
        f"file:{path}",
        "--no-process",
    )
    assert partial["events_read"] == 1501 and partial["accepted"] == 0


def test_bronze_replay_from_a_time_over_sse_uses_since(
    tmp_path: Path, samples: list[bytes]
) -> None:
    warehouse = tmp_path / "wh"
    settings = make_settings(warehouse)
    events = samples[:2000]  # the stream goes on past the gap by more than the grace
    with EventStreamsServer(events, Script(hold_open_at_end_s=60)) as server:
        run_ingest(settings, _sse(server.url, settings), max_events=2000)
        original = sorted(_ids(settings))
        bronze = read_table(settings, "bronze.events").sort_by("event_ts")
        # An outage nobody noticed: the events of a minute are gone.
        gap_start = bronze.column("event_ts")[400].as_py()
        gap_end = bronze.column("event_ts")[800].as_py()
        lost = bronze.filter(
            pc.and_(
                pc.greater_equal(bronze.column("event_ts"), gap_start),
                pc.less(bronze.column("event_ts"), gap_end),
            )
        )
        _lose(settings, "bronze.events", lost.column("event_id").to_pylist())

        args = (
            "replay",
            "--layer",
            "bronze",
            "--from",
            gap_start.isoformat(),
            "--until",
            gap_end.isoformat(),
            "--source",
            f"sse:{server.url}",
            "--no-process",
        )
        first = _cli(warehouse, *args)
        assert first["accepted"] == lost.num_rows and first["stopped_by"] == "until"
        assert server.observed.requests[-1]["since"] == gap_start.isoformat()
        assert server.observed.requests[-1]["last_event_id"] is None
        assert sorted(_ids(settings)) == original
        second = _cli(warehouse, *args)
        assert second["accepted"] == 0
        assert sorted(_ids(settings)) == original


def _sse(url: str, settings: Settings) -> FileSource:
    from wikistream.sources.registry import open_source

    return open_source(f"sse:{url}", settings)  # type: ignore[return-value]


def _two_days(settings: Settings) -> None:
    batch = [
        event(f"2026-11-{day}T{hour:02d}:{minute:02d}:00Z", user=f"U{minute % 5}", domain=domain)
        for day in (20, 21)
        for hour in (9, 10)
        for minute in range(0, 60, 3)
        for domain in ("en.wikipedia.org", "xx.wikipedia.org")
    ]
    write_bronze(settings, batch, "file:/data/two-days.jsonl")


def _silver(settings: Settings) -> list[dict[str, object]]:
    rows = read_table(settings, "silver.events").select(list(SILVER_COLUMNS))
    return rows.sort_by("event_id").to_pylist()


def _gold(settings: Settings) -> dict[str, list[dict[str, object]]]:
    out = {}
    for name, keys in (
        ("gold.hourly_stats", ["event_hour", "domain"]),
        ("gold.risk_scores", ["window_start", "user"]),
        ("gold.daily_summary", ["event_date"]),
    ):
        rows = read_table(settings, name)
        rows = rows.drop_columns([c for c in rows.column_names if c.endswith("_at")])
        out[name] = rows.sort_by([(k, "ascending") for k in keys]).to_pylist()
    return out


def test_silver_replay_recomputes_the_days_and_gold_follows(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    settings = make_settings(warehouse)
    _two_days(settings)
    run_cycle(settings)
    regions = {r["domain"]: r["region"] for r in _silver(settings)}
    assert regions["xx.wikipedia.org"] == "other"

    # The region map gets an entry for xx: replaying silver from the 21st re-derives that day.
    (tmp_path / "wikistream.toml").write_text(ALL_WIKIS + '[silver.regions]\nxx = "oceania"\n')
    first = _cli(warehouse, "replay", "--layer", "silver", "--from", "2026-11-21T08:00:00Z")
    assert first["rows_written"]["silver.events"] == 80  # type: ignore[index]
    silver = _silver(settings)
    assert len(silver) == 160 and len({r["event_id"] for r in silver}) == 160
    by_day = {
        (str(r["event_ts"])[:10], r["region"]) for r in silver if r["domain"] == "xx.wikipedia.org"
    }
    assert by_day == {("2026-11-20", "other"), ("2026-11-21", "oceania")}
    gold = _gold(settings)
    hourly = gold["gold.hourly_stats"]
    assert sum(r["events"] for r in hourly) == 160  # type: ignore[misc]

    _cli(warehouse, "replay", "--layer", "silver", "--from", "2026-11-21T08:00:00Z")
    assert _silver(settings) == silver and _gold(settings) == gold


def test_gold_replay_from_a_time_or_a_snapshot_restores_windows(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    settings = make_settings(warehouse)
    _two_days(settings)
    run_cycle(settings)
    expected = _gold(settings)
    damaged = [
        h
        for h in pc.unique(
            read_table(settings, "gold.hourly_stats").column("event_hour")
        ).to_pylist()
        if h.day == 21
    ]
    _lose_windows(settings, damaged)
    assert _gold(settings) != expected

    for _ in range(2):  # twice = once
        report = _cli(warehouse, "replay", "--layer", "gold", "--from", "2026-11-21T00:00:00Z")
        assert report["rows_written"]["gold.hourly_stats"] == 4  # type: ignore[index]
        assert _gold(settings) == expected

    # From a silver snapshot: the days of the rows silver appended after it (whole days: the
    # day's four hours are recomputed, the lost one among them).
    silver = Lakehouse(settings).table("silver.events")
    before = silver.current_snapshot()
    assert before is not None
    more = [event("2026-11-21T10:30:30Z", user="Late", domain="en.wikipedia.org")]
    write_bronze(settings, more, "file:/data/late.jsonl")
    run_cycle(settings, "silver")
    _lose_windows(settings, [h for h in damaged if h.hour == 10])
    report = _cli(warehouse, "replay", "--layer", "gold", "--from", str(before.snapshot_id))
    assert report["rows_written"]["gold.hourly_stats"] == 4  # type: ignore[index]
    assert pc.sum(read_table(settings, "gold.hourly_stats").column("events")).as_py() == 161


def _lose_windows(settings: Settings, hours: list[object]) -> None:
    commits.delete(Lakehouse(settings).table("gold.hourly_stats"), "event_hour", hours)


def test_silver_and_gold_replays_need_the_processing_run_stopped(tmp_path: Path) -> None:
    from wikistream.lakehouse.store import Lakehouse

    warehouse = tmp_path / "wh"
    settings = make_settings(warehouse)
    _two_days(settings)
    # A `run` with processing holds the processing lease (renewed while it runs).
    lease = Lakehouse(settings).lease("process", "host:4242:abcd1234", 60.0)
    assert lease.acquire()
    (tmp_path / "wikistream.toml").write_text(ALL_WIKIS)
    config = str(tmp_path / "wikistream.toml")
    for layer in ("gold", "silver"):
        result = wikistream(
            "--config",
            config,
            "--warehouse",
            str(warehouse),
            "replay",
            "--layer",
            layer,
            "--from",
            "earliest",
        )
        assert result.returncode == 2 and "host:4242:abcd1234" in result.stderr, result.stderr
        assert "stop that `wikistream run`" in result.stderr
    lease.release()
    freed = wikistream(
        "--config",
        config,
        "--warehouse",
        str(warehouse),
        "replay",
        "--layer",
        "gold",
        "--from",
        "earliest",
    )
    assert freed.returncode == 0, freed.stderr
