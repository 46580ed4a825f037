"""Settings: defaults < TOML file < environment < explicit flags; errors are clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.docs import DOCS, section
from wikistream.exceptions import ConfigError
from wikistream.settings import (
    DEFAULT_DOMAINS,
    environment_name,
    load_settings,
    reference_markdown,
    setting_names,
)


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
    shared = load_settings(
        warehouse="s3://bucket/wh", catalog={"uri": "postgresql+psycopg2://u@127.0.0.1/test"}
    )
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
    monkeypatch.setenv(
        "WIKISTREAM_CATALOG__SECRETS", '{"s3.secret-access-key": "fromTheEnvironment"}'
    )
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


def test_unknown_keys_in_any_section_are_refused_with_the_closest_name(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("[commit]\nmax_event = 5\n")
    expected = r"unknown setting commit\.max_event \(did you mean commit\.max_events\?\)"
    with pytest.raises(ConfigError, match=expected):
        load_settings(config)
    nested = tmp_path / "nested.toml"
    nested.write_text('[alerts.webhook]\nurl = "https://hooks.example/x"\ntimeout = 3\n')
    with pytest.raises(ConfigError, match=r"alerts\.webhook\.timeout .*alerts\.webhook\.timeout_s"):
        load_settings(nested)


@pytest.mark.parametrize(
    ("variable", "closest"),
    [
        ("WIKISTREAM_ALERTS__WEBHOOK_URL", "WIKISTREAM_ALERTS__WEBHOOK__URL"),
        ("WIKISTREAM_COMIT__MAX_EVENTS", "WIKISTREAM_COMMIT__MAX_EVENTS"),
        ("wikistream_commit__max_event", "WIKISTREAM_COMMIT__MAX_EVENTS"),
    ],
)
def test_unknown_environment_variables_are_refused_with_the_closest_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, closest: str
) -> None:
    monkeypatch.setenv(variable, "5")
    expected = f"unknown environment variable {variable} \\(did you mean {closest}\\?\\)"
    with pytest.raises(ConfigError, match=expected):
        load_settings()


def test_known_environment_variables_and_free_tables_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIKISTREAM_CONFIG", "ignored-by-settings.toml")
    monkeypatch.setenv("WIKISTREAM_ALERTS__ROUTES", '{"critical": ["log"]}')
    monkeypatch.setenv("WIKISTREAM_CATALOG__PROPERTIES", '{"s3.region": "eu-west-1"}')
    settings = load_settings()
    assert settings.catalog.properties == {"s3.region": "eu-west-1"}


def test_empty_allow_lists_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIKISTREAM_FILTERS__DOMAINS", "[]")
    with pytest.raises(ConfigError, match=r"filters\.domains: .*keeps no event"):
        load_settings()
    monkeypatch.delenv("WIKISTREAM_FILTERS__DOMAINS")
    with pytest.raises(ConfigError, match=r"filters\.types: .*keeps no event"):
        load_settings(filters={"types": []})


def test_the_documented_reference_is_every_setting_as_the_code_has_it() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert section(text, "settings-reference") == reference_markdown(), "run: make docs"
    for name in setting_names():
        assert environment_name(name) in text


def test_name_lists_in_the_settings_match_their_registries() -> None:
    from wikistream.alerts.channels import CHANNELS
    from wikistream.settings import ALERT_CHANNELS, SOURCE_KINDS
    from wikistream.sources.registry import SOURCES

    assert set(ALERT_CHANNELS) == set(CHANNELS)
    assert [k.split(":")[0].split("[")[0] for k in SOURCE_KINDS.split(" | ")] == list(SOURCES)
