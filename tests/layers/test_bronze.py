"""The bronze writer: positions, restarts, dedupe, quarantine, concurrent writers."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyiceberg.table
import pytest

from tests.support.events import bronze_rows, event
from tests.support.sse_server import EventStreamsServer, Script
from tests.support.warehouse import make_settings, read_table, sample_lines
from wikistream.events.decode import EventDecoder
from wikistream.exceptions import ConcurrentWriter
from wikistream.lakehouse.store import Lakehouse
from wikistream.layers.bronze import BronzeStats, BronzeWriter
from wikistream.pipeline.reading import StopToken
from wikistream.pipeline.runner import Replay, run_ingest
from wikistream.settings import EVENT_TYPES, Settings
from wikistream.sources.file import FileSource
from wikistream.sources.registry import open_source
from wikistream.sources.synthetic import SyntheticGenerator


def _write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _expected(lines: list[bytes]) -> tuple[set[str], int]:
    batch = EventDecoder(["*"], EVENT_TYPES).decode(lines)
    return set(batch.ids), len(batch.rejections)


def _assert_exactly_once(settings: Settings, ids: set[str], dead: int) -> None:
    events = read_table(settings, "bronze.events").column("event_id").to_pylist()
    duplicated = [i for i, n in Counter(events).items() if n > 1]
    assert duplicated == []
    assert set(events) == ids
    quarantine = read_table(settings, "bronze.quarantine")
    assert quarantine.num_rows == dead
    assert len(set(quarantine.column("quarantine_id").to_pylist())) == dead
    assert all(quarantine.column("reason").to_pylist())


def test_real_samples_and_synthetic_events_land_exactly_once(tmp_path: Path) -> None:
    generator = SyntheticGenerator(seed=1, start="2026-01-01T00:00:00Z")
    lines = sample_lines() + [generator.record(i) for i in range(3000)]
    path = _write_lines(tmp_path / "in.jsonl", lines)
    settings = make_settings(tmp_path / "wh", commit={"max_events": 700})
    summary = run_ingest(settings, FileSource(path, chunk_events=256))
    ids, dead = _expected(lines)
    _assert_exactly_once(settings, ids, dead)
    assert summary.stats.accepted == len(ids)
    assert summary.stats.duplicates > 0 and summary.stats.quarantined == dead
    assert summary.end_position == str(path.stat().st_size)
    assert summary.stats.commits >= 8
    assert 0 < summary.stats.decode_seconds < summary.seconds  # what bench/bronze.py reports
    assert 0 < summary.stats.commit_seconds < summary.seconds
    table = Lakehouse(settings).table("bronze.events")
    assert table.current_snapshot().summary["wikistream.position"] == summary.end_position


def test_restart_resumes_from_the_stored_position(tmp_path: Path) -> None:
    generator = SyntheticGenerator(seed=2, start="2026-01-01T00:00:00Z")
    lines = [generator.record(i) for i in range(5000)]
    path = _write_lines(tmp_path / "in.jsonl", lines)
    settings = make_settings(tmp_path / "wh", commit={"max_events": 500})
    first = run_ingest(settings, FileSource(path, chunk_events=100), max_events=1234)
    assert first.stats.read == 1234
    second = run_ingest(settings, FileSource(path, chunk_events=100))
    assert second.start_position == first.end_position
    assert first.stats.read + second.stats.read == 5000
    ids, dead = _expected(lines)
    _assert_exactly_once(settings, ids, dead)
    third = run_ingest(settings, FileSource(path, chunk_events=100))
    assert third.stats.read == 0  # nothing left: nothing re-read


def test_an_event_sent_again_later_is_dropped_even_after_a_restart(tmp_path: Path) -> None:
    lines = sample_lines()[:300]
    settings = make_settings(tmp_path / "wh")
    run_ingest(settings, FileSource(_write_lines(tmp_path / "a.jsonl", lines)))
    resent = _write_lines(tmp_path / "b.jsonl", lines[100:200] + sample_lines()[300:310])
    summary = run_ingest(settings, FileSource(resent))  # a new process: ids come from the table
    assert summary.stats.duplicates == 100 and summary.stats.accepted == 10
    _assert_exactly_once(settings, _expected(sample_lines()[:310])[0], 0)


def test_every_rejected_record_is_quarantined_with_its_bytes(tmp_path: Path) -> None:
    garbage = [b"{oops", b"[]", b'{"meta": {"dt": "nope", "domain": "x"}}', b"\xc3\x28"]
    path = _write_lines(tmp_path / "in.jsonl", sample_lines()[:5] + garbage)
    settings = make_settings(tmp_path / "wh")
    run_ingest(settings, FileSource(path))
    rows = read_table(settings, "bronze.quarantine").sort_by("source_position").to_pylist()
    assert [r["raw"] for r in rows] == garbage
    assert [r["reason"] for r in rows] == [
        "malformed_json",
        "not_an_object",
        "invalid_timestamp",
        "invalid_unicode",  # \xc3\x28 is not UTF-8
    ]
    assert all(r["source_position"] and r["raw_size"] == len(r["raw"]) for r in rows)


def test_a_second_writer_of_the_same_source_is_stopped(tmp_path: Path) -> None:
    lines = sample_lines()[:40]
    path = _write_lines(tmp_path / "in.jsonl", lines)
    settings = make_settings(tmp_path / "wh")
    catalog = Lakehouse(settings)
    source = FileSource(path, chunk_events=20)
    first, second = (BronzeWriter(Lakehouse(settings), source.name) for _ in range(2))
    batches = list(source.batches(None))
    first.add(batches[0])
    first.flush()
    first.close()
    second.add(batches[0])
    second.flush()
    with pytest.raises(ConcurrentWriter, match="another writer"):
        second.close()
    rows = catalog.table("bronze.events").scan().to_arrow()
    assert rows.num_rows == 20  # the loser committed nothing


def test_replay_writers_racing_on_the_same_events_commit_each_once(tmp_path: Path) -> None:
    """Two parts of a parallel backfill hold the same events and check bronze before
    either commits: the one that commits second must drop them (and keep its position)."""
    lines = sample_lines()[:40]
    path = _write_lines(tmp_path / "in.jsonl", lines)
    settings = make_settings(tmp_path / "wh")
    source = FileSource(path, chunk_events=40)
    first, second = (
        BronzeWriter(Lakehouse(settings), f"backfill:r:{part}:{source.name}", replay_of=source.name)
        for part in ("a", "b")
    )
    [batch] = list(source.batches(None))
    held = threading.Event()
    commit = first._commit
    first._commit = lambda prepared: (held.wait(10), commit(prepared))[1]  # type: ignore[method-assign]
    first.add(batch)
    first.flush()  # checked against an empty bronze; its commit waits
    second.add(batch)
    second.flush()  # checked against an empty bronze too
    second.close()  # lands first
    held.set()
    first.close()  # finds the other's commit: drops those events, stores its position
    ids, dead = _expected(lines)
    events = read_table(settings, "bronze.events")
    assert sorted(events.column("event_id").to_pylist()) == sorted(ids)
    assert first.stats.accepted == 0 and first.stats.duplicates >= len(ids)
    assert first.position == second.position == batch.positions[-1]


def test_sse_drops_resends_and_garbage_still_give_each_event_once(tmp_path: Path) -> None:
    generator = SyntheticGenerator(seed=5, start="2026-01-01T00:00:00Z")
    lines = [generator.record(i) for i in range(400)]
    script = Script(drop_every=37, resend_on_reconnect=5, garbage_every=50, hold_open_at_end_s=5)
    settings = make_settings(tmp_path / "wh", commit={"max_events": 64, "max_seconds": 0.2})
    with EventStreamsServer(lines, script) as server:
        stop = _stop_when(server.observed.completed, after_s=1.0)
        summary = run_ingest(settings, open_source(f"sse:{server.url}", settings), stop=stop)
    ids, dead = _expected(lines)
    _assert_exactly_once(settings, ids, dead + 8)  # + the 8 garbage frames, once each
    assert summary.stats.duplicates >= 50  # resent after every reconnect, dropped


def _stop_when(event: threading.Event, after_s: float) -> StopToken:
    stop = StopToken()

    def wait() -> None:
        if event.wait(30):
            threading.Event().wait(after_s)  # let the last commit window pass
        stop.stop("test done")

    threading.Thread(target=wait, daemon=True).start()
    return stop


def test_a_quiet_source_still_commits_on_time_and_stop_commits_what_was_read(
    tmp_path: Path,
) -> None:
    lines = sample_lines()[:30]
    settings = make_settings(tmp_path / "wh", commit={"max_events": 10_000, "max_seconds": 0.3})
    stop = StopToken()
    with EventStreamsServer(lines, Script(event_delay_s=0.02, hold_open_at_end_s=30)) as server:
        source = open_source(f"sse:{server.url}", settings)
        timer = threading.Timer(2.5, stop.stop, args=("SIGTERM",))
        timer.start()
        summary = run_ingest(settings, source, stop=stop)
    assert summary.stopped_by == "SIGTERM"
    assert summary.stats.accepted == 30
    assert summary.stats.commits >= 2  # time-based commits while events trickled in
    assert read_table(settings, "bronze.events").num_rows == 30


def _before_year_one(rows: pa.Table, index: int) -> pa.Table:
    """`rows` with one event time an hour before year 1: what a decoder bug could let by."""
    micros = rows.column("event_ts").cast(pa.int64()).to_pylist()
    micros[index] = -62135596800_000000 - 3600_000000
    field = rows.schema.field("event_ts")
    return rows.set_column(
        rows.schema.get_field_index("event_ts"),
        field,
        pa.array(micros, pa.int64()).cast(field.type),
    )


def test_an_event_whose_values_fail_the_commit_is_quarantined_and_the_rest_committed(
    settings: Settings,
) -> None:
    """The decode edge refuses such values; if one ever gets past it, PyIceberg's real
    failure (an OverflowError computing column statistics) must not fail the batch."""
    rows = bronze_rows([event(f"2026-01-01T00:00:0{i}Z") for i in range(5)])
    rows = _before_year_one(rows, 2)
    writer = BronzeWriter(Lakehouse(settings), "edge-bug")
    committed = writer._commit_events(rows, {"": "5"})  # what the committer thread runs
    assert committed == 4
    events = read_table(settings, "bronze.events")
    assert sorted(events.column("event_id").to_pylist()) == sorted(
        rows.column("event_id").to_pylist()[:2] + rows.column("event_id").to_pylist()[3:]
    )
    dead = read_table(settings, "bronze.quarantine").to_pylist()
    assert [(d["reason"], d["source_position"]) for d in dead] == [("unwritable", "5")]
    assert "OverflowError" in dead[0]["detail"]
    assert dead[0]["raw"].decode() == rows.column("raw")[2].as_py()
    again = BronzeWriter(Lakehouse(settings), "edge-bug")  # a re-read after a crash
    again._commit_events(rows.slice(2, 1), {"": "5"})
    assert read_table(settings, "bronze.quarantine").num_rows == 1  # the same id: not twice
    assert (
        Lakehouse(settings).table("bronze.events").current_snapshot().summary["wikistream.position"]
        == "5"
    )


def test_a_failure_that_is_not_about_the_data_is_raised_not_isolated(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = bronze_rows([event("2026-01-01T00:00:00Z"), event("2026-01-01T00:00:01Z")])
    writer = BronzeWriter(Lakehouse(settings), "outage")
    monkeypatch.setattr(pyiceberg.table.Transaction, "update_snapshot", _refuse)
    with pytest.raises(ConnectionRefusedError):
        writer._commit_events(rows, {"": "2"})
    monkeypatch.undo()
    assert (
        not Lakehouse(settings).exists("bronze.quarantine")
        or read_table(settings, "bronze.quarantine").num_rows == 0
    )


def _refuse(*args: object, **kwargs: object) -> None:
    raise ConnectionRefusedError("object store down")


def test_bronze_freshness_ignores_event_times_in_the_future(settings: Settings) -> None:
    rows = bronze_rows([event("2026-01-01T00:00:00Z"), event("9999-12-31T00:00:00Z")])
    writer = BronzeWriter(Lakehouse(settings), "future")
    writer._commit_events(rows, {"": "2"})
    summary = Lakehouse(settings).table("bronze.events").current_snapshot().summary
    assert summary["wikistream.max-event-ts"].startswith("2026-01-01")


def test_stats_merge_keeps_every_field() -> None:
    """Found in review: the supervisor merged stats field by field and dropped some."""
    at = datetime(2026, 11, 1, tzinfo=UTC)
    one = BronzeStats(
        read=1,
        accepted=2,
        quarantined=3,
        duplicates=4,
        dropped=Counter(a=1),
        commits=5,
        decode_seconds=1.5,
        commit_seconds=2.5,
        last_commit_at=at,
        max_event_ts=at,
    )
    two = BronzeStats(
        read=10,
        accepted=20,
        quarantined=30,
        duplicates=40,
        dropped=Counter(a=2, b=1),
        commits=50,
        decode_seconds=1.0,
        commit_seconds=1.0,
        last_commit_at=at + timedelta(hours=1),
        max_event_ts=at - timedelta(hours=1),
    )
    total = BronzeStats()
    total.merge(one)
    total.merge(two)
    assert total == BronzeStats(
        read=11,
        accepted=22,
        quarantined=33,
        duplicates=44,
        dropped=Counter(a=3, b=1),
        commits=55,
        decode_seconds=2.5,
        commit_seconds=3.5,
        last_commit_at=at + timedelta(hours=1),
        max_event_ts=at,
    )
    untouched = [
        f.name
        for f in fields(BronzeStats)
        if getattr(total, f.name) == getattr(BronzeStats(), f.name)
    ]
    assert untouched == []  # a field added later must be merged too


def _writer(settings: Settings, source: str, **kwargs: object) -> BronzeWriter:
    return BronzeWriter(Lakehouse(settings), source, **kwargs)  # type: ignore[arg-type]


def test_live_writers_of_different_sources_commit_an_event_once(tmp_path: Path) -> None:
    """Copies of an event reach two live writers (two Kafka partitions, a resend through
    another source): each commit is checked against what the others committed since the
    writer last looked, whether the other committed before or while this one worked."""
    lines = sample_lines()[:60]
    settings = make_settings(tmp_path / "wh")
    [batch] = list(FileSource(_write_lines(tmp_path / "in.jsonl", lines), 60).batches(None))
    early, late, racing = (_writer(settings, f"sse:http://host/{n}") for n in "abc")
    early.add(batch)
    early.flush()
    early.close()  # committed after the others started: not in their reloaded memory
    held = threading.Event()
    commit = racing._commit
    racing._commit = lambda prepared: (held.wait(10), commit(prepared))[1]  # type: ignore[method-assign]
    racing.add(batch)
    racing.flush()  # deduplicated against what it knew; its commit waits
    late.add(batch)
    late.flush()
    late.close()
    held.set()
    racing.close()
    ids, dead = _expected(lines)
    _assert_exactly_once(settings, ids, dead)
    assert late.stats.accepted == racing.stats.accepted == 0
    assert late.position == racing.position == early.position == batch.positions[-1]


def test_dead_letters_of_two_writers_land_once(tmp_path: Path) -> None:
    """A replay beside the live writer quarantines the same bad records (same ids)."""
    garbage = [b"{oops", b"[]", b'{"meta": {"dt": "nope", "domain": "x"}}']
    lines = sample_lines()[:10] + garbage
    path = _write_lines(tmp_path / "in.jsonl", lines)
    settings = make_settings(tmp_path / "wh")
    source = FileSource(path)
    [batch] = list(source.batches(None))
    live = _writer(settings, source.name)
    replay = _writer(settings, f"replay:{source.name}", replay_of=source.name)
    held = threading.Event()
    commit = live._commit
    live._commit = lambda prepared: (held.wait(10), commit(prepared))[1]  # type: ignore[method-assign]
    live.add(batch)
    live.flush()
    replay.add(batch)
    replay.flush()
    replay.close()
    held.set()
    live.close()
    _assert_exactly_once(settings, _expected(lines)[0], len(garbage))


def test_dead_letters_of_a_crash_between_the_two_commits_are_not_quarantined_again_later(
    tmp_path: Path,
) -> None:
    """The dead letters were committed, the events were not (a crash): the re-read long
    after the dedupe window still finds those dead letters."""
    garbage = [b"{oops", b"[]"]
    lines = sample_lines()[:20] + garbage
    path = _write_lines(tmp_path / "in.jsonl", lines)
    settings = make_settings(tmp_path / "wh", dedupe={"window_s": 0.001})
    source = FileSource(path)
    [batch] = list(source.batches(None))
    crashed = _writer(settings, source.name)
    crashed._commit_events = lambda *args: (_ for _ in ()).throw(OSError("killed"))  # type: ignore[method-assign,assignment]
    crashed.add(batch)
    crashed.flush()
    with pytest.raises(OSError, match="killed"):
        crashed.close()
    time.sleep(0.05)  # past the dedupe window
    summary = run_ingest(settings, FileSource(path))
    assert summary.stats.quarantined == 0
    _assert_exactly_once(settings, _expected(lines)[0], len(garbage))


def test_after_a_restart_the_reloaded_ids_are_forgotten_oldest_first(tmp_path: Path) -> None:
    """The last hour held about `max_ids` ids: the first new batch after a restart must
    push out only the oldest commits, not the whole reload."""
    lines = sample_lines()
    first, fresh = lines[:1000], lines[1000:1100]
    assert len(_expected(first + fresh)[0]) == 1100  # distinct events
    settings = make_settings(tmp_path / "wh", dedupe={"max_ids": 1000}, commit={"max_events": 100})
    run_ingest(settings, FileSource(_write_lines(tmp_path / "a.jsonl", first), 100))
    resent = first[-10:]  # from the newest commit before the restart
    path = _write_lines(tmp_path / "b.jsonl", fresh + resent)
    summary = run_ingest(settings, FileSource(path, 100))
    assert summary.stats.duplicates == 10
    _assert_exactly_once(settings, _expected(first + fresh)[0], 0)


def test_the_committer_never_shares_a_table_object_with_the_reading_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PyIceberg table is not thread-safe: a commit deep-copies the metadata whose caches
    a scan on another thread fills ("dictionary changed size during iteration", seen in a
    3,000,000-event backfill). A replay scans bronze for every batch while the previous
    batch commits: run it with a tiny thread switch interval and record which threads touch
    each table object."""
    lines = sample_lines()
    path = _write_lines(tmp_path / "in.jsonl", lines)
    settings = make_settings(tmp_path / "wh", commit={"max_events": 100})
    touched: dict[int, set[str]] = {}
    for name in ("scan", "refresh", "transaction", "incremental_append_scan"):
        original = getattr(pyiceberg.table.Table, name)

        def spy(self: object, *args: object, _original: object = original, **kw: object) -> object:
            touched.setdefault(id(self), set()).add(threading.current_thread().name)
            return _original(self, *args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(pyiceberg.table.Table, name, spy)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        summary = run_ingest(settings, FileSource(path, 100), replay=Replay())
    finally:
        sys.setswitchinterval(interval)
    assert summary.stats.commits > 20
    shared = [threads for threads in touched.values() if len(threads) > 1]
    assert shared == [], "a table object used by two threads"
    assert any(any(t.startswith("bronze-commit") for t in ts) for ts in touched.values())
