"""Servers (once per session) and the catalog setups every behaviour test runs against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import Moto, SeaweedFS, postgres_available
from tests.support.setups import SETUPS, Setup, make_setup


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    server = Moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(params=SETUPS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    """Each catalog setup in turn; the server-backed ones are integration tests."""
    name: str = request.param
    if name == "postgres" and not postgres_available():
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (it is on the CI machine)")
    seaweed = request.getfixturevalue("seaweed") if name in ("postgres", "rest") else None
    moto = request.getfixturevalue("moto") if name == "glue" else None
    made = make_setup(name, tmp_path, seaweed, moto)
    yield made
    made.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("setup", "sqlite") != "sqlite":
            item.add_marker(pytest.mark.integration)
