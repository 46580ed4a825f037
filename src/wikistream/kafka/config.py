"""librdkafka configuration from settings: pass-through properties, secrets, MSK IAM.

librdkafka's own log lines go to the `wikistream.kafka.client` logger, so they are formatted
and redacted like every other line, and never reach stderr on their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from wikistream.exceptions import ConfigError
from wikistream.settings import KafkaSettings

log = logging.getLogger(__name__)
client_log = logging.getLogger("wikistream.kafka.client")


def kafka_module() -> ModuleType:
    """`confluent_kafka`, or a ConfigError naming the extra to install."""
    try:
        import confluent_kafka  # optional dependency
    except ImportError:
        raise ConfigError("Kafka needs confluent-kafka: pip install 'wikistream[kafka]'") from None
    return confluent_kafka


def client_config(settings: KafkaSettings, bootstrap: str, **defaults: Any) -> dict[str, Any]:
    """A librdkafka configuration: `defaults` < `kafka.properties` < secrets; MSK IAM on top."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, **defaults, **settings.properties}
    config.update(settings.secret_values())
    config["logger"] = client_log
    config["error_cb"] = _log_error
    if settings.msk_iam:
        assert settings.region is not None  # noqa: S101 - the settings validator ensures it
        config.setdefault("security.protocol", "SASL_SSL")
        config["sasl.mechanism"] = "OAUTHBEARER"
        config["oauth_cb"] = msk_token_callback(settings.region)
    return config


def msk_token_callback(region: str) -> Callable[[str], tuple[str, float]]:
    """librdkafka's OAUTHBEARER callback: a SigV4-signed MSK IAM token from the AWS
    credential chain (role, profile or environment), refreshed before it expires."""
    try:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
    except ImportError:
        raise ConfigError(
            "kafka.msk_iam needs aws-msk-iam-sasl-signer-python: pip install 'wikistream[msk]'"
        ) from None

    def token(_config: str) -> tuple[str, float]:
        value, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return value, expiry_ms / 1000

    return token


def _log_error(error: Any) -> None:
    # Connection losses are retried by librdkafka itself; a fatal error is raised by the
    # next call on the client, where the caller decides.
    log.warning("kafka client error", extra={"error": str(error)})
