"""Typed settings from defaults, a TOML file (`--config`), `WIKISTREAM_…` env vars and flags.

Precedence, highest first: explicit overrides (command-line flags), environment variables
(`WIKISTREAM_COMMIT__MAX_EVENTS=5000`), the TOML file, the defaults below.
"""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from wikistream import __version__, redaction
from wikistream.exceptions import ConfigError

log = logging.getLogger(__name__)

LIVE_STREAM_URL = "https://stream.wikimedia.org/v2/stream/recentchange"

# The largest wikis by edit volume; `["*"]` accepts every domain.
DEFAULT_DOMAINS = [
    "en.wikipedia.org", "de.wikipedia.org", "fr.wikipedia.org", "es.wikipedia.org",
    "ja.wikipedia.org", "ru.wikipedia.org", "it.wikipedia.org", "zh.wikipedia.org",
    "pt.wikipedia.org", "pl.wikipedia.org", "nl.wikipedia.org", "ar.wikipedia.org",
    "fa.wikipedia.org", "uk.wikipedia.org", "sv.wikipedia.org", "he.wikipedia.org",
    "id.wikipedia.org", "ko.wikipedia.org", "vi.wikipedia.org", "tr.wikipedia.org",
    "www.wikidata.org", "commons.wikimedia.org",
]  # fmt: skip

EVENT_TYPES = ["edit", "new", "log", "categorize", "external"]
# The alert channels settings can route to (alerts/channels.py's registry; a test keeps the
# two equal): settings sit below every package, so the names are spelt here.
ALERT_CHANNELS = ("log", "webhook", "email", "sns")
SOURCE_KINDS = "live | sse:URL | file:PATH | synthetic[:RATE] | kafka://HOST:PORT/TOPIC?group=NAME"


# Catalog properties that are credentials wherever they are given (also when a user puts one
# under `properties`): never logged, never printed.
SECRET_PROPERTIES = frozenset({
    "credential", "token", "s3.secret-access-key", "s3.session-token",
    "client.secret-access-key", "client.session-token", "glue.secret-access-key",
    "glue.session-token", "adls.account-key", "adls.sas-token", "adls.client-secret",
    "gcs.oauth2.token", "rest.secret-access-key", "rest.session-token", "hive.kerberos-keytab",
})  # fmt: skip


class Section(BaseModel):
    """A `[section]` of the settings: a key it does not know is an error, never ignored."""

    model_config = ConfigDict(extra="forbid")


class CatalogSettings(Section):
    """Which Iceberg catalog holds the tables (any PyIceberg catalog type works)."""

    name: str = Field("wikistream", description="Catalog name, as PyIceberg knows it.")
    type: str = Field("sql", description="PyIceberg catalog type: sql, rest, glue, hive…")
    uri: str | None = Field(
        None, description="Catalog URI; default: SQLite file `catalog.db` in the warehouse."
    )
    properties: dict[str, str] = Field(
        default_factory=dict,
        description="PyIceberg catalog properties, passed verbatim (and used for Daft's IO).",
    )
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secret catalog properties (keys, tokens, `credential`): never logged or "
        "printed. Environment: WIKISTREAM_CATALOG__SECRETS as JSON.",
    )
    secrets_file: Path | None = Field(
        None,
        description="A TOML file of secret properties, readable by its owner only (0600).",
    )
    credential: SecretStr | None = Field(
        None, description="Shorthand for secrets.credential (the REST catalog's key:secret)."
    )

    def secret_values(self) -> dict[str, str]:
        """Every secret property, from `secrets`, `secrets_file` and `credential`.

        Raises:
            ConfigError: the secrets file is missing, not TOML, or readable by others.
        """
        values = {k: v.get_secret_value() for k, v in self.secrets.items()}
        if self.secrets_file is not None:
            for key, value in _read_secrets_file(self.secrets_file, "catalog").items():
                values.setdefault(key, value)
        if self.credential is not None:
            values.setdefault("credential", self.credential.get_secret_value())
        return values


def _read_secrets_file(path: Path, section: str) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{section}.secrets_file not found: {path}") from None
    if mode & 0o077:
        raise ConfigError(
            f"{section}.secrets_file {path} can be read by others (mode {mode & 0o777:o}); "
            f"allow its owner only: chmod 600 {path}"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{section}.secrets_file {path} is not valid TOML") from None  # no echo
    return {str(k): str(v) for k, v in data.items()}


class SourceSettings(Section):
    """Where events come from and how the SSE client behaves."""

    spec: str = Field(
        "live",
        description=SOURCE_KINDS,
    )
    url: str = Field(LIVE_STREAM_URL, description="EventStreams URL used by `live`.")
    user_agent: str = Field(
        f"wikistream/{__version__} (https://github.com/wikistream/wikistream)",
        description="Sent on every request; Wikimedia answers 403 without a descriptive one.",
    )
    since: str | None = Field(
        None, description="First start only: ms epoch or ISO-8601 time to start from."
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="Seconds to open a connection.")
    read_timeout_s: float = Field(
        30.0, description="A connection silent for this long (no event, no heartbeat) is dead."
    )
    backoff_initial_s: float = Field(
        1.0, gt=0, description="First wait before reconnecting; doubles per failure (jitter)."
    )
    backoff_max_s: float = Field(60.0, gt=0, description="Longest wait between reconnects.")
    initial_connect_attempts: int = Field(
        3, ge=1, description="Give up if the very first connection fails this many times."
    )
    chunk_events: int = Field(
        4096, ge=1, description="Records per batch handed over by file/synthetic sources."
    )
    max_record_bytes: int = Field(
        1 << 20,
        ge=1024,
        le=64 << 20,
        description="A record (an SSE event, a file line) longer than this is skipped to the "
        "next record and quarantined as too_large with its first bytes: memory stays bounded "
        "whatever a server or a file sends.",
    )


# librdkafka properties that are credentials wherever they are given: never logged or printed.
KAFKA_SECRET_PROPERTIES = frozenset({
    "sasl.password", "ssl.key.password", "ssl.key.pem", "ssl.keystore.password",
    "sasl.oauthbearer.client.secret", "ssl_key", "sasl.oauthbearer.config",
})  # fmt: skip


class KafkaSettings(Section):
    """Kafka clients: `produce --to kafka://…` and bronze workers (`run --source kafka://…`)."""

    bootstrap_servers: str | None = Field(
        None, description="host:port[,host:port…], used when a kafka:// spec names no host."
    )
    group: str = Field("wikistream", description="Consumer group when a spec names none.")
    start: str = Field(
        "earliest",
        pattern="^(earliest|latest)$",
        description="Where a partition bronze holds no position for starts: earliest | latest.",
    )
    dlq_suffix: str = Field(".dlq", description="Dead-letter topic: the topic + this.")
    positions_suffix: str = Field(
        ".positions", description="The producer's source positions: the topic + this."
    )
    properties: dict[str, str] = Field(
        default_factory=dict,
        description="librdkafka properties passed verbatim (security.protocol, "
        "sasl.mechanism, ssl.ca.location…).",
    )
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secret librdkafka properties (sasl.password, ssl.key.password…): never "
        "logged or printed. Environment: WIKISTREAM_KAFKA__SECRETS as JSON.",
    )
    secrets_file: Path | None = Field(
        None, description="A TOML file of secret properties, readable by its owner only (0600)."
    )
    msk_iam: bool = Field(
        False, description="AWS MSK IAM auth (SASL/OAUTHBEARER signed tokens); extra `msk`."
    )
    region: str | None = Field(None, description="AWS region of the MSK cluster (msk_iam).")

    def secret_values(self) -> dict[str, str]:
        """Every secret property, from `secrets` and `secrets_file`."""
        values = {k: v.get_secret_value() for k, v in self.secrets.items()}
        if self.secrets_file is not None:
            for key, value in _read_secrets_file(self.secrets_file, "kafka").items():
                values.setdefault(key, value)
        return values

    @model_validator(mode="after")
    def _msk_needs_region(self) -> KafkaSettings:
        if self.msk_iam and not self.region:
            raise ValueError("kafka.msk_iam needs kafka.region (the MSK cluster's AWS region)")
        return self


class FilterSettings(Section):
    """Which valid events are kept; canary events are always dropped."""

    domains: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DOMAINS),
        description="Allowed `meta.domain` values; glob patterns allowed; `*` for all.",
    )
    types: list[str] = Field(
        default_factory=lambda: list(EVENT_TYPES), description="Event types kept."
    )

    @field_validator("domains")
    @classmethod
    def _some_domains(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('an empty list keeps no event at all; use ["*"] for every domain')
        return value

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"an empty list keeps no event at all; known types: {EVENT_TYPES}")
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {EVENT_TYPES}")
        return value


class CommitSettings(Section):
    """When bronze commits: every `max_events` events or `max_seconds`, whichever first."""

    max_events: int = Field(
        50_000, ge=1, description="Commit once this many records are read (memory bound)."
    )
    max_seconds: float = Field(
        2.0, gt=0, description="Commit at least this often while records come in."
    )
    retries: int = Field(8, ge=0, description="Retries of a commit that lost a race.")


class DedupeSettings(Section):
    """How far back a resent event is recognised as a duplicate."""

    window_s: float = Field(
        3600.0,
        gt=0,
        description="Ids committed this recently are remembered (and reloaded "
        "at a restart); a resend within it is dropped.",
    )
    max_ids: int = Field(
        500_000, ge=1_000, description="At most this many ids are remembered (oldest first out)."
    )


class SyntheticSettings(Section):
    """The deterministic generator behind `synthetic[:RATE]`."""

    seed: int = Field(42, description="The same seed gives the same events.")
    start: str = Field(
        "now",
        description="`now`: events carry the time they are generated (live-like); an ISO-8601 "
        "time makes event times deterministic too (event i at start + i x 20 ms).",
    )


class EngineSettings(Section):
    """Where silver and gold transforms run (Daft)."""

    runner: str = Field("native", description="native (this process) or ray")
    ray_address: str | None = Field(None, description="Ray cluster address; None: local Ray.")

    @field_validator("runner")
    @classmethod
    def _known_runner(cls, value: str) -> str:
        if value not in ("native", "ray"):
            raise ValueError("engine.runner must be 'native' or 'ray'")
        return value


class SilverSettings(Section):
    """Silver rules: flags thresholds and the language -> region map."""

    large_deletion_bytes: int = Field(-5000, description="length_delta below this: large deletion")
    large_addition_bytes: int = Field(50_000, description="length_delta above this: large addition")
    regions: dict[str, str] = Field(
        default_factory=dict, description="Extra or overriding language -> region entries."
    )


class RiskSettings(Section):
    """Risk score thresholds (docs/layers.md explains every component)."""

    velocity_edits_per_hour: float = Field(50, gt=0, description="Edits/hour for the full 40.")
    large_deletions: float = Field(3, gt=0, description="Large deletions for the full 30.")
    anonymous_share: float = Field(0.5, gt=0, le=1, description="Share for the full 20.")
    domains: int = Field(3, ge=2, description="Distinct wikis in an hour for the full 10.")
    reverted_by_others: float = Field(2, gt=0, description="Reverts suffered for the full 20.")
    medium_at: float = Field(30, ge=0, le=100, description="Scores from here on are MEDIUM.")
    high_at: float = Field(60, ge=0, le=100, description="Scores from here on are HIGH.")


class ProcessSettings(Section):
    """How often `run` refreshes silver and gold while bronze ingests."""

    interval_s: float = Field(
        2.0, gt=0, description="Silver/gold cycle period inside `run` and `demo`."
    )
    lease_ttl_s: float = Field(
        15.0,
        ge=1,
        description="Of all `run` processes of a warehouse one processes silver and gold: "
        "the holder of a lease renewed every third of this; another takes over this long "
        "after the holder stops renewing.",
    )
    max_rows_per_chunk: int = Field(
        250_000,
        ge=1_000,
        description="A rebuild (full refresh, replay, catch-up after a backfill) goes in "
        "chunks of whole days, or hour slices of a larger day, of about this many rows: "
        "the processor's memory follows this, not the warehouse (docs/scale-out.md).",
    )


class SupervisorSettings(Section):
    """How `wikistream run` keeps its components alive."""

    stall_s: float = Field(
        120.0, gt=0, description="Restart ingestion when no record was read for this long."
    )
    backoff_initial_s: float = Field(
        1.0, gt=0, description="First wait before a restart; doubles per failure in a row."
    )
    backoff_max_s: float = Field(60.0, gt=0, description="Longest wait before a restart.")
    alert_after_restarts: int = Field(3, ge=1, description="Alert once restarts reach this.")
    poison_after: int = Field(
        3,
        ge=1,
        description="Ingestion failing this many times in a row at the same stored position, "
        "committing nothing, is a poison input: alert, and isolate the records that fail.",
    )
    heartbeat_s: float = Field(5.0, gt=0, description="How often the run state is written.")


class MaintenanceSettings(Section):
    """Compaction, snapshot expiry and orphan removal (`wikistream maintain`, and in `run`)."""

    interval_s: float = Field(300.0, gt=0, description="How often `run` maintains tables.")
    target_file_mb: int = Field(128, ge=1, description="Compacted files aim at this size.")
    min_small_files: int = Field(
        5, ge=2, description="Compact a partition once it has this many smaller files."
    )
    snapshot_retention_h: float = Field(48.0, gt=0, description="Expire snapshots older than.")
    keep_last_snapshots: int = Field(20, ge=1, description="Always keep the newest N.")
    max_snapshots: int = Field(
        500,
        ge=1,
        description="Also expire beyond the newest N: commit time grows with the "
        "snapshot count (PyIceberg rewrites all of them in every metadata file).",
    )
    remove_orphans: bool = Field(
        True,
        description="Delete unreferenced files. Off where the store does it itself and "
        "refuses listings (an AWS S3 Tables bucket: its unreferenced file removal).",
    )
    orphan_age_h: float = Field(
        72.0, ge=0, description="Delete unreferenced files only when older than this."
    )


class QualitySettings(Section):
    """Quality gates between the layers (docs/quality.md)."""

    enabled: bool = Field(True, description="Run the gates; off only for experiments.")
    checks_file: Path | None = Field(
        None, description="TOML checks file; default: the shipped `quality/checks.toml`."
    )


class WebhookSettings(Section):
    """A Slack-compatible incoming webhook (JSON body with `text`)."""

    url: SecretStr = Field(description="Webhook URL; it usually embeds a token, so a secret.")
    timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the webhook.")


class EmailSettings(Section):
    """SMTP delivery; STARTTLS unless `starttls = false` (a local relay)."""

    host: str = Field(description="SMTP server.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587: submission).")
    starttls: bool = Field(True, description="Upgrade to TLS (verified); off only for a relay.")
    username: str | None = Field(None, description="SMTP login, if the server wants one.")
    password: SecretStr | None = Field(None, description="SMTP password (a secret).")
    sender: str = Field(description="From: address.")
    recipients: list[str] = Field(min_length=1, description="To: addresses.")
    ca_file: Path | None = Field(
        None, description="CA bundle to verify the server with instead of the system CAs."
    )
    timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the SMTP server.")


class SnsSettings(Section):
    """AWS SNS (needs the `aws` extra: boto3). Credentials come from the usual AWS chain."""

    topic_arn: str = Field(description="The SNS topic alerts are published to.")
    region: str = Field("us-east-1", description="The topic's AWS region.")
    endpoint_url: str | None = Field(None, description="Another endpoint, e.g. a local moto.")


class AlertSettings(Section):
    """Where alerts go. `routes` maps a severity to channel names."""

    routes: dict[str, list[str]] = Field(
        default_factory=lambda: {"critical": ["log"], "warning": ["log"]},
        description="critical (failed error checks) and warning (failed warn checks).",
    )
    dedupe_window_s: float = Field(
        3600.0, ge=0, description="The same alert is sent at most once per window."
    )
    webhook: WebhookSettings | None = None
    email: EmailSettings | None = None
    sns: SnsSettings | None = None

    @field_validator("routes")
    @classmethod
    def _known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - {"critical", "warning"})
        if unknown:
            raise ValueError(f"unknown severities {unknown}; use critical and warning")
        channels = sorted({c for names in value.values() for c in names} - set(ALERT_CHANNELS))
        if channels:
            known = ", ".join(ALERT_CHANNELS)
            raise ValueError(f"unknown alert channels {channels}; known: {known}")
        return value

    @model_validator(mode="after")
    def _configured(self) -> AlertSettings:
        routed = {c for names in self.routes.values() for c in names} - {"log"}
        missing = sorted(c for c in routed if getattr(self, c) is None)
        if missing:
            raise ValueError(f"alerts are routed to {missing} but [alerts.{missing[0]}] is not set")
        return self


class WebSettings(Section):
    """`wikistream serve` and `run --serve`: the dashboard, the JSON API and /metrics."""

    host: str = Field("127.0.0.1", description="Address to listen on; loopback unless told.")
    port: int = Field(8765, ge=0, le=65535, description="Port to listen on (0: any free one).")
    cache_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="How long an answer is reused: any number of open pages cost the "
        "lakehouse one read per view per interval (0: never reused, for benchmarks).",
    )
    refresh_s: float = Field(5.0, ge=1, le=3600, description="How often the page updates.")
    admin_token: SecretStr | None = Field(
        None,
        description="Enables the few changing endpoints (releasing a held batch), which "
        "then need it as a bearer token; unset, they are off.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the server answers to besides the loopback names and the "
        "address it listens on (on 0.0.0.0: also this machine's name); others get 400, so a "
        'page elsewhere cannot reach it through DNS rebinding. ["*"]: any (behind a proxy '
        "that checks the host).",
    )


class LiftWingSettings(Section):
    """Wikimedia's revert-risk model beside WikiStream's own (docs/risk.md): off by default.

    Wikimedia asks API clients for a User-Agent that says who they are and how to reach
    them, and limits anonymous clients to 50,000 requests an hour per IP address.
    """

    enabled: bool = Field(False, description="Score edits of `wikis` with LiftWing in `run`.")
    url: str = Field(
        "https://api.wikimedia.org/service/lw/inference/v1/models/"
        "revertrisk-language-agnostic:predict",
        description="The model's predict endpoint (https; http only to a loopback stand-in).",
    )
    wikis: list[str] = Field(
        default_factory=lambda: ["enwiki"], description="Wiki ids (`enwiki`) to score."
    )
    rate_per_s: float = Field(5.0, gt=0, description="Requests per second at most.")
    concurrency: int = Field(2, ge=1, le=16, description="Requests in flight at most.")
    queue_size: int = Field(
        10_000, ge=1, description="Edits waiting to be scored; beyond it they are dropped."
    )
    timeout_s: float = Field(10.0, gt=0, description="One request's time limit.")
    interval_s: float = Field(
        10.0,
        gt=0,
        description="How often new silver edits are queued and scores committed (each round "
        "is a read and a commit beside the processing loop's).",
    )
    attempts: int = Field(3, ge=1, description="Tries per edit (429 and 5xx are retried).")
    user_agent: str = Field(
        "WikiStream/0.1 (https://github.com/wikistream/wikistream; set liftwing.user_agent)",
        description="Who calls: your tool's name and a contact, as Wikimedia asks.",
    )
    token: SecretStr | None = Field(None, description="An API token (higher limits); a secret.")

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        loopback = value.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        if not value.startswith("https://") and not loopback:
            raise ValueError("liftwing.url must be https:// (http only to 127.0.0.1)")
        return value


class Settings(BaseSettings):
    """Everything WikiStream can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="WIKISTREAM_", env_nested_delimiter="__", extra="forbid"
    )

    warehouse: str = Field(
        "warehouse",
        description="WikiStream's own documents (reports, manifests, run state) and the sql "
        "catalog's tables: a local path or a URI (s3://bucket/prefix, gs://…, abfss://…).",
    )
    catalog: CatalogSettings = Field(default_factory=lambda: CatalogSettings())
    source: SourceSettings = Field(default_factory=lambda: SourceSettings())
    filters: FilterSettings = Field(default_factory=lambda: FilterSettings())
    commit: CommitSettings = Field(default_factory=lambda: CommitSettings())
    dedupe: DedupeSettings = Field(default_factory=lambda: DedupeSettings())
    synthetic: SyntheticSettings = Field(default_factory=lambda: SyntheticSettings())
    engine: EngineSettings = Field(default_factory=lambda: EngineSettings())
    silver: SilverSettings = Field(default_factory=lambda: SilverSettings())
    risk: RiskSettings = Field(default_factory=lambda: RiskSettings())
    process: ProcessSettings = Field(default_factory=lambda: ProcessSettings())
    dq: QualitySettings = Field(default_factory=lambda: QualitySettings())
    maintenance: MaintenanceSettings = Field(default_factory=lambda: MaintenanceSettings())
    supervisor: SupervisorSettings = Field(default_factory=lambda: SupervisorSettings())
    alerts: AlertSettings = Field(default_factory=lambda: AlertSettings())
    kafka: KafkaSettings = Field(default_factory=lambda: KafkaSettings())
    web: WebSettings = Field(default_factory=lambda: WebSettings())
    liftwing: LiftWingSettings = Field(default_factory=lambda: LiftWingSettings())

    @field_validator("warehouse", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value

    @property
    def remote_warehouse(self) -> bool:
        """Whether the warehouse is on object storage (a URI other than file://)."""
        return "://" in self.warehouse and not self.warehouse.startswith("file://")

    @property
    def warehouse_uri(self) -> str:
        """The warehouse as a URI: local paths become absolute file:// URIs."""
        if self.remote_warehouse:
            return self.warehouse.rstrip("/")
        local = self.warehouse.removeprefix("file://")
        return Path(local).expanduser().resolve().as_uri()

    @property
    def warehouse_shown(self) -> str:
        """The warehouse as a user reads it: a local folder or an object-store URI."""
        path = self.warehouse_path
        return str(path) if path is not None else self.warehouse_uri

    @property
    def warehouse_path(self) -> Path | None:
        """The local warehouse folder (None on object storage)."""
        if self.remote_warehouse:
            return None
        return Path(self.warehouse.removeprefix("file://")).expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from an optional TOML file, the environment and explicit overrides.

    Raises:
        ConfigError: the file is missing or malformed, or a value is invalid.
    """
    file_values: dict[str, Any] = {}
    if config is not None:
        try:
            file_values = tomllib.loads(config.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {config}") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {config} is a folder; name a TOML file") from None
        except PermissionError:
            raise ConfigError(f"config file {config} cannot be read: permission denied") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {config} is not valid TOML: {exc}") from None
    explicit = {key: value for key, value in overrides.items() if value is not None}
    _refuse_unknown_environment(os.environ)
    try:
        # The environment sits between the file and explicit overrides.
        env_only = Settings.model_validate({})
        env_values = env_only.model_dump(exclude_unset=True)
        for variable, setting in _shadowed(file_values, env_values):
            log.warning(
                "an environment variable overrides the config file",
                extra={"variable": variable, "setting": setting, "file": str(config)},
            )
        merged = _deep_merge(_deep_merge(file_values, env_values), explicit)
        settings = Settings.model_validate(merged)
    except ValueError as exc:
        raise ConfigError(_first_error(exc)) from None
    redaction.register(*_secrets_of(settings))
    return settings


def _secrets_of(settings: Settings) -> list[str]:
    """Every secret the settings hold, to be blanked out of all output."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(settings)
    catalog = settings.catalog
    found += [v for k, v in catalog.properties.items() if k in SECRET_PROPERTIES]
    found += list(catalog.secret_values().values())
    kafka = settings.kafka
    found += [v for k, v in kafka.properties.items() if k in KAFKA_SECRET_PROPERTIES]
    found += list(kafka.secret_values().values())
    if catalog.uri and "@" in catalog.uri:  # scheme://user:password@host
        credentials = catalog.uri.partition("://")[2].rsplit("@", 1)[0]
        found.append(credentials.partition(":")[2])
    return found


def environment_overrides(config: Path) -> list[tuple[str, str]]:
    """(variable, setting) for each setting the TOML file sets that a `WIKISTREAM_…`
    variable overrides (the environment wins: sometimes not what a user meant)."""
    try:
        file_values = tomllib.loads(config.read_text(encoding="utf-8"))
        env_values = Settings.model_validate({}).model_dump(exclude_unset=True)
    except (OSError, ValueError):
        return []  # load_settings says what is wrong with it
    return _shadowed(file_values, env_values)


def _shadowed(
    file_values: dict[str, Any], env_values: dict[str, Any], prefix: str = ""
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for key, value in env_values.items():
        if key not in file_values:
            continue
        name = f"{prefix}{key}"
        if (
            isinstance(value, dict)
            and isinstance(file_values[key], dict)
            and _section_of(_field(name).annotation) is not None
        ):
            found += _shadowed(file_values[key], value, f"{name}.")
        elif file_values[key] != value:
            found.append((environment_name(name), name))
    return found


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        location = tuple(str(part) for part in first.get("loc", ()))
        where = ".".join(location)
        if first.get("type") == "extra_forbidden":
            return f"unknown setting {where}{_did_you_mean(where, setting_names())}"
        return f"invalid setting {where or '(root)'}: {first.get('msg', exc)}"
    return f"invalid settings: {exc}"


# Environment variables with the prefix that are not settings but still WikiStream's own.
OTHER_VARIABLES = frozenset({"WIKISTREAM_CONFIG"})  # the CLI's --config


def setting_names(model: type[BaseModel] | None = None, prefix: str = "") -> list[str]:
    """Every setting as a dotted name (`commit.max_events`), sections and leaves."""
    names: list[str] = []
    for name, field in (model or Settings).model_fields.items():
        dotted = f"{prefix}{name}"
        names.append(dotted)
        section = _section_of(field.annotation)
        if section is not None:
            names += setting_names(section, f"{dotted}.")
    return names


def environment_name(setting: str) -> str:
    """`commit.max_events` -> `WIKISTREAM_COMMIT__MAX_EVENTS`."""
    return "WIKISTREAM_" + setting.replace(".", "__").upper()


def _section_of(annotation: Any) -> type[BaseModel] | None:
    """The settings section a field holds (also when optional), else None."""
    union = get_origin(annotation) in (Union, types.UnionType)
    for candidate in get_args(annotation) if union else (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _free_form(setting: str) -> bool:
    """Settings that are tables of any keys (catalog.properties…): any subkey is valid."""
    model: type[BaseModel] | None = Settings
    field = None
    for part in setting.split("."):
        if model is None or part not in model.model_fields:
            return False
        field = model.model_fields[part]
        model = _section_of(field.annotation)
    return field is not None and get_origin(field.annotation) is dict


def _refuse_unknown_environment(environ: Mapping[str, str]) -> None:
    """A `WIKISTREAM_…` variable that names no setting is a typo: say so, with the closest
    valid name, instead of ignoring it (and leaving, say, alerts silently off)."""
    known = {environment_name(name): name for name in setting_names()}
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith("WIKISTREAM_") or upper in known or upper in OTHER_VARIABLES:
            continue
        parent = next((known[v] for v in _prefixes(upper) if v in known), None)
        if parent is not None and _free_form(parent):
            continue  # e.g. WIKISTREAM_CATALOG__PROPERTIES__S3.ENDPOINT
        hint = _did_you_mean(upper, [*known, *OTHER_VARIABLES])
        raise ConfigError(f"unknown environment variable {variable}{hint}")


def _prefixes(variable: str) -> Iterator[str]:
    parts = variable.split("__")
    for end in range(len(parts) - 1, 0, -1):
        yield "__".join(parts[:end])


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def reference_markdown() -> str:
    """docs/configuration.md's reference table: every setting, its environment variable,
    default and meaning (generated from this module; a test keeps the document equal)."""
    lines = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for name in setting_names():
        field = _field(name)
        if _section_of(field.annotation) is not None:
            continue
        default = "(required)" if field.is_required() else _shown_default(field)
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | `{environment_name(name)}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


def _field(setting: str) -> Any:
    model: type[BaseModel] | None = Settings
    field = None
    for part in setting.split("."):
        assert model is not None  # noqa: S101 - names come from setting_names()
        field = model.model_fields[part]
        model = _section_of(field.annotation)
    return field


def _shown_default(field: Any) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, list) and len(value) > 4:
        return f"{len(value)} entries"
    if value is None or value == {} or value == []:
        return "—" if value is None else f"`{value!r}`"
    return f"`{value}`"
