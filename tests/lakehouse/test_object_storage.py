"""WikiStream on object storage behind a shared catalog, done for real: SIGKILLs under an
Iceberg REST catalog on S3, the catalog server restarted under a running `run`, nothing
written to the local disk, and secrets that never reach the output."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import SeaweedFS
from tests.support.setups import Setup, make_setup
from tests.support.warehouse import sample_lines
from wikistream.events.decode import EventDecoder
from wikistream.lakehouse.store import Lakehouse
from wikistream.settings import EVENT_TYPES, Settings, load_settings
from wikistream.sources.synthetic import SyntheticGenerator

pytestmark = pytest.mark.integration


@pytest.fixture
def rest(seaweed: SeaweedFS, tmp_path: Path) -> Any:
    setup = make_setup("rest", tmp_path, seaweed, None)
    yield setup
    setup.close()


@pytest.fixture(params=["rest", "postgres"])
def keyed(request: pytest.FixtureRequest, seaweed: SeaweedFS, tmp_path: Path) -> Any:
    """Keys from the AWS chain (rest), or in the configuration's secrets (postgres)."""
    setup = make_setup(request.param, tmp_path, seaweed, None)
    yield setup
    setup.close()


def _config(setup: Setup, folder: Path, **more: Any) -> Path:
    return setup.config(folder, filters={"domains": ["*"]}, **more)


def _spawn(setup: Setup, config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "wikistream", "--config", str(config), *args],
            stdout=out,
            stderr=out,
            cwd=config.parent,
            env={**os.environ, **setup.env, "PYTHONUNBUFFERED": "1"},
        )


def _settings(setup: Setup, config: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in setup.env.items():
        monkeypatch.setenv(key, value)
    return load_settings(config)


def _lines(count: int, seed: int) -> list[bytes]:
    generator = SyntheticGenerator(seed=seed, start="2026-01-01T00:00:00Z")
    return sample_lines() + [generator.record(i) for i in range(count)]


def _assert_exactly_once(settings: Settings, lines: list[bytes]) -> None:
    batch = EventDecoder(["*"], EVENT_TYPES).decode(lines)
    lakehouse = Lakehouse.reader(settings)
    events = lakehouse.table("bronze.events").scan(selected_fields=("event_id",)).to_arrow()
    counts = Counter(events.column("event_id").to_pylist())
    assert [i for i, n in counts.items() if n > 1] == [], "duplicated events"
    assert set(counts) == set(batch.ids), "lost events"
    dead = lakehouse.table("bronze.quarantine").scan(selected_fields=("quarantine_id",))
    quarantine = dead.to_arrow().column("quarantine_id").to_pylist()
    assert len(quarantine) == len(set(quarantine)) == len(batch.rejections)


def test_sigkill_loop_on_rest_and_s3_loses_and_duplicates_nothing(
    rest: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(13)
    lines = _lines(8_000, seed=21)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    config = _config(
        rest, tmp_path, commit={"max_events": 300, "max_seconds": 0.2}, source={"chunk_events": 100}
    )
    settings = _settings(rest, config, monkeypatch)
    log = tmp_path / "runs.log"
    kills = 0
    for _ in range(6):
        before = log.read_text(errors="replace").count("ingest starting") if log.exists() else 0
        process = _spawn(rest, config, log, "run", "--no-process", "--source", f"file:{path}")
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and process.poll() is None
            and log.read_text(errors="replace").count("ingest starting") <= before
        ):
            time.sleep(0.05)
        try:
            process.wait(timeout=rng.uniform(0.3, 2.0))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        else:
            assert process.returncode == 0, log.read_text()[-3000:]
            break
    final = _spawn(rest, config, log, "run", "--no-process", "--source", f"file:{path}")
    assert final.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert kills >= 3
    _assert_exactly_once(settings, lines)


@pytest.mark.long
def test_the_catalog_server_restarts_under_a_running_run(
    rest: Setup, seaweed: SeaweedFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3, the REST catalog and its metadata all go away for seconds, twice; ingestion and
    processing retry and carry on; every event lands once."""
    config = _config(
        rest,
        tmp_path,
        commit={"max_seconds": 0.3},
        supervisor={"backoff_initial_s": 0.2, "backoff_max_s": 2},
        process={"interval_s": 0.5},
    )
    settings = _settings(rest, config, monkeypatch)
    log = tmp_path / "run.log"
    process = _spawn(
        rest,
        config,
        log,
        "run",
        "--source",
        "synthetic:300",
        "--max-seconds",
        "40",
        "--output",
        "json",
    )
    try:
        deadline = time.monotonic() + 60
        while "ingest starting" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.1)
        time.sleep(4)
        seaweed.restart(down_s=2)
        time.sleep(6)
        seaweed.restart(down_s=1)
        back = time.time()
        assert process.wait(timeout=180) == 0, log.read_text()[-4000:]
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text(errors="replace")
    result = json.loads(text[text.index("\n{") + 1 :])
    lakehouse = Lakehouse.reader(settings)
    after = [
        s
        for s in lakehouse.table("bronze.events").snapshots()
        if s.timestamp_ms > back * 1000 and int(s.summary["added-records"] or 0) > 0
    ]
    assert after, "ingestion did not go on after the second outage"
    events = lakehouse.table("bronze.events").scan(selected_fields=("event_id",)).to_arrow()
    ids = events.column("event_id").to_pylist()
    assert len(ids) == len(set(ids)) == result["accepted"]
    silver = lakehouse.table("silver.events").scan(selected_fields=("event_id",)).to_arrow()
    assert silver.num_rows == len(ids)  # the last cycle caught up after the outages


def _written_paths(trace: Path) -> list[str]:
    """Files a traced process tree opened for writing, created, renamed or made folders of."""
    written = []
    pattern = re.compile(
        r'(?:openat\(AT_FDCWD, "([^"]+)", ([^,)]+)|(?:mkdir|mkdirat|rename|renameat2?|'
        r'unlink|unlinkat|creat)\((?:AT_FDCWD, )?"([^"]+)")'
    )
    for line in trace.read_text(errors="replace").splitlines():
        if "= -1" in line:
            continue  # failed calls changed nothing
        match = pattern.search(line)
        if match is None:
            continue
        path, flags, other = match.group(1), match.group(2) or "", match.group(3)
        if path is not None and not any(f in flags for f in ("O_WRONLY", "O_RDWR", "O_CREAT")):
            continue
        written.append(path or other)
    return written


_DEVICES = ("/dev/", "/proc/", "/sys/")


def _traced_writes(
    strace: str, config: Path, command: list[str], trace: Path, setup: Setup
) -> list[str]:
    result = subprocess.run(
        [
            strace,
            "-f",
            "-qq",
            "-e",
            "trace=openat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,creat",
            "-o",
            str(trace),
            sys.executable,
            "-m",
            "wikistream",
            "--config",
            str(config),
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.parent,
        env={**os.environ, **setup.env, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode in (0, 4), (command, result.stderr[-3000:])
    return [p for p in _written_paths(trace) if not p.startswith(_DEVICES)]


@pytest.mark.long
def test_with_an_s3_warehouse_nothing_is_written_to_the_local_disk(
    rest: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command a deployment runs, traced with strace: no file opened for writing,
    created, renamed or removed on the local disk (devices aside)."""
    strace = "/usr/bin/strace"
    if not Path(strace).exists():
        pytest.fail("strace is missing: scripts/system-deps installs it (make test runs it)")
    config = _config(rest, tmp_path)
    lines = sample_lines()[:800] + [b"{not json"]
    source = tmp_path / "input" / "events.jsonl"
    source.parent.mkdir()
    source.write_bytes(b"\n".join(lines) + b"\n")
    commands = [
        ["init"],
        ["run", "--source", f"file:{source}", "--max-events", "400"],
        ["process"],
        ["backfill", "--source", f"file:{source}"],
        ["dq", "report"],
        ["dq", "run", "--layer", "silver"],
        ["maintain", "--orphan-age-hours", "0"],
        ["status"],
        ["query", "SELECT count(*) FROM bronze.events"],
        ["history", "bronze.events"],
        ["quarantine", "list", "--layer", "bronze"],
    ]
    for number, command in enumerate(commands):
        local = _traced_writes(strace, config, command, tmp_path / f"trace-{number}.txt", rest)
        assert local == [], (command, local[:20])
    control = tmp_path / "local.toml"  # the same tracing sees a local warehouse being written
    control.write_text(f'warehouse = "{tmp_path / "local-wh"}"\n')
    written = _traced_writes(strace, control, ["init"], tmp_path / "trace-control.txt", rest)
    assert any(p.endswith("catalog.db") for p in written)
    assert any(p.endswith(".metadata.json") for p in written)
    settings = _settings(rest, config, monkeypatch)
    assert Lakehouse.reader(settings).table("silver.events").scan().to_arrow().num_rows == 800


def test_secrets_never_appear_in_any_output(keyed: Setup, tmp_path: Path) -> None:
    """Logs at debug level, JSON logs, status, errors and tracebacks (--debug), including
    failures whose messages come from the libraries below."""
    config = _config(keyed, tmp_path)
    down = tmp_path / "down"
    down.mkdir()
    unreachable = keyed.config(down, filters={"domains": ["*"]})  # a catalog that is not there
    uri = keyed.values["catalog"]["uri"]
    closed = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:9", uri)
    unreachable.write_text(unreachable.read_text().replace(uri, closed))
    runs = [
        (config, ["--log-level", "debug", "init"]),
        (
            config,
            [
                "--log-level",
                "debug",
                "--log-format",
                "json",
                "run",
                "--source",
                "synthetic",
                "--max-events",
                "300",
            ],
        ),
        (config, ["status", "--output", "json"]),
        (config, ["status"]),
        (config, ["--debug", "query", "SELECT * FROM nowhere.nothing"]),
        (config, ["--log-level", "debug", "maintain"]),
        (unreachable, ["--debug", "--log-level", "debug", "status"]),
        (unreachable, ["--debug", "run", "--source", "synthetic", "--max-events", "10"]),
    ]
    output = ""
    for path, args in runs:
        result = subprocess.run(
            [sys.executable, "-m", "wikistream", "--config", str(path), *args],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env={**os.environ, **keyed.env},
        )
        output += result.stdout + result.stderr
    assert "127.0.0.1:9" in output  # the failures were reported
    assert len(output) > 2000
    for secret in keyed.secrets:
        assert secret not in output
