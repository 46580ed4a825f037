"""Shared fixtures: a fresh warehouse per test, settings pointing at it, real sample events.
The helpers themselves live in tests/support/ (warehouse.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.warehouse import make_settings, sample_lines
from wikistream.settings import Settings


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture
def settings(warehouse: Path) -> Settings:
    return make_settings(warehouse)


@pytest.fixture
def samples() -> Iterator[list[bytes]]:
    yield sample_lines()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` first: in a parallel run (`make test`) they start at once instead
    of keeping one worker busy after the others are done."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
