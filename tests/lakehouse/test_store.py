"""The lakehouse boundary: read-only lakehouses never write; missing extras say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.warehouse import make_settings
from wikistream.exceptions import ConfigError, TableMissing
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import BRONZE_EVENTS


def test_a_reader_of_an_empty_warehouse_creates_nothing(tmp_path: Path) -> None:
    reader = Lakehouse.reader(make_settings(tmp_path / "wh", init=False))
    assert not reader.exists("bronze.events")
    assert reader.find("bronze.events") is None
    with pytest.raises(TableMissing):
        reader.table(BRONZE_EVENTS)
    assert not (tmp_path / "wh").exists()


def test_a_missing_optional_dependency_names_the_extra(tmp_path: Path) -> None:
    """Found in review: PyIceberg raises NotInstalledError, not ImportError, so the hint
    never appeared."""
    settings = make_settings(
        tmp_path / "wh", init=False, catalog={"type": "hive", "uri": "thrift://127.0.0.1:9"}
    )
    with pytest.raises(ConfigError, match=r"pip install 'pyiceberg\[hive\]'"):
        Lakehouse(settings).exists("bronze.events")
