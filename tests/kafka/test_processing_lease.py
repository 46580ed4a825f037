"""Two bronze workers with processing on share a warehouse: one processes silver and gold
(the lease holder); killed, the other takes over within a bounded time; their cycles
never overlap (every silver/gold commit is by the holder of a lease valid at that time; a
holder on the same machine that is no longer running is taken over without waiting out its
expiry)."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.kafka.conftest import kafka_config
from tests.support.processes import spawn
from tests.support.servers import Tansu
from tests.support.warehouse import make_settings, read_table
from wikistream.lakehouse.leases import EXPIRES_KEY, HOLDER_KEY, NAME_KEY
from wikistream.lakehouse.positions import WRITER_KEY, summary_value
from wikistream.lakehouse.store import Lakehouse

pytestmark = pytest.mark.integration

TTL_S = 3.0


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _wait(path: Path, pattern: str, count: int, timeout: float = 90) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = re.findall(pattern, _log(path))
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, _log(path)[-4000:]
        time.sleep(0.05)


def test_one_processing_loop_at_a_time_and_takeover_after_a_kill(
    tmp_path: Path, broker: Tansu, topic: str, request: pytest.FixtureRequest
) -> None:
    config = kafka_config(tmp_path, broker, process=f"interval_s = 0.5\nlease_ttl_s = {TTL_S}")
    log = tmp_path / "processes.log"
    target = f"kafka://{broker.bootstrap}/{topic}"
    common = ["--config", str(config), "--log-level", "info"]
    produced = spawn(
        log, *common, "produce", "--source", "synthetic", "--to", target, "--max-events", "3000"
    )
    assert produced.wait(timeout=120) == 0, _log(log)[-3000:]
    workers = {}
    for _ in range(2):
        process = spawn(log, *common, "run", "--source", f"{target}?group=both")
        workers[process.pid] = process
        request.addfinalizer(process.kill)
    holder = re.findall(
        r"lease acquired .*holder=\S+:(\d+):", _wait(log, r"lease acquired.*", 1)[0]
    )
    first = workers.pop(int(holder[0]))
    _wait(log, r"processing cycle|partitions assigned", 2)
    time.sleep(2.0)  # a few cycles
    first.send_signal(signal.SIGKILL)
    killed_at, killed_wall = time.monotonic(), time.time()
    first.wait()
    _wait(log, r"lease acquired.*", 2, timeout=60)
    takeover_s = time.monotonic() - killed_at
    assert takeover_s < TTL_S + 5, takeover_s  # ttl, a renewal interval and some slack
    produced = spawn(
        log, *common, "produce", "--source", "synthetic", "--to", target, "--max-events", "1000"
    )  # the stream goes on: the survivor processes it
    assert produced.wait(timeout=120) == 0
    time.sleep(4)
    (survivor,) = workers.values()
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=120) == 0, _log(log)[-4000:]

    settings = make_settings(tmp_path / "wh", init=False)
    bronze = read_table(settings, "bronze.events").num_rows
    assert read_table(settings, "silver.events").num_rows == bronze > 0  # processing went on
    lakehouse = Lakehouse(settings)
    terms = _lease_terms(lakehouse)
    assert len({holder for holder, _, _ in terms}) == 2
    for (_, _, ends), (_, begins, _) in zip(terms, terms[1:], strict=False):
        # a new holder only after the old one's expiry, or once it is gone (killed here)
        assert begins >= min(ends, killed_wall) - 0.5, terms
    for identifier in ("silver.events", "gold.hourly_stats"):
        for snapshot in lakehouse.table(identifier).metadata.snapshots:
            writer = summary_value(snapshot, WRITER_KEY)
            at = snapshot.timestamp_ms / 1000
            assert any(w == writer and b - 0.5 <= at <= e + 0.5 for w, b, e in terms), (
                identifier,
                writer,
                at,
                terms,
            )


def _lease_terms(lakehouse: Lakehouse) -> list[tuple[str, float, float]]:
    """(holder, first taken, last valid until) per uninterrupted term of the lease."""
    terms: list[tuple[str, float, float]] = []
    table = lakehouse.table("ops.leases")
    for snapshot in sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms):
        if summary_value(snapshot, NAME_KEY) != "process":
            continue
        holder = summary_value(snapshot, HOLDER_KEY) or ""
        expires = float(summary_value(snapshot, EXPIRES_KEY) or 0)
        at = snapshot.timestamp_ms / 1000
        if not holder:  # released
            if terms:
                terms[-1] = (terms[-1][0], terms[-1][1], at)
            continue
        if terms and terms[-1][0] == holder:
            terms[-1] = (holder, terms[-1][1], expires)
        else:
            terms.append((holder, at, expires))
    return terms
