"""Rebuilds spread over a real multi-process Ray cluster, one node killed midway."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.events import spread_history, write_bronze
from tests.support.processes import spawn
from tests.support.servers import RayCluster
from tests.support.warehouse import all_layers, make_settings
from wikistream.lakehouse.positions import summary_value
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import SILVER_EVENTS
from wikistream.pipeline.chunks import REBUILD_KEY
from wikistream.pipeline.process import Processor

pytestmark = [pytest.mark.integration, pytest.mark.long]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RayCluster]:
    pytest.importorskip("ray", reason="install the ray extra: pip install 'wikistream[ray]'")
    started = RayCluster(tmp_path, nodes=2)
    yield started
    started.stop()


def _chunks_committed(settings_path: Path) -> int:
    settings = make_settings(settings_path, init=False)
    table = Lakehouse(settings).table(SILVER_EVENTS)
    return sum(1 for s in table.metadata.snapshots if summary_value(s, REBUILD_KEY))


def test_a_full_refresh_on_two_ray_nodes_survives_losing_one_and_equals_native(
    tmp_path: Path, cluster: RayCluster
) -> None:
    history = spread_history(16, 800)
    native = make_settings(tmp_path / "native", engine={"runner": "native"})
    for at in range(0, len(history), 5000):
        write_bronze(native, history[at : at + 5000], "file:/data/history.jsonl")
    with Processor(Lakehouse(native)) as processor:
        processor.run()
    expected = all_layers(native)

    warehouse = tmp_path / "ray"
    settings = make_settings(warehouse, engine={"runner": "native"})
    for at in range(0, len(history), 5000):
        write_bronze(settings, history[at : at + 5000], "file:/data/history.jsonl")
    config = tmp_path / "wikistream.toml"
    config.write_text(
        '[filters]\ndomains = ["*"]\n[process]\nmax_rows_per_chunk = 1000\n'
        f'[engine]\nrunner = "ray"\nray_address = "{cluster.address}"\n'
    )
    log = tmp_path / "process.log"
    rebuild = spawn(
        log,
        *("--config", str(config), "--warehouse", str(warehouse), "--log-format", "json"),
        *("process", "--full-refresh", "--output", "json"),
        env=cluster.env,
    )
    deadline = time.monotonic() + 180
    while _chunks_committed(warehouse) < 2:  # running on both nodes by now
        assert rebuild.poll() is None, log.read_text()[-4000:]
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.1)
    cluster.kill_node(1)  # tasks it ran, and results it held, are run again on the head
    assert rebuild.wait(timeout=600) == 0, log.read_text()[-4000:]
    assert cluster.alive_nodes() == 1

    assert all_layers(settings) == expected
    workers = {
        json.loads(line).get("worker")
        for line in log.read_text().splitlines()
        if line.startswith("{") and "rebuild chunk committed" in line
    }
    assert len(workers - {None, "driver"}) == 2, workers  # chunks ran on both nodes
