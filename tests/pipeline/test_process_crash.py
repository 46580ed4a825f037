"""SIGKILL during silver/gold processing, restart: every table ends identical to a clean run."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.pipeline.test_process import _all_layers, _ingest, _synthetic_lines
from tests.support.processes import spawn
from tests.support.warehouse import make_settings
from wikistream.lakehouse.store import Lakehouse
from wikistream.pipeline.process import Processor

pytestmark = pytest.mark.integration


def _process(warehouse: Path) -> subprocess.Popen[bytes]:
    config = warehouse.parent / f"{warehouse.name}.toml"
    config.write_text('[filters]\ndomains = ["*"]\n')
    return spawn(
        warehouse.parent / "process.log",
        "--config",
        str(config),
        "--warehouse",
        str(warehouse),
        "--log-level",
        "warning",
        "process",
    )


def _first_commit(warehouse: Path, process: subprocess.Popen[bytes]) -> bool:
    """Wait until `process` commits its first new metadata file (or ends): True if it did."""

    def metadata() -> set[Path]:
        return set(warehouse.glob("silver/*/metadata/*.metadata.json")) | set(
            warehouse.glob("gold/*/metadata/*.metadata.json")
        )

    before = metadata()
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if metadata() - before:
            return True
        time.sleep(0.02)
    return False


def test_sigkill_during_processing_leaves_tables_identical_to_a_clean_run(tmp_path: Path) -> None:
    rng = random.Random(7)
    lines = _synthetic_lines(20_000)
    chunks = [lines[i : i + 4000] for i in range(0, len(lines), 4000)]

    clean = make_settings(tmp_path / "clean")
    for chunk in chunks:
        _ingest(clean, tmp_path / "clean.jsonl", chunk)
    Processor(Lakehouse(clean)).run()

    crashed = make_settings(tmp_path / "crashed")
    kills = 0
    for chunk in chunks:
        _ingest(crashed, tmp_path / "crashed.jsonl", chunk)
        process = _process(tmp_path / "crashed")
        # Kill it mid-cycle: at a random moment shortly after its first commit (silver),
        # while the rest of the cycle is still being written.
        if _first_commit(tmp_path / "crashed", process):
            time.sleep(rng.uniform(0.0, 0.15))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    final = _process(tmp_path / "crashed")
    assert final.wait(timeout=300) == 0, (tmp_path / "process.log").read_text()[-2000:]

    assert kills >= 3, kills
    assert _all_layers(crashed) == _all_layers(clean)
