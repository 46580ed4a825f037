"""A local warehouse moved to object storage behind a REST catalog: every row and every
position kept, silver and gold rebuilt, and ingestion resumes there without a duplicate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import SeaweedFS
from tests.support.setups import Setup, make_setup
from tests.support.warehouse import make_settings, read_table, sample_lines
from wikistream.events.decode import EventDecoder
from wikistream.lakehouse.positions import stored_positions
from wikistream.lakehouse.store import Lakehouse
from wikistream.settings import EVENT_TYPES, load_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wikistream", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_a_local_warehouse_moves_to_s3_with_every_row_and_position(
    seaweed: SeaweedFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "local"
    lines = sample_lines()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines[:2000] + [b"{broken"]) + b"\n")
    ran = _cli("--warehouse", str(local), "run", "--source", f"file:{path}")
    assert ran.returncode == 0, ran.stderr
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b"\n".join(lines[2000:2600]) + b"\n")
    filled = _cli("--warehouse", str(local), "backfill", "--source", f"file:{dump}")
    assert filled.returncode == 0, filled.stderr
    target: Setup = make_setup("rest", tmp_path, seaweed, None)
    config = target.config(tmp_path, filters={"domains": ["*"]})
    moved = _cli(
        "--warehouse",
        str(local),
        "migrate",
        "--to",
        str(config),
        "--yes",
        "--output",
        "json",
        env=target.env,
    )
    assert moved.returncode == 0, moved.stderr
    report = json.loads(moved.stdout)
    assert report["verified"] and report["documents"] >= 2
    source = make_settings(local, init=False)
    for key, value in target.env.items():
        monkeypatch.setenv(key, value)
    remote = load_settings(config)
    for table in ("bronze.events", "bronze.quarantine", "ops.runs", "dq.results"):
        mine = read_table(source, table)
        theirs = Lakehouse.reader(remote).table(table).scan().to_arrow()
        key = mine.column_names[0]
        mine_keys = sorted(map(str, mine.column(key).to_pylist()))
        their_keys = sorted(map(str, theirs.column(key).to_pylist()))
        if table == "dq.results":  # the rebuild's own gate runs come on top
            assert set(mine_keys) < set(their_keys)
        else:
            assert mine_keys == their_keys, table
    positions = stored_positions(Lakehouse.reader(source).table("bronze.events"))
    assert stored_positions(Lakehouse.reader(remote).table("bronze.events")) == positions
    assert any(name.startswith("backfill:") for name in positions)
    silver = Lakehouse.reader(remote).table("silver.events").scan().to_arrow()
    assert silver.num_rows == read_table(source, "silver.events").num_rows == 2600
    manifest = Lakehouse.reader(remote).table("ops.runs").scan().to_arrow()
    assert manifest.column("manifest")[0].as_py().startswith(remote.warehouse_uri)
    path.write_bytes(b"\n".join(lines[:3000]) + b"\n")  # the stream went on meanwhile
    resumed = _cli(
        "--config",
        str(config),
        "run",
        "--source",
        f"file:{path}",
        "--output",
        "json",
        env=target.env,
    )
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    # it starts where the local warehouse stopped, and reads only what came after
    assert summary["start_position"] == positions[f"file:{path.resolve()}"][""]
    assert summary["events_read"] == 1000
    events = Lakehouse.reader(remote).table("bronze.events").scan().to_arrow()
    ids = events.column("event_id").to_pylist()
    expected = set(EventDecoder(["*"], EVENT_TYPES).decode(lines[:3000]).ids)
    assert len(ids) == len(set(ids)) and set(ids) == expected  # the backfilled ones: not twice


def test_an_environment_variable_never_silently_redirects_a_migration(tmp_path: Path) -> None:
    from tests.cli.test_cli import wikistream

    source = tmp_path / "local"
    assert wikistream("--warehouse", str(source), "demo", "--events", "200").returncode == 0
    target = tmp_path / "target.toml"
    target.write_text(f'warehouse = "{tmp_path / "elsewhere"}"\n')
    env = {"WIKISTREAM_WAREHOUSE": str(source)}
    refused = wikistream("migrate", "--to", str(target), "--yes", env=env)
    assert refused.returncode == 2
    assert "WIKISTREAM_WAREHOUSE (over warehouse)" in refused.stderr, refused.stderr
    warned = wikistream("--config", str(target), "status", env=env)
    assert "overrides the config file" in warned.stderr
    assert "variable=WIKISTREAM_WAREHOUSE" in warned.stderr
    same = tmp_path / "same.toml"
    same.write_text(f'warehouse = "{source}"\n')
    itself = wikistream("--warehouse", str(source), "migrate", "--to", str(same), "--yes")
    assert itself.returncode == 2 and "names this same warehouse" in itself.stderr
