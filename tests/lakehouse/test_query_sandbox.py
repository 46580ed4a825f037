"""`wikistream query` as an attacker uses it: every way out of the warehouse's tables.

Each attack is tried as written, in lower case, behind a comment, inside a CTE and a
subquery, and after a harmless statement. Each must be refused with one line and exit 2;
afterwards no file was created or changed, the local HTTP server saw no request, and no
secret (planted in the environment and in the settings) appears in any output.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.events import recent_events, run_cycle, write_bronze
from tests.support.warehouse import make_settings
from wikistream.cli.app import cli

SECRET_IN_ENV = "planted-env-secret-5f1c"
SECRET_IN_SETTINGS = "planted-settings-token-9d2e"


class CountingServer:
    """Counts every request (an attack that reaches the network is seen here)."""

    def __init__(self) -> None:
        self.requests = 0
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                counter.requests += 1
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"a,b\n1,2\n")

            do_POST = do_PUT = do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, CountingServer]]:
    folder = tmp_path_factory.mktemp("attacks")
    settings = make_settings(folder / "wh")
    write_bronze(settings, recent_events(200), "sse:x")
    run_cycle(settings)
    config = folder / "wikistream.toml"
    config.write_text(
        f'warehouse = "{folder / "wh"}"\n[web]\nadmin_token = "{SECRET_IN_SETTINGS}"\n'
    )
    server = CountingServer()
    yield config, server
    server.close()


def _attacks(url: str, parquet: str, outside: str) -> list[str]:
    """Queries that try to read or write outside the tables, or reach the network."""
    return [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv_auto('/proc/self/environ')",
        "SELECT * FROM read_text('/proc/self/environ')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM read_json_auto('/etc/os-release')",
        f"SELECT * FROM read_parquet('{parquet}')",
        f"SELECT * FROM '{parquet}'",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM glob('/etc/*')",
        f"SELECT * FROM read_csv('{url}/x.csv')",
        f"SELECT * FROM '{url}/x.csv'",
        f"SELECT url_download('{url}/x') AS u",
        f"SELECT url_upload(CAST('x' AS BLOB), 'file://{outside}') AS u",
        "SELECT getenv('HOME') AS h",
        "SELECT current_setting('home_directory') AS s",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM duckdb_extensions()",
        "SELECT * FROM pragma_database_list",
        f"COPY (SELECT 1) TO '{outside}'",
        f"COPY bronze.events TO '{outside}'",
        f"EXPORT DATABASE '{outside}'",
        f"ATTACH '{outside}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "PRAGMA enable_profiling",
        "CREATE TABLE copy AS SELECT * FROM bronze.events",
        "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
        "CREATE MACRO m() AS 1",
        "INSERT INTO bronze.events SELECT * FROM bronze.events",
        "DELETE FROM bronze.events",
        "UPDATE bronze.events SET title = 'x'",
        "DROP VIEW bronze.events",
        "CALL pragma_version()",
        "CHECKPOINT",
        "DETACH memory",
        "USE main",
    ]


def _variants(attack: str) -> list[str]:
    variants = [attack, attack.lower(), f"/* harmless */ {attack} -- ok", f"SELECT 1; {attack}"]
    if attack.upper().startswith("SELECT"):
        variants += [
            f"WITH t AS ({attack}) SELECT * FROM t",
            f"SELECT * FROM ({attack}) AS s",
            f"SELECT count(*) FROM bronze.events WHERE EXISTS ({attack})",
        ]
    return variants


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.long
def test_every_way_out_of_the_tables_is_refused(
    target: tuple[Path, CountingServer], tmp_path: Path
) -> None:
    config, server = target
    warehouse = config.parent / "wh"
    parquet = next(warehouse.rglob("*.parquet"))
    outside = tmp_path / "stolen.csv"
    before = _tree(config.parent)
    runner = CliRunner()
    env = {"AWS_SECRET_ACCESS_KEY": SECRET_IN_ENV, "HOME": str(tmp_path)}
    tried = 0
    for attack in _attacks(server.url, str(parquet), str(outside)):
        for sql in _variants(attack):
            result = runner.invoke(cli, ["--config", str(config), "query", sql], env=env)
            tried += 1
            output = result.stdout + result.stderr
            assert result.exit_code == 2, (sql, output)
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("error: "), (sql, output)
            assert SECRET_IN_ENV not in output and SECRET_IN_SETTINGS not in output
    assert tried > 150
    assert server.requests == 0
    assert not outside.exists() and list(tmp_path.iterdir()) == []
    assert _tree(config.parent) == before  # nothing in the warehouse changed


def test_the_sql_analysts_know_works(target: tuple[Path, CountingServer]) -> None:
    config, _ = target
    runner = CliRunner()
    queries = [
        "SELECT min(event_ts), max(event_ts) FROM silver.events",
        "SELECT date_trunc('hour', event_ts) AS h, count(*) FROM silver.events GROUP BY 1",
        "SELECT 1 -- ; a comment with a semicolon",
        "DESCRIBE silver.events",
        'SELECT "user", count(*) OVER (PARTITION BY domain) AS n FROM silver.events',
        'WITH u AS (SELECT DISTINCT "user" FROM silver.events) SELECT count(*) FROM u',
        "SELECT s.domain, h.events FROM silver.events s JOIN gold.hourly_stats h "
        "ON s.domain = h.domain AND s.event_hour = h.event_hour LIMIT 5",
        'SELECT count(DISTINCT "user"), quantile_cont(length_delta, 0.9) FROM silver.events',
        "SELECT regexp_matches(title, '^Page') AS m FROM silver.events LIMIT 3",
        "SELECT json_extract(log_params, '$.target') FROM bronze.events LIMIT 3",
    ]
    for sql in queries:
        result = runner.invoke(cli, ["--config", str(config), "query", sql, "--output", "json"])
        assert result.exit_code == 0, (sql, result.stdout + result.stderr)
    assert os.environ.get("AWS_SECRET_ACCESS_KEY") != SECRET_IN_ENV  # the runner restored it
