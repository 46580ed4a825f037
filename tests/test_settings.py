"""Settings: defaults < TOML file < environment < explicit flags; errors are clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from wikistream.exceptions import ConfigError
from wikistream.settings import DEFAULT_DOMAINS, load_settings


def test_defaults_are_sensible() -> None:
    settings = load_settings()
    assert settings.warehouse == "warehouse"
    assert settings.warehouse_uri == (Path.cwd() / "warehouse").as_uri()
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


def test_the_warehouse_is_a_path_or_a_uri() -> None:
    local = load_settings(warehouse=Path("~/wh"))
    assert local.warehouse_path == Path.home() / "wh" and not local.remote_warehouse
    remote = load_settings(warehouse="s3://bucket/wh/")
    assert remote.remote_warehouse and remote.warehouse_path is None
    assert remote.warehouse_uri == "s3://bucket/wh"  # never a local folder named "s3:"


def test_an_object_store_warehouse_needs_a_shared_catalog() -> None:
    from wikistream.lakehouse.catalog import catalog_properties

    with pytest.raises(ConfigError, match="set catalog.uri"):
        catalog_properties(load_settings(warehouse="s3://bucket/wh"))
    shared = load_settings(warehouse="s3://bucket/wh",
                           catalog={"uri": "postgresql+psycopg2://u@127.0.0.1/test"})  # fmt: skip
    assert catalog_properties(shared)["warehouse"] == "s3://bucket/wh"


def test_catalog_secrets_from_the_file_the_environment_and_a_secrets_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wikistream.lakehouse.catalog import catalog_properties

    config = tmp_path / "ws.toml"
    config.write_text(
        '[catalog]\ntype = "rest"\nuri = "http://127.0.0.1:8181"\n'
        '[catalog.properties]\n"s3.endpoint" = "http://127.0.0.1:8333"\n'
        '[catalog.secrets]\n"s3.access-key-id" = "AKIAFROMFILE"\n'
    )
    monkeypatch.setenv("WIKISTREAM_CATALOG__SECRETS",
                       '{"s3.secret-access-key": "fromTheEnvironment"}')  # fmt: skip
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text('credential = "client:fromSecretsFile"\n')
    secrets_file.chmod(0o600)
    monkeypatch.setenv("WIKISTREAM_CATALOG__SECRETS_FILE", str(secrets_file))
    settings = load_settings(config)
    props = catalog_properties(settings)
    assert props["s3.secret-access-key"] == "fromTheEnvironment"
    assert props["s3.access-key-id"] == "AKIAFROMFILE"  # the file and the environment merge
    assert props["credential"] == "client:fromSecretsFile"
    assert props["s3.endpoint"] == "http://127.0.0.1:8333"
    for secret in ("fromTheEnvironment", "fromSecretsFile"):
        assert secret not in repr(settings)
    secrets_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        catalog_properties(load_settings(config))
