"""The EventStreams client against a local server that misbehaves in every documented way."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.sse_server import EventStreamsServer, Script, event_id_line
from wikistream.exceptions import SourceRejected, SourceUnavailable
from wikistream.sources.base import Oversized
from wikistream.sources.lines import HEAD_BYTES
from wikistream.sources.sse import SseOptions, SseSource
from wikistream.sources.synthetic import SyntheticGenerator

EVENTS = [
    json.dumps({"meta": {"dt": "2026-01-01T00:00:00Z", "id": f"e{i}"}}).encode() for i in range(60)
]
UA = "wikistream-tests/1.0 (https://example.org/contact)"


def _options(**overrides: object) -> SseOptions:
    values: dict[str, object] = {
        "user_agent": UA,
        "backoff_initial_s": 0.02,
        "backoff_max_s": 0.1,
        "read_timeout_s": 2.0,
        "connect_timeout_s": 2.0,
    }
    values.update(overrides)
    return SseOptions(**values)  # type: ignore[arg-type]


def _take(source: SseSource, count: int, start: str | None = None) -> list[tuple[bytes, str]]:
    taken: list[tuple[bytes, str]] = []
    for batch in source.batches(start):
        taken += [(r, p) for r, p in zip(batch.records, batch.positions, strict=True) if p]
        if len(taken) >= count:
            break
    source.close()
    return taken


def test_reads_every_event_with_ids_user_agent_and_since() -> None:
    with EventStreamsServer(EVENTS) as server:
        source = SseSource(server.url, _options(since="2026-01-01T00:00:00Z"))
        taken = _take(source, len(EVENTS))
    assert [r for r, _ in taken] == EVENTS
    assert taken[5][1] == event_id_line(5)  # the id line, verbatim
    first = server.observed.requests[0]
    assert first["user_agent"] == UA
    assert first["since"] == "2026-01-01T00:00:00Z" and first["last_event_id"] is None


def test_reconnects_with_last_event_id_after_every_drop_and_loses_nothing() -> None:
    with EventStreamsServer(EVENTS, Script(drop_every=7)) as server:
        source = SseSource(server.url, _options(since="2026-01-01T00:00:00Z"))
        taken = _take(source, len(EVENTS))
    assert [r for r, _ in taken] == EVENTS
    requests = server.observed.requests
    assert len(requests) >= 9
    assert all(r["since"] is None for r in requests[1:])  # since only on the first start
    assert [r["last_event_id"] for r in requests[1:9]] == [
        event_id_line(7 * k - 1) for k in range(1, 9)
    ]
    assert server.observed.max_active == 1
    assert source.stats.reconnects >= 8


def test_resumes_from_a_stored_position() -> None:
    with EventStreamsServer(EVENTS) as server:
        taken = _take(SseSource(server.url, _options()), 10, start=event_id_line(49))
        assert server.observed.requests[0]["last_event_id"] == event_id_line(49)
    assert [r for r, _ in taken] == EVENTS[50:]


def test_429_and_503_are_retried_after_retry_after() -> None:
    script = Script(errors=[(429, "1"), (503, "1"), (502, None)])
    with EventStreamsServer(EVENTS, script) as server:
        began = time.monotonic()
        taken = _take(SseSource(server.url, _options()), len(EVENTS))
        elapsed = time.monotonic() - began
    assert [r for r, _ in taken] == EVENTS
    assert elapsed >= 1.9  # two Retry-After: 1 honoured
    assert len(server.observed.requests) == 4


def test_heartbeats_only_and_a_silent_connection_lead_to_a_reconnect() -> None:
    script = Script(heartbeat_only_connections=1, silent_connections=1, silence_s=5.0)
    with EventStreamsServer(EVENTS, script) as server:
        source = SseSource(server.url, _options(read_timeout_s=0.5))
        taken = _take(source, len(EVENTS))
    assert [r for r, _ in taken] == EVENTS
    assert len(server.observed.requests) == 3
    assert source.stats.heartbeats >= 20


def test_garbage_frames_are_handed_on_as_records() -> None:
    with EventStreamsServer(EVENTS, Script(garbage_every=10)) as server:
        taken = _take(SseSource(server.url, _options()), len(EVENTS) + 6)
    garbage = [r for r, _ in taken if r == b"{this is not json"]
    assert len(garbage) == 6  # the decoder quarantines them; the stream goes on


def test_403_names_the_user_agent_policy_and_404_is_terminal() -> None:
    for status, message in ((403, "User-Agent"), (404, "404")):
        server = EventStreamsServer(EVENTS, Script(errors=[(status, None)]))
        with server, pytest.raises(SourceRejected, match=message):
            _take(SseSource(server.url, _options()), 1)


def test_an_unreachable_stream_fails_after_the_initial_attempts() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the socket is closed
    source = SseSource(
        f"http://127.0.0.1:{port}/v2/stream/recentchange", _options(initial_connect_attempts=3)
    )
    with pytest.raises(SourceUnavailable, match="cannot reach"):
        _take(source, 1)


def test_an_event_over_the_limit_is_cut_and_the_stream_goes_on() -> None:
    script = Script(flood_after=10, flood_bytes=3 << 20, hold_open_at_end_s=5)
    with EventStreamsServer(EVENTS, script) as server:
        taken = _take(SseSource(server.url, _options(max_record_bytes=1 << 20)), 61)
    records = [record for record, _ in taken]
    assert records[:11] == EVENTS[:11] and records[12:] == EVENTS[11:]
    flood = records[11]
    assert isinstance(flood, Oversized) and flood.size == 3 << 20
    assert bytes(flood) == b"x" * (HEAD_BYTES - len("data: "))  # its first bytes


@pytest.mark.integration
def test_memory_stays_flat_whatever_length_a_server_sends(tmp_path: Path) -> None:
    """A server that sends hundreds of MB without a newline: `run` skips that event to
    the next one, quarantines it as too_large, and its memory does not follow the size."""
    from tests.support.processes import spawn
    from tests.support.warehouse import make_settings, read_table

    generator = SyntheticGenerator(seed=3, start="2026-01-01T00:00:00Z")
    lines = [generator.record(i) for i in range(200)]
    peaks: dict[int, float] = {}
    for size in (32 << 20, 384 << 20):
        warehouse = tmp_path / f"wh{size}"
        script = Script(flood_after=100, flood_bytes=size, hold_open_at_end_s=600)
        with EventStreamsServer(lines, script) as server:
            # No record arrives while the flood is skipped: on a loaded machine that takes
            # longer than a few seconds, so the run waits 15 s of silence before it ends.
            args = ["run", "--source", f"sse:{server.url}", "--no-process", "--idle-exit", "15"]
            run = spawn(tmp_path / "run.log", "--warehouse", str(warehouse), *args)
            peaks[size] = _peak_rss_mb(run)
        assert run.returncode == 0, (tmp_path / "run.log").read_text()[-3000:]
        settings = make_settings(warehouse, init=False)
        dead = read_table(settings, "bronze.quarantine").to_pylist()
        assert [(d["reason"], d["raw_size"]) for d in dead if d["reason"] == "too_large"] == [
            ("too_large", size)
        ]
        assert read_table(settings, "bronze.events").num_rows > 150  # the events after it too
    print(f"peak RSS (MB) by bytes sent without a newline: {peaks}")
    assert peaks[384 << 20] < peaks[32 << 20] + 60, peaks  # flat: not 350 MB more
    assert peaks[384 << 20] < 600, peaks


def _peak_rss_mb(process: subprocess.Popen[bytes]) -> float:
    import psutil

    peak = 0.0
    watched = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss / 1e6)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    process.wait()
    return peak
