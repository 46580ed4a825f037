"""Exactly once, for real: SIGKILL the ingest process at random moments and restart it.

Afterwards bronze.events must hold every valid input event exactly once and
bronze.quarantine every rejected record exactly once, from a file and from an SSE server.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import make_settings, read_table, sample_lines
from tests.support.processes import spawn
from tests.support.sse_server import EventStreamsServer, Script
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
    return spawn(config.parent / "runs.log", "--config", str(config), "--log-level", "info",
                 "run", "--no-process", *args)  # fmt: skip


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


def test_sigkill_during_sse_ingest_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(42)
    generator = SyntheticGenerator(seed=12, start="2026-01-01T00:00:00Z")
    lines = [generator.record(i) for i in range(3000)]
    script = Script(drop_every=97, resend_on_reconnect=4, garbage_every=250,
                    event_delay_s=0.003, hold_open_at_end_s=600)  # fmt: skip
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
