"""Quality gates in real processing cycles: real bad batches in real tables, alerts at a real
webhook and a real SMTP server, held batches, releases, quarantine and its replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.support.alert_sinks import SmtpSink, WebhookSink, alerts_to
from tests.support.events import recent_events, write_bronze
from tests.support.warehouse import make_settings, read_table
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import GOLD_TABLES
from wikistream.layers import gold
from wikistream.pipeline.process import Processor
from wikistream.pipeline.runner import run_ingest
from wikistream.quality.audit import add_release, run_rows
from wikistream.quality.gates import QualityGates
from wikistream.quality.replay import replay_silver_quarantine
from wikistream.settings import Settings
from wikistream.sources.file import FileSource
from wikistream.sources.synthetic import SyntheticGenerator

LIVE = "sse:https://stream.wikimedia.org/v2/stream/recentchange"


@pytest.fixture
def sinks(tmp_path: Path) -> Iterator[tuple[WebhookSink, SmtpSink]]:
    webhook, smtp = WebhookSink(), SmtpSink(tmp_path)
    yield webhook, smtp
    webhook.close()
    smtp.close()


def _settings(
    folder: Path, sinks: tuple[WebhookSink, SmtpSink] | None = None, **overrides: Any
) -> Settings:
    if sinks is not None:
        overrides["alerts"] = alerts_to(*sinks)
    return make_settings(folder / "wh", **overrides)


def _rows(settings: Settings, table: str) -> int:
    if not Lakehouse(settings).exists(table):
        return 0
    return read_table(settings, table).num_rows


def _snapshots(settings: Settings, table: str) -> int:
    return len(Lakehouse(settings).table(table).snapshots())


def _results(settings: Settings, run_id: str) -> dict[str, dict[str, Any]]:
    return {r["check_name"]: r for r in run_rows(Lakehouse(settings), run_id)}


def _latest_run(settings: Settings, table: str) -> str:
    rows = read_table(settings, "dq.results").filter(pc.field("table_name") == table)
    return str(rows.sort_by([("run_at", "descending")]).column("run_id")[0].as_py())


def test_null_users_hold_the_batch_alert_once_and_release_promotes_it_once(
    tmp_path: Path, sinks: tuple[WebhookSink, SmtpSink]
) -> None:
    settings = _settings(tmp_path, sinks)
    batch = recent_events(70) + [dict(e, user=None) for e in recent_events(30)]
    for e in batch[70:]:
        e.pop("user")
    write_bronze(settings, batch, LIVE)
    processor = Processor(Lakehouse(settings))
    reports = [processor.run() for _ in range(3)]  # held each time, alerted once
    run_id = reports[0].held["silver.events"]
    assert all(r.held.get("silver.events") for r in reports) and not any(r.rows for r in reports)
    assert _rows(settings, "silver.events") == 0
    assert all(_rows(settings, t.identifier) == 0 for t in GOLD_TABLES)
    result = _results(settings, run_id)["user_complete"]
    assert (result["verdict"], result["level"], result["gate"]) == ("fail", "error", "held")
    assert result["metric_value"] == pytest.approx(0.7) and result["rows_failed"] == 30
    assert result["alerted"]
    assert _results(settings, run_id)["event_id_unique"]["verdict"] == "pass"
    processor.close()
    webhook, smtp = sinks
    assert [b["key"] for b in webhook.received] == ["dq/silver/silver.events/user_complete"]
    assert len(smtp.messages) == 1
    assert f"wikistream dq release {run_id}" in smtp.messages[0].get_payload()
    assert (tmp_path / "wh" / "dq" / "silver" / f"{run_id}.json").exists()

    add_release(Lakehouse(settings), run_rows(Lakehouse(settings), run_id)[0], "known")
    after = Processor(Lakehouse(settings))
    report = after.run()
    assert report.held == {} and report.rows["silver.events"] == 100
    after.run()  # nothing new, nothing twice
    write_bronze(settings, recent_events(50, age_s=20), LIVE)  # the next batch is gated as usual
    after.run()
    after.close()
    hourly = read_table(settings, "gold.hourly_stats")
    assert pc.sum(hourly.column("events")).as_py() == 150 == _rows(settings, "silver.events")


def test_many_duplicated_event_ids_in_bronze_hold_silver(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    events = recent_events(40)
    write_bronze(settings, events, LIVE)
    write_bronze(settings, events[:10], LIVE)  # a writer bug: the same events again
    processor = Processor(Lakehouse(settings))
    report = processor.run()
    processor.close()
    assert set(report.held) == {"bronze.events"}
    result = _results(settings, report.held["bronze.events"])["event_id_mostly_unique"]
    assert (result["verdict"], result["metric_value"]) == ("fail", 10.0)
    assert _snapshots(settings, "silver.events") == 0


def test_a_late_copy_in_bronze_is_a_warning_and_silver_keeps_the_first(tmp_path: Path) -> None:
    """A copy older than the dedupe window can reach bronze: it must never stall the
    pipeline; silver keeps one row, the gate warns."""
    settings = _settings(tmp_path)
    events = recent_events(300)
    write_bronze(settings, events, LIVE)
    write_bronze(settings, events[:1], LIVE)  # resent after the window
    processor = Processor(Lakehouse(settings))
    report = processor.run()
    processor.close()
    assert report.held == {}
    silver = read_table(settings, "silver.events").column("event_id").to_pylist()
    assert len(silver) == len(set(silver)) == 300
    run_id = _latest_run(settings, "bronze.events")
    assert _results(settings, run_id)["event_id_unique"]["verdict"] == "fail"  # warned
    assert _results(settings, run_id)["event_id_mostly_unique"]["verdict"] == "pass"


def test_stale_events_after_an_outage_are_quarantined_and_replayed_into_silver_once(
    tmp_path: Path, sinks: tuple[WebhookSink, SmtpSink]
) -> None:
    settings = _settings(tmp_path, sinks)
    write_bronze(settings, recent_events(40, age_s=3 * 3600) + recent_events(60), LIVE)
    processor = Processor(Lakehouse(settings))
    report = processor.run()
    assert report.held == {} and report.quarantined == {"silver.quarantine": 40}
    assert _rows(settings, "silver.events") == 60
    quarantined = read_table(settings, "silver.quarantine")
    assert set(pc.list_flatten(quarantined.column("failed_checks")).to_pylist()) == {
        "event_not_stale"
    }
    assert quarantined.column("quarantine_reason")[0].as_py().startswith("event_not_stale:")
    processor.run()  # a redo quarantines nothing twice
    assert _rows(settings, "silver.quarantine") == 40

    # Most of a batch stale (> 50 %): a warning alert, and the batch still goes on.
    write_bronze(settings, recent_events(30, age_s=2 * 3600) + recent_events(10, age_s=5), LIVE)
    report = processor.run()
    processor.close()
    assert report.held == {} and report.quarantined == {"silver.quarantine": 30}
    webhook, smtp = sinks
    assert [(b["severity"], b["fields"]["check"]) for b in webhook.received] == [
        ("warning", "event_not_stale")
    ]
    assert smtp.messages == []  # warnings are not routed to e-mail

    catalog = Lakehouse(settings)
    gates = QualityGates(catalog)
    first = replay_silver_quarantine(catalog, gates, check="event_not_stale")
    again = replay_silver_quarantine(catalog, gates)
    gates.close()
    assert (first.selected, first.promoted, first.still_failing) == (70, 70, 0)
    assert again.selected == 0
    silver_ids = read_table(settings, "silver.events").column("event_id")
    assert len(silver_ids) == 140 == len(pc.unique(silver_ids))
    assert _rows(settings, "silver.quarantine") == 0
    final = Processor(Lakehouse(settings))
    final.run()
    final.close()
    hourly = read_table(settings, "gold.hourly_stats")
    assert pc.sum(hourly.column("events")).as_py() == 140


def test_a_broken_region_map_holds_the_batch_until_it_is_fixed(tmp_path: Path) -> None:
    broken = _settings(tmp_path, silver={"regions": {"en": "anglosfere"}})
    write_bronze(broken, recent_events(50), LIVE)
    processor = Processor(Lakehouse(broken))
    report = processor.run()
    processor.close()
    result = _results(broken, report.held["silver.events"])["region_known"]
    assert (result["verdict"], result["rows_failed"]) == ("fail", 50)
    assert _rows(broken, "silver.quarantine") == 0  # a held batch moves nowhere

    fixed = _settings(tmp_path)
    processor = Processor(Lakehouse(fixed))
    assert processor.run().rows["silver.events"] == 50
    processor.close()
    assert set(pc.unique(read_table(fixed, "silver.events").column("region")).to_pylist()) == {
        "anglosphere"
    }


def test_a_gold_total_that_does_not_match_silver_holds_that_gold_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    write_bronze(settings, recent_events(60) + recent_events(20, domain="de.wikipedia.org"), LIVE)
    real = gold.hourly_stats
    monkeypatch.setattr(gold, "hourly_stats", lambda rows: real(rows).slice(1))  # loses a wiki
    processor = Processor(Lakehouse(settings))
    report = processor.run()
    processor.close()
    assert set(report.held) == {"gold.hourly_stats"}
    result = _results(settings, report.held["gold.hourly_stats"])["hourly_matches_silver"]
    assert result["verdict"] == "fail" and result["threshold"] == "== 80"
    assert _snapshots(settings, "gold.hourly_stats") == 0
    assert _rows(settings, "gold.metrics_10min") > 0  # the other tables went on


@pytest.mark.integration
@pytest.mark.long
def test_a_clean_stream_passes_every_gate_over_many_cycles(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    generator = SyntheticGenerator(seed=5, start="2026-11-20T00:00:00Z")
    path = tmp_path / "stream.jsonl"
    processor = Processor(Lakehouse(settings))
    for batch in range(16):  # 16 cycles of 3,500 events (70 s of event time each)
        with path.open("ab") as out:
            out.writelines(
                generator.record(i) + b"\n" for i in range(batch * 3500, (batch + 1) * 3500)
            )
        run_ingest(settings, FileSource(path, chunk_events=4096))
        report = processor.run()
        assert report.held == {}, report.held
    processor.close()
    results = read_table(settings, "dq.results")
    failed = results.filter(pc.equal(results.column("verdict"), "fail")).to_pylist()
    assert failed == []
    judged = results.filter(pc.equal(results.column("verdict"), "pass"))
    checks = set(judged.column("check_name").to_pylist())
    assert {"bot_share_drift", "volume_per_minute", "hourly_matches_silver"} <= checks
    assert pa.compute.sum(
        read_table(settings, "gold.hourly_stats").column("events")
    ).as_py() == _rows(settings, "silver.events")


def test_an_alert_no_channel_delivered_is_not_marked_sent_and_goes_out_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in review: an alert counted as sent (and was suppressed for an hour, across
    restarts through dq.results.alerted) when it was queued; if every channel failed, a
    critical alert was never seen by anyone."""
    webhook = WebhookSink(fail_first=4)  # two cycles' worth of failures, then it recovers
    try:
        settings = _settings(
            tmp_path,
            None,
            alerts={
                "routes": {"critical": ["webhook"], "warning": ["webhook"]},
                "webhook": {"url": webhook.url},
            },
        )
        batch = recent_events(70) + recent_events(30)
        for e in batch[70:]:
            e.pop("user")  # holds the batch (user_complete, error): a critical alert
        write_bronze(settings, batch, LIVE)
        with Processor(Lakehouse(settings)) as processor:
            runs = [processor.run().held["silver.events"] for _ in range(4)]
        alerted = [_results(settings, run_id)["user_complete"]["alerted"] for run_id in runs]
        # cycle 1: both attempts fail; cycle 2: both fail again; cycle 3: delivered;
        # cycle 4: within the window after a delivery: not sent again
        assert alerted == [False, False, True, False]
        assert webhook.attempts == 5 and len(webhook.received) == 1
        assert any("NOT delivered" in r.getMessage() for r in caplog.records)
        again = Processor(Lakehouse(settings))  # a restart remembers the delivery
        run_id = again.run().held["silver.events"]
        again.close()
        assert not _results(settings, run_id)["user_complete"]["alerted"]
        assert len(webhook.received) == 1
    finally:
        webhook.close()


@pytest.mark.parametrize("field", ["type", "user", "namespace", "title"])
def test_one_event_lacking_an_optional_field_never_holds_its_batch(
    tmp_path: Path, field: str
) -> None:
    """The issue's example: one event without `type` (optional in the schema) failed an
    error-level check and held its whole batch until someone ran `dq release`. Such a row
    is promoted as it is (the field null), as docs/quality.md says; so for one row alone,
    and for one among many."""
    settings = _settings(tmp_path)
    for size in (1, 250):
        batch = recent_events(size)
        del batch[-1][field]
        write_bronze(settings, batch, LIVE)
        with Processor(Lakehouse(settings)) as processor:
            report = processor.run()
        assert report.held == {}, report.held
    silver = read_table(settings, "silver.events")
    assert silver.num_rows == 251 and silver.column(field).null_count == 2
    assert _rows(settings, "silver.quarantine") == 0


def test_page_lengths_the_schema_allows_but_no_page_has_are_quarantined_not_wrapped(
    tmp_path: Path,
) -> None:
    """length.old/new may be any integer; their difference used to wrap around 64 bits
    (-2^63 to 2^63-1 gave a delta of -1) and reach gold as a plausible number."""
    settings = _settings(tmp_path)
    events = recent_events(50)
    events[10]["length"] = {"old": -(2**63), "new": 2**63 - 1}
    events[20]["length"] = {"old": 5, "new": 3_000_000_000}
    write_bronze(settings, events, LIVE)
    with Processor(Lakehouse(settings)) as processor:
        assert processor.run().held == {}
    quarantined = read_table(settings, "silver.quarantine").to_pylist()
    assert sorted(r["length_new"] for r in quarantined) == [3_000_000_000, 2**63 - 1]
    assert all("length_plausible" in r["failed_checks"] for r in quarantined)
    extreme = next(r for r in quarantined if r["length_old"] == -(2**63))
    assert extreme["length_delta"] is None  # unknown, never a wrapped number
    assert _rows(settings, "silver.events") == 48
