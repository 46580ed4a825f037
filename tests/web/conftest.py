"""A demo warehouse made by the real CLI, and `wikistream serve` as a real process."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import spawn
from tests.support.servers import free_port
from wikistream.settings import Settings, load_settings


@dataclass
class Warehouse:
    config: Path
    settings: Settings

    def cli(self, *args: str) -> str:
        """Run a `wikistream` command on this warehouse; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "wikistream", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode in (0, 4), done.stderr[-2000:]
        return done.stdout


def make_warehouse(folder: Path, events: int, **web: str) -> Warehouse:
    """A warehouse filled by `wikistream demo` (bronze, silver, gold, gates)."""
    config = folder / "wikistream.toml"
    lines = [
        f'warehouse = "{folder / "wh"}"',
        "[web]",
        "cache_s = 0.5",
        "refresh_s = 1",
        *(f"{k} = {v}" for k, v in web.items()),
    ]
    config.write_text("\n".join(lines) + "\n")
    warehouse = Warehouse(config, load_settings(config))
    if events:
        warehouse.cli("demo", "--events", str(events))
    return warehouse


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """10,000 synthetic events through every layer; tests only read it."""
    return make_warehouse(tmp_path_factory.mktemp("web-demo"), 10_000)


class Served:
    """`wikistream serve` on a free loopback port."""

    def __init__(self, warehouse: Warehouse, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = spawn(
            log, "--config", str(warehouse.config), "serve", "--port", str(self.port)
        )
        self.log = log
        deadline = time.monotonic() + 60
        while not self._answers():
            assert self.process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True  # 503: up, but unhealthy
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Warehouse], Served]]:
    """Start servers with `serve(warehouse)`; every one is stopped after the test."""
    started: list[Served] = []

    def start(warehouse: Warehouse) -> Served:
        server = Served(warehouse, tmp_path / f"serve-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
