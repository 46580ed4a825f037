"""Exactly once, for real: SIGKILL the ingest process at random moments and restart it.

Afterwards bronze.events must hold every valid input event exactly once and
bronze.quarantine every rejected record exactly once, from a file and from an SSE server.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.processes import spawn
from tests.support.sse_server import EventStreamsServer, Script
from tests.support.warehouse import make_settings, read_table, sample_lines
from wikistream.events.decode import EventDecoder
from wikistream.settings import EVENT_TYPES
from wikistream.sources.synthetic import SyntheticGenerator

pytestmark = pytest.mark.integration

KILLS = 8


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "wikistream.toml"
    config.write_text(
        f'warehouse = "{tmp_path / "wh"}"\n'
        '[filters]\ndomains = ["*"]\n'
        "[commit]\nmax_events = 150\nmax_seconds = 0.1\n"
        "[source]\nchunk_events = 50\nbackoff_initial_s = 0.05\nbackoff_max_s = 0.2\n"
    )
    return config


def _run(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return spawn(
        config.parent / "runs.log",
        "--config",
        str(config),
        "--log-level",
        "info",
        "run",
        "--no-process",
        *args,
    )


def _log(config: Path, whole: bool = False) -> str:
    path = config.parent / "runs.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return text if whole else text[-3000:]


def _wait_until_ingesting(config: Path, process: subprocess.Popen[bytes], before: int) -> None:
    """Kill times count from the moment this run starts reading, not from process start."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if _log(config, whole=True).count("ingest starting") > before:
            return
        time.sleep(0.05)


def _kill_repeatedly(config: Path, args: list[str], rng: random.Random) -> list[int]:
    """SIGKILL runs at random moments; return the bronze row count seen after each kill."""
    rows_after_kill: list[int] = []
    settings = make_settings(config.parent / "wh")
    for _ in range(KILLS):
        started = _log(config, whole=True).count("ingest starting")
        process = _run(config, *args)
        _wait_until_ingesting(config, process, started)
        try:
            process.wait(timeout=rng.uniform(0.2, 2.5))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            try:
                rows_after_kill.append(read_table(settings, "bronze.events").num_rows)
            except Exception:  # killed before the tables existed
                rows_after_kill.append(0)
        else:
            assert process.returncode == 0, _log(config)
            break
    return rows_after_kill


def _expected(lines: list[bytes]) -> tuple[set[str], int]:
    batch = EventDecoder(["*"], EVENT_TYPES).decode(lines)
    return set(batch.ids), len(batch.rejections)


def _assert_exactly_once(config: Path, ids: set[str], dead: int) -> None:
    settings = make_settings(config.parent / "wh")
    events = read_table(settings, "bronze.events").column("event_id").to_pylist()
    assert [i for i, n in Counter(events).items() if n > 1] == [], "duplicated events"
    assert ids - set(events) == set(), "lost events"
    assert set(events) == ids
    quarantine = read_table(settings, "bronze.quarantine").column("quarantine_id").to_pylist()
    assert len(quarantine) == len(set(quarantine)) == dead


@pytest.mark.long
def test_sigkill_during_file_ingest_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    generator = SyntheticGenerator(seed=11, start="2026-01-01T00:00:00Z")
    lines = sample_lines() + [generator.record(i) for i in range(12_000)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    config = _config(tmp_path)

    rows_after_kill = _kill_repeatedly(config, ["--source", f"file:{path}"], rng)
    final = _run(config, "--source", f"file:{path}")
    assert final.wait(timeout=300) == 0, _log(config)

    ids, dead = _expected(lines)
    assert len([r for r in rows_after_kill if 0 < r < len(ids)]) >= 3, rows_after_kill
    _assert_exactly_once(config, ids, dead)


@pytest.mark.long
def test_sigkill_during_sse_ingest_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(42)
    generator = SyntheticGenerator(seed=12, start="2026-01-01T00:00:00Z")
    lines = [generator.record(i) for i in range(3000)]
    script = Script(
        drop_every=97,
        resend_on_reconnect=4,
        garbage_every=250,
        event_delay_s=0.003,
        hold_open_at_end_s=600,
    )
    config = _config(tmp_path)
    with EventStreamsServer(lines, script) as server:
        rows_after_kill = _kill_repeatedly(config, ["--source", f"sse:{server.url}"], rng)
        deadline = time.monotonic() + 120
        while not server.observed.completed.is_set() and time.monotonic() < deadline:
            final = _run(config, "--source", f"sse:{server.url}", "--max-seconds", "15")
            assert final.wait(timeout=120) == 0, _log(config)
        final = _run(config, "--source", f"sse:{server.url}", "--max-seconds", "3")
        assert final.wait(timeout=60) == 0, _log(config)  # anything sent after the last commit

    ids, dead = _expected(lines)
    assert len([r for r in rows_after_kill if 0 < r < len(ids)]) >= 3, rows_after_kill
    _assert_exactly_once(config, ids, dead + len(range(0, 3000, 250)))


def test_a_replay_beside_a_live_run_lands_every_event_once(tmp_path: Path) -> None:
    """The docs say a bronze replay can run beside `wikistream run`: both hold the same
    events; each commit drops what the other committed since it last looked."""
    generator = SyntheticGenerator(seed=23, start="2026-01-01T00:00:00Z")
    lines = [generator.record(i) for i in range(3000)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    config = _config(tmp_path)
    # 15 s of stream: the replay (a few seconds) ends while the live run still reads
    script = Script(event_delay_s=0.005, hold_open_at_end_s=600)
    with EventStreamsServer(lines, script) as server:
        # idle for 10 s: the end of the stream, not a moment a loaded machine stalled the run
        live = _run(config, "--source", f"sse:{server.url}", "--idle-exit", "10")
        _wait_until_ingesting(config, live, 0)
        time.sleep(1.0)
        replay_args = [
            "replay",
            "--layer",
            "bronze",
            "--source",
            f"file:{path}",
            "--from",
            "earliest",
        ]
        replay = spawn(config.parent / "runs.log", "--config", str(config), *replay_args)
        assert replay.wait(timeout=240) == 0, _log(config)
        assert live.wait(timeout=240) == 0, _log(config)
    ids, dead = _expected(lines)
    # A dead letter is named by its source and position: each source's own once.
    _assert_exactly_once(config, ids, 2 * dead)
    assert "another writer committed some of these events meanwhile" in _log(config, whole=True)


def test_a_restart_after_a_busy_last_hour_still_drops_resent_events(tmp_path: Path) -> None:
    """The last hour held about `dedupe.max_ids` ids: the restarted process reloads them and
    forgets the oldest first as new ones come."""
    lines = sample_lines()
    first, fresh = lines[:1000], lines[1000:1100]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"\n".join(first) + b"\n")
    b.write_bytes(b"\n".join(fresh + first[-10:]) + b"\n")  # then 10 resent events
    config = _config(tmp_path)
    with config.open("a") as out:
        out.write("[dedupe]\nmax_ids = 1000\n")
    for path in (a, b):
        assert _run(config, "--source", f"file:{path}").wait(timeout=120) == 0, _log(config)
    _assert_exactly_once(config, _expected(first + fresh)[0], 0)


def test_one_writer_of_silver_and_gold_at_a_time(tmp_path: Path) -> None:
    """`process`, replays and rollbacks of silver or gold are refused while a `run` keeps
    the layers current (it holds the processing lease); two `process` never write at once."""
    config = _config(tmp_path)
    log = config.parent / "runs.log"
    cli = ["--config", str(config)]
    run = spawn(log, *cli, "--log-level", "info", "run", "--source", "synthetic:300")
    deadline = time.monotonic() + 60
    while "lease acquired" not in _log(config, whole=True):
        assert time.monotonic() < deadline and run.poll() is None, _log(config)
        time.sleep(0.1)
    refused = [
        ["process"],
        ["replay", "--layer", "gold", "--from", "earliest"],
        ["rollback", "gold.hourly_stats", "--to", "2026-01-01T00:00:00Z", "--yes"],
    ]
    for args in refused:
        command = [*_python_cli(), *cli, *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 2, (args, result.stderr)
        assert "stop that `wikistream run`" in result.stderr, result.stderr
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=120) == 0, _log(config)

    both = [spawn(log, *cli, "process", "--full-refresh") for _ in range(2)]
    codes = sorted(p.wait(timeout=300) for p in both)
    assert codes in ([0, 0], [0, 2]), _log(config)
    settings = make_settings(config.parent / "wh")
    silver = read_table(settings, "silver.events").column("event_id").to_pylist()
    assert len(silver) == len(set(silver)) > 0


def _python_cli() -> list[str]:
    return [sys.executable, "-m", "wikistream"]
