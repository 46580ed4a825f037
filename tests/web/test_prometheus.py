"""/metrics scraped for real by Debian's Prometheus, the alert rules unit-tested with
promtool, and every query of the Grafana dashboard run against that Prometheus."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import spawn
from tests.support.servers import _wait_for, free_port
from tests.support.warehouse import sample_lines
from tests.web.conftest import Served, Warehouse, make_warehouse

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "wikistream.json"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: scripts/system-deps installs it (make test runs it)")
    return found


def test_promtool_checks_and_unit_tests_the_alert_rules() -> None:
    for args in (["check", "rules", "rules.yml"], ["test", "rules", "rules_test.yml"]):
        done = subprocess.run(
            [tool("promtool"), *args], cwd=RULES, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "SUCCESS: 7 rules found"
        in subprocess.run(
            [tool("promtool"), "check", "rules", "rules.yml"],
            cwd=RULES,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )


def test_the_grafana_dashboard_is_what_the_sdk_builds() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "grafana" / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


class Prometheus:
    def __init__(self, folder: Path, target: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        config = folder / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{RULES / 'rules.yml'}']\n"
            "scrape_configs:\n"
            "  - job_name: wikistream\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        log = folder / "prometheus.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    tool("prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder}/tsdb",
                    f"--web.listen-address={self.url.removeprefix('http://')}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_for(f"{self.url}/-/ready", self.process, log, 60)

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
            return json.load(answer)

    def value(self, expr: str) -> float | None:
        result = self.get("/api/v1/query", query=expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, timeout_s: float = 60) -> float:
        deadline = time.monotonic() + timeout_s
        while (found := self.value(expr)) is None:
            assert time.monotonic() < deadline, f"no sample for {expr}"
            time.sleep(0.5)
        return found

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`wikistream run --serve` on a synthetic stream; its web port and config."""
    warehouse = make_warehouse(tmp_path, 0)
    config = warehouse.config
    config.write_text(config.read_text() + "[process]\ninterval_s = 1\n")
    port = free_port()
    process = spawn(
        tmp_path / "run.log",
        "--config",
        str(config),
        "run",
        "--serve",
        "--port",
        str(port),
        "--source",
        "synthetic:400",
        "--max-seconds",
        "90",
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/metrics", process, tmp_path / "run.log", 60)
        yield port, config
    finally:
        process.terminate()
        process.wait(30)


def test_prometheus_scrapes_the_run_and_every_dashboard_query_works(
    tmp_path: Path, pipeline: tuple[int, Path]
) -> None:
    port, config = pipeline
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{port}")
    try:
        assert prometheus.wait_for('up{job="wikistream"} == 1') == 1
        prometheus.wait_for("wikistream_events_accepted_total > 0")
        prometheus.wait_for('wikistream_cycle_seconds_count{layer="silver"} > 0')
        rows = prometheus.wait_for('wikistream_table_rows{table="bronze.events"} > 0')
        assert prometheus.value("wikistream_run_running") == 1
        assert prometheus.value("wikistream_healthy") == 1
        # The gauge is the table's row count at a scrape: never above what bronze holds now.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/tables") as answer:
            now = {t["table"]: t["rows"] for t in json.load(answer)}
        assert 0 < rows <= now["bronze.events"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as answer:
            exposed = answer.read().decode()
        families = set(re.findall(r"^# TYPE (\w+) (\w+)", exposed, re.M))
        names = (
            {n for n, _ in families}
            | {f"{n}_total" for n, t in families if t == "counter"}
            | {
                f"{n}_{s}"
                for n, t in families
                if t == "histogram"
                for s in ("bucket", "sum", "count")
            }
        )
        used = set()
        for panel in json.loads(DASHBOARD.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__rate_interval", "1m")
                answer = prometheus.get("/api/v1/query", query=expr)
                assert answer["status"] == "success", (panel["title"], expr)
                used |= set(re.findall(r"\b(wikistream_\w+)", expr))
        rules = (RULES / "rules.yml").read_text()
        used |= set(re.findall(r"\b(wikistream_\w+)", rules))
        assert used - names == set(), "the dashboard or the rules use metrics nobody exposes"
        loaded = prometheus.get("/api/v1/rules")["data"]["groups"][0]["rules"]
        assert len(loaded) == 7 and all(rule["health"] in ("ok", "unknown") for rule in loaded)
    finally:
        prometheus.stop()


def test_a_replay_of_old_events_keeps_freshness_and_its_alert_quiet(
    tmp_path: Path, serve: Callable[[Warehouse], Served]
) -> None:
    """Freshness is the newest event a table holds, not the newest commit's: replaying
    2018 events into a warehouse that is minutes old must not raise the alert."""
    warehouse = make_warehouse(tmp_path, 3000)  # events of the last minutes (demo: now)
    samples = tmp_path / "2018.jsonl"
    samples.write_bytes(b"\n".join(sample_lines()[:2000]) + b"\n")
    warehouse.cli(
        "replay",
        "--layer",
        "bronze",
        "--source",
        f"file:{samples}",
        "--from",
        "earliest",
        "--until",
        "2019-01-01T00:00:00Z",
    )
    warehouse.cli("process")
    status = json.loads(warehouse.cli("status", "--output", "json"))
    lags = {t["table"]: t["freshness_lag_s"] for t in status["tables"]}
    assert lags["bronze.events"] < 900 and lags["silver.events"] < 900, lags
    command = [sys.executable, "-m", "wikistream", "--config", str(warehouse.config)]
    check = subprocess.run(
        [*command, "status", "--max-lag", "900"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    server = serve(warehouse)
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{server.port}")
    try:
        lag = prometheus.wait_for('wikistream_freshness_lag_seconds{layer="bronze"}')
        assert lag < 900
        rule = "wikistream_freshness_lag_seconds > 900"  # deploy/prometheus/rules.yml
        assert rule in (RULES / "rules.yml").read_text()
        assert prometheus.get("/api/v1/query", query=rule)["data"]["result"] == []
    finally:
        prometheus.stop()
