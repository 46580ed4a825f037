"""Settings: defaults < TOML file < environment < explicit flags; errors are clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from wikistream.exceptions import ConfigError
from wikistream.settings import DEFAULT_DOMAINS, load_settings


def test_defaults_are_sensible() -> None:
    settings = load_settings()
    assert settings.warehouse == Path("warehouse")
    assert settings.catalog.type == "sql"
    assert settings.filters.domains == DEFAULT_DOMAINS
    assert settings.commit.max_seconds <= 5
    assert settings.source.user_agent.startswith("wikistream/")


def test_precedence_file_then_env_then_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ws.toml"
    config.write_text(
        'warehouse = "/from/file"\n[commit]\nmax_events = 11\nmax_seconds = 3.0\n'
        '[catalog]\ncredential = "s3cret"\n'
    )
    monkeypatch.setenv("WIKISTREAM_COMMIT__MAX_EVENTS", "22")
    settings = load_settings(config)
    assert settings.commit.max_events == 22  # env beats file
    assert settings.commit.max_seconds == 3.0  # file beats default
    assert str(settings.warehouse) == "/from/file"
    assert "s3cret" not in repr(settings)  # secrets never printed
    flags = load_settings(config, warehouse=Path("/from/flag"))
    assert str(flags.warehouse) == "/from/flag"


def test_invalid_values_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[commit\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[filters]\ntypes = ['edit', 'flow']\n")
    with pytest.raises(ConfigError, match="filters.types"):
        load_settings(wrong)
    monkeypatch.setenv("WIKISTREAM_COMMIT__MAX_EVENTS", "-1")
    with pytest.raises(ConfigError, match="commit.max_events"):
        load_settings()
