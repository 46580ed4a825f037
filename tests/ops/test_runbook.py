"""docs/operations.md, command by command, against the real CLI on a generated warehouse.

The commands are read from the runbook itself (every `wikistream …` line of its `sh` blocks),
so the document and this test cannot drift: a command added to the runbook that this test
does not know how to run here fails it, and so does one whose exit code or output is not
what the runbook says. The example values of the runbook (paths under /data, times, snapshot
ids, the broker b1:9092, the live stream) are replaced by real ones of this machine: local
files, times and snapshots of the generated warehouse, a Kafka-protocol broker (Tansu) and
a local server that speaks the EventStreams protocol as the live stream.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.events import recent_events, write_bronze
from tests.support.servers import Tansu, free_port
from tests.support.sse_server import EventStreamsServer, Script
from tests.support.warehouse import make_settings, read_table
from wikistream.lakehouse.store import Lakehouse
from wikistream.sources.synthetic import SyntheticGenerator

pytestmark = pytest.mark.integration

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_commands() -> list[tuple[str, str]]:
    """(command, its comment) for every `wikistream` line of the runbook's sh blocks."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", RUNBOOK.read_text(encoding="utf-8"), re.S):
        for line in block.splitlines():
            if not line.startswith("wikistream "):
                continue
            command, _, comment = line.partition("  #")
            found.append((command.strip(), comment.strip()))
    return found


# How each documented command runs here: the first pattern (a regex on the documented
# command) that matches says which example values to replace and what to expect.
@dataclass
class Here:
    exit_codes: tuple[int, ...] = (0,)
    shows: tuple[str, ...] = ()  # text the output must contain
    until_stopped: bool = False  # runs until SIGTERM (a live stream, a server)


PLAN: list[tuple[str, Here]] = [
    (r"^wikistream (--log-format json )?run$", Here(until_stopped=True)),
    (r"run --source file:/data/dump", Here(shows=("events read", "accepted"))),
    (r"produce --source live", Here(until_stopped=True)),
    (r"run --no-process --source", Here(until_stopped=True)),
    (r"run --source \"kafka", Here(until_stopped=True)),
    (r"^wikistream status$", Here(exit_codes=(0, 4), shows=("bronze.events", "freshness"))),
    (r"status --max-lag", Here(exit_codes=(0, 4), shows=('"tables"',))),
    (r"^wikistream serve", Here(until_stopped=True)),
    (r"run --serve", Here(until_stopped=True)),
    (r"alerts test", Here(shows=("delivered",))),
    (r"dq report", Here(shows=("gate runs",))),
    (r"dq run --layer silver", Here(exit_codes=(0, 4))),  # exit 4 if it would hold
    (r"dq release", Here(shows=("released",))),
    (r"quarantine list", Here()),
    (r"quarantine replay", Here(shows=("silver.quarantine",))),
    (r"^wikistream history", Here(shows=("snapshot", "current"))),
    (r"query .*--as-of", Here(shows=("n",))),
    (r"^wikistream rollback", Here(shows=("silver.events",))),
    (r"replay --layer bronze --from \d{4}-", Here(shows=("events read",))),
    (r"replay --layer bronze --from earliest", Here(shows=("events read",))),
    (r"replay --layer bronze --from \d+ ", Here(shows=("events read",))),
    (r"replay --layer bronze --from 0:", Here(shows=("events read",))),
    (r"replay --layer (silver|gold)", Here()),
    (r"process --full-refresh", Here(shows=("silver.events",))),
    (r"backfill --source 'file", Here(shows=("completed",))),
    (r"backfill --source live", Here(shows=("completed",))),
    (r"query \"SELECT run_id", Here(shows=("backfill-",))),
    (r"^wikistream maintain", Here(shows=("bronze.events",))),
]


@dataclass
class Site:
    """The generated warehouse and the stand-ins for the runbook's example values."""

    folder: Path
    config: Path
    env: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)

    def run(self, command: str, here: Here) -> subprocess.CompletedProcess[str]:
        for example, real in self.values.items():
            command = command.replace(example, real)
        if here.until_stopped:
            command = command.replace("--port 8765", f"--port {free_port()}")
        args = shlex.split(command)[1:]
        full = [sys.executable, "-m", "wikistream", "--config", str(self.config)]
        if args[0] == "--log-format":  # a global option stays in front of the command
            full, args = [*full, *args[:2]], args[2:]
        if args[0] == "rollback":
            args.append("--yes")  # the runbook says it asks first
        env = {**os.environ, **self.env}
        if not here.until_stopped:
            return subprocess.run(
                [*full, *args], capture_output=True, text=True, env=env, timeout=300, check=False
            )
        process = subprocess.Popen(
            [*full, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        time.sleep(8)  # long enough to read, commit, serve
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("runbook")
    start = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    generator = SyntheticGenerator(seed=9, start=start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    lines = [generator.record(i) for i in range(12_000)]  # 240 s of the "live stream"
    dumps = folder / "dumps"
    dumps.mkdir()
    for n in range(2):
        part = b"".join(line + b"\n" for line in lines[n * 1000 : (n + 1) * 1000])
        (dumps / f"2026-11-{21 + n}.jsonl.gz").write_bytes(gzip.compress(part))
    big = folder / "big.jsonl"
    big.write_bytes(b"".join(line + b"\n" for line in lines[:3000]))
    offset = sum(len(line) + 1 for line in lines[:1000])  # a line boundary
    broker = Tansu(folder)
    broker.create_topic("recentchange", 4)
    with EventStreamsServer(lines, Script(event_delay_s=0.001, hold_open_at_end_s=600)) as sse:
        config = folder / "wikistream.toml"
        config.write_text(
            f'warehouse = "{folder / "wh"}"\n[filters]\ndomains = ["*"]\n'
            f'[source]\nurl = "{sse.url}"\nbackoff_initial_s = 0.05\n'
            f'[kafka]\nbootstrap_servers = "{broker.bootstrap}"\n'
            '[kafka.properties]\n"session.timeout.ms" = "6000"\n'
        )
        env = {"WIKISTREAM_SOURCE__USER_AGENT": "wikistream-runbook-test/1 (tests@example.org)"}
        site = Site(folder, config, env)
        demo = site.run("wikistream demo --events 4000", Here())
        assert demo.returncode == 0, demo.stderr
        site.values = _examples(site, dumps, big, offset, broker.bootstrap, start)
        try:
            yield site
        finally:
            broker.stop()


def _examples(
    site: Site, dumps: Path, big: Path, offset: int, bootstrap: str, stream_start: datetime
) -> dict[str, str]:
    """The runbook's example values -> real ones of this warehouse (longest first: an
    option with its value before the bare value)."""
    settings = make_settings(site.folder / "wh", init=False, filters={"domains": ["*"]})
    lakehouse = Lakehouse(settings)
    bronze = lakehouse.table("bronze.events")
    silver = lakehouse.table("silver.events").history()
    moment = datetime.fromtimestamp((silver[0].timestamp_ms + silver[-1].timestamp_ms) / 2000, UTC)
    newest = max(read_table(settings, "bronze.events").column("event_ts").to_pylist())
    recent = (newest - timedelta(minutes=5)).replace(microsecond=0)
    # A held batch for `dq release RUN_ID`: users missing from 30 % of a batch.
    batch = recent_events(70) + [dict(e, user=None) for e in recent_events(30)]
    write_bronze(settings, batch, "sse:https://stream.wikimedia.org/v2/stream/recentchange")
    held = site.run("wikistream process --output json", Here(exit_codes=(4,)))
    run_id = json.loads(held.stdout)["held"]["silver.events"]

    def on_stream(seconds: int) -> str:  # a time inside what the stand-in stream holds
        return (stream_start + timedelta(seconds=seconds)).isoformat()

    return {
        "/data/dump.jsonl.gz": str(dumps / "2026-11-21.jsonl.gz"),
        "/data/2026-11-22.jsonl.gz": str(dumps / "2026-11-22.jsonl.gz"),
        "/data/dumps/2026-11-*.jsonl.gz": str(dumps / "2026-11-*.jsonl.gz"),
        "/data/big.jsonl": str(big),
        "--from 52428800": f"--from {offset}",
        "0:1200,3:980": "0:0,3:0",
        "b1:9092": bootstrap,
        "--partitions 8": "--partitions 4",
        "2944625766056258663": str(bronze.history()[0].snapshot_id),
        "--as-of 2026-11-23T08:00:00Z": f"--as-of {moment.isoformat()}",
        "--to 2026-11-23T08:00:00Z": f"--to {moment.isoformat()}",
        "--from 2026-11-23T02:00:00Z": f"--from {on_stream(30)}",
        "--until 2026-11-23T03:30:00Z": f"--until {on_stream(60)}",
        "--since 2026-11-20T00:00:00Z": f"--since {on_stream(10)}",
        "--until 2026-11-21T00:00:00Z": f"--until {on_stream(70)}",
        "--from 2026-11-21T00:00:00Z": f"--from {recent.replace(hour=0, minute=0).isoformat()}",
        "--from 2026-11-23T06:00:00Z": f"--from {recent.isoformat()}",
        "RUN_ID": run_id,
    }


def _plan(command: str) -> Here:
    for pattern, here in PLAN:
        if re.search(pattern, command):
            return here
    raise AssertionError(
        f"the runbook documents `{command}`, which this test cannot run yet: "
        "add it to PLAN (tests/ops/test_runbook.py)"
    )


def test_the_runbook_lists_commands_this_test_knows() -> None:
    commands = documented_commands()
    assert len(commands) >= 30
    for command, _ in commands:
        _plan(command)


@pytest.mark.parametrize("command", [c for c, _ in documented_commands()])
def test_every_documented_command_runs_as_the_runbook_says(site: Site, command: str) -> None:
    here = _plan(command)
    result = site.run(command, here)
    output = result.stdout + result.stderr
    assert result.returncode in here.exit_codes, (command, output[-3000:])
    assert "Traceback" not in output, output[-3000:]
    for text in here.shows:
        assert text in output, (command, text, output[-3000:])
