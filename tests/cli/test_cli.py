"""The `wikistream` command as a user runs it: a real process, real exit codes, real output."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from tests.support.warehouse import sample_lines


def wikistream(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wikistream", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("demo") / "wh"
    result = wikistream("--warehouse", str(warehouse), "demo", "--events", "5000")
    assert result.returncode == 0, result.stderr
    for label in (
        "events read",
        "accepted",
        "quarantined",
        "duplicates dropped",
        "commits",
        "throughput",
        str(warehouse),
    ):
        assert label in result.stdout
    return warehouse


def test_demo_summary_as_json_and_a_second_run_continues(demo_warehouse: Path) -> None:
    result = wikistream(
        "--warehouse", str(demo_warehouse), "demo", "--events", "1000", "--output", "json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["start_position"] == "5000" and summary["end_position"] == "6000"
    assert summary["events_read"] == 1000
    assert (
        summary["accepted"]
        + summary["quarantined"]
        + summary["duplicates_dropped"]
        + sum(summary["filtered"].values())
        == 1000
    )


def test_status_json_reports_rows_positions_and_freshness(demo_warehouse: Path) -> None:
    result = wikistream("--warehouse", str(demo_warehouse), "status", "--output", "json")
    assert result.returncode == 0, result.stderr
    tables = {t["table"]: t for t in json.loads(result.stdout)["tables"]}
    events = tables["bronze.events"]
    assert events["rows"] > 4000
    assert events["positions"] == {"synthetic:seed=42": "6000"}
    assert events["freshness_lag_s"] is not None and events["freshness_lag_s"] < 600
    assert tables["bronze.quarantine"]["rows"] > 0
    text = wikistream("--warehouse", str(demo_warehouse), "status")
    assert "bronze.events" in text.stdout and "synthetic:seed=42" in text.stdout


def test_query_outputs_table_json_and_csv(demo_warehouse: Path) -> None:
    sql = "SELECT type, count(*) AS n FROM bronze.events GROUP BY type ORDER BY n DESC"
    as_json = wikistream("--warehouse", str(demo_warehouse), "query", sql, "--output", "json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert rows[0]["type"] == "edit" and {r["type"] for r in rows} >= {"edit", "log", "new"}
    as_csv = wikistream("--warehouse", str(demo_warehouse), "query", sql, "--output", "csv")
    assert as_csv.stdout.splitlines()[0] == "type,n"
    table = wikistream("--warehouse", str(demo_warehouse), "query", sql, "--limit", "2")
    assert table.stdout.splitlines()[0].split() == ["type", "n"]
    assert len(table.stdout.splitlines()) == 4  # header, rule, two rows


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM bronze.events", "only read-only queries"),
        ("DROP TABLE bronze.events", "only read-only queries"),
        ("SELECT 1; DROP TABLE bronze.events", "one statement"),
        ("SELECT * FROM bronze.nope", "query failed"),
        ("SELEC 1", "not valid SQL"),
    ],
)
def test_queries_that_write_or_fail_are_one_line_errors(
    demo_warehouse: Path, sql: str, message: str
) -> None:
    result = wikistream("--warehouse", str(demo_warehouse), "query", sql)
    assert result.returncode == 2  # bad input (README: exit codes)
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_stream_is_one_clear_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = wikistream(
        "--warehouse",
        str(tmp_path / "wh"),
        "run",
        "--source",
        f"sse:http://127.0.0.1:{port}/v2/stream/recentchange",
        env={"WIKISTREAM_SOURCE__BACKOFF_INITIAL_S": "0.05"},
    )
    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach" in errors[0]
    assert "Traceback" not in result.stderr


def test_bad_input_is_a_config_error(tmp_path: Path) -> None:
    cases = [
        (["run", "--source", "nats:x"], "unknown source"),
        (["run", "--source", "kafka:x"], "a Kafka spec looks like"),
        (["run", "--source", "file:/nonexistent.jsonl"], "no such file"),
        (["--config", str(tmp_path / "missing.toml"), "status"], "config file not found"),
        (["run", "--source", "synthetic:fast"], "events per second"),
    ]
    for args, message in cases:
        result = wikistream("--warehouse", str(tmp_path / "wh"), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr


def test_run_from_a_file_with_limits_and_a_toml_config(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(sample_lines()[:500]) + b"\n")
    config = tmp_path / "ws.toml"
    config.write_text(
        '[filters]\ndomains = ["www.wikidata.org"]\n[commit]\nmax_events = 100\n'
        "[source]\nchunk_events = 50\n"
    )
    result = wikistream(
        "--config",
        str(config),
        "--warehouse",
        str(tmp_path / "wh"),
        "run",
        "--source",
        f"file:{path}",
        "--max-events",
        "250",
        "--output",
        "json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["events_read"] == 250 and summary["accepted"] == 250
    assert summary["commits"] >= 2
    assert summary["stopped_by"] == "max events"


def test_status_of_an_empty_warehouse_says_what_to_do(tmp_path: Path) -> None:
    result = wikistream("--warehouse", str(tmp_path / "wh"), "status")
    assert result.returncode == 4
    assert "wikistream demo" in result.stderr


def _listed_commands(help_text: str) -> dict[str, str]:
    """The `Commands:` section of a --help page: name -> its one-line description."""
    section = help_text.split("Commands:", 1)[1]
    listed = {}
    for line in section.splitlines():
        parts = line.split(None, 1)
        if line.startswith("  ") and not line.startswith("   ") and parts:  # not a wrapped line
            listed[parts[0]] = parts[1] if len(parts) > 1 else ""
    return listed


def test_help_explains_every_command() -> None:
    """Against the commands really registered (found in review: the old test passed with
    the commands missing, the words being in the group's own docstring)."""
    import importlib
    import pkgutil

    from wikistream import cli as cli_package
    from wikistream.cli.app import COMMANDS, cli

    for module in pkgutil.iter_modules(cli_package.__path__):
        importlib.import_module(f"wikistream.cli.{module.name}")  # every command registers
    # `--help` lists commands from COMMANDS without importing them: the table is the truth.
    for name, command in cli.commands.items():
        assert name in COMMANDS, f"{name} is missing from cli/app.py COMMANDS"
        module, text = COMMANDS[name]
        assert command.callback is not None
        assert command.callback.__module__ == f"wikistream.cli.{module}", name
        assert text == command.get_short_help_str(limit=300), name
    result = wikistream("--help")
    assert result.returncode == 0
    listed = _listed_commands(result.stdout)
    assert set(listed) == set(cli.commands) == set(COMMANDS) >= {"demo", "run", "status"}
    assert all(description.strip() for description in listed.values()), listed
    for name, command in cli.commands.items():
        page = wikistream(name, "--help")
        assert page.returncode == 0 and page.stdout.startswith(f"Usage: wikistream {name}")
        if isinstance(command, click.Group):
            assert set(_listed_commands(page.stdout)) == set(command.commands)
    assert "--source" in wikistream("run", "--help").stdout


@pytest.mark.integration
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_commits_what_was_read_and_exits_0(tmp_path: Path, signum: int) -> None:
    warehouse = tmp_path / "wh"
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wikistream",
                "--warehouse",
                str(warehouse),
                "run",
                "--source",
                "synthetic:400",
                "--output",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            env={**os.environ, "WIKISTREAM_COMMIT__MAX_SECONDS": "30"},  # only the stop commits
        )
    deadline = time.monotonic() + 120  # count from the start of ingestion, not of Python
    while "ingest starting" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3)
    process.send_signal(signum)
    stdout, _ = process.communicate(timeout=60)
    stderr = log.read_text()
    assert process.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["stopped_by"] == signal.Signals(signum).name
    assert summary["events_read"] > 200 and summary["commits"] == 1
    status = json.loads(
        wikistream("--warehouse", str(warehouse), "status", "--output", "json").stdout
    )
    rows = {t["table"]: t["rows"] for t in status["tables"]}
    assert rows["bronze.events"] == summary["accepted"]


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


READ_COMMANDS = [
    ["status"], ["status", "--output", "json"], ["query", "SELECT 1 AS one"],
    ["history", "bronze.events"], ["history", "dq.results"], ["dq", "report"],
    ["quarantine", "list"], ["quarantine", "list", "--layer", "bronze"],
]  # fmt: skip


def test_read_commands_never_write(tmp_path: Path) -> None:
    """Found in review: status on an empty warehouse created tables (and the catalog)."""
    empty = tmp_path / "empty"
    for command in READ_COMMANDS:
        result = wikistream("--warehouse", str(empty), *command)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        assert not empty.exists(), command
    partial = tmp_path / "bronze-only"  # bronze exists; silver, gold, dq do not yet
    result = wikistream(
        "--warehouse",
        str(partial),
        "run",
        "--source",
        "synthetic",
        "--max-events",
        "500",
        "--no-process",
    )
    assert result.returncode == 0, result.stderr
    before = _tree(partial)
    for command in READ_COMMANDS:
        result = wikistream("--warehouse", str(partial), *command)
        assert "Traceback" not in result.stderr, (command, result.stderr)
    assert _tree(partial) == before


def test_a_corrupt_file_stops_the_run_at_once_with_what_came_before_committed(
    tmp_path: Path,
) -> None:
    import gzip

    lines = sample_lines()
    whole = gzip.compress(b"\n".join(lines) + b"\n")
    path = tmp_path / "corrupt.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])  # an interrupted download
    warehouse = tmp_path / "wh"
    started = time.monotonic()
    result = wikistream(
        "--warehouse",
        str(warehouse),
        "run",
        "--source",
        f"file:{path}",
        "--no-process",
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 60
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "corrupt or cut short" in errors[0], result.stderr
    assert "restarting" not in result.stderr
    query = wikistream(
        "--warehouse",
        str(warehouse),
        "query",
        "SELECT count(*) AS n FROM bronze.events",
        "--output",
        "json",
    )
    assert 0 < json.loads(query.stdout)[0]["n"] < len(lines)


def test_a_closed_pipe_ends_quietly(demo_warehouse: Path) -> None:
    for args in (["status"], ["dq", "report"], ["history", "bronze.events"]):
        command = [sys.executable, "-m", "wikistream", "--warehouse", str(demo_warehouse), *args]
        reader = subprocess.Popen(
            ["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        writer = subprocess.run(
            command,
            stdout=reader.stdin,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
        reader.communicate()
        assert "BrokenPipe" not in writer.stderr and "error" not in writer.stderr, writer.stderr
        assert writer.returncode in (0, 141), (args, writer.returncode)


def test_wrong_input_gets_one_line_and_exit_2(demo_warehouse: Path, tmp_path: Path) -> None:
    home = ["--warehouse", str(demo_warehouse)]
    cases = [
        ([*home, "query", "SELEKT 1"], ""),
        (["--config", str(tmp_path), "status"], "is a folder"),
        ([*home, "dq", "report", "--since", "9999999d"], "before the year 1"),
        (
            [*home, "rollback", "silver.events", "--to", "2099-01-01T00:00:00Z", "--yes"],
            "is after silver.events's newest snapshot",
        ),
        ([*home, "quarantine", "list", "--check", "no_such_check"], "no row-level silver check"),
    ]
    for args, message in cases:
        result = wikistream(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_read_commands_on_a_missing_warehouse_exit_3_with_the_hint(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    for args in (
        ["dq", "report"],
        ["quarantine", "list"],
        ["history", "bronze.events"],
        ["query", "SELECT 1 AS one"],
    ):
        result = wikistream("--warehouse", missing, *args)
        assert result.returncode == 3, (args, result.stderr)
        assert "no warehouse at" in result.stderr and "wikistream demo" in result.stderr


def test_errors_are_json_under_json_logs_and_next_steps_repeat_the_options(
    tmp_path: Path,
) -> None:
    result = wikistream(
        "--log-format", "json", "--warehouse", str(tmp_path / "x"), "query", "SELECT 1"
    )
    last = json.loads(result.stderr.strip().splitlines()[-1])
    assert last["level"] == "error" and last["exit_code"] == result.returncode == 3
    warehouse = tmp_path / "my wh"
    demo = wikistream("--warehouse", str(warehouse), "demo", "--events", "300")
    assert demo.returncode == 0, demo.stderr
    next_steps = demo.stdout.split("Next:", 1)[1]
    assert next_steps.count(f"--warehouse '{warehouse}'") >= 3
