"""Kafka specs, client configuration and secrets, without a broker; and the commands'
answers when the broker is not there."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port
from wikistream.exceptions import ConfigError
from wikistream.kafka.config import client_config
from wikistream.kafka.spec import KafkaSpec
from wikistream.redaction import redact
from wikistream.settings import KafkaSettings, load_settings
from wikistream.sources.kafka import parse_offsets


def test_a_spec_names_brokers_topic_and_group() -> None:
    spec = KafkaSpec.parse("kafka://b1:9092,b2:9093/recentchange?group=bronze", KafkaSettings())
    assert (spec.bootstrap, spec.topic, spec.group) == ("b1:9092,b2:9093", "recentchange", "bronze")
    assert spec.source_name == "kafka:recentchange"  # any broker address, any group
    defaults = KafkaSettings(bootstrap_servers="b9:9092", group="workers")
    assert KafkaSpec.parse("kafka:///rc", defaults) == KafkaSpec("b9:9092", "rc", "workers")


@pytest.mark.parametrize(("spec", "message"), [
    ("kafka:///rc", "names no broker"),
    ("kafka://host/rc", "HOST:PORT"),
    ("kafka://host:9092/", "topic name"),
    ("kafka://host:9092/bad topic", "topic name"),
    ("kafka://host:9092/rc?partition=1", "unknown option"),
    ("kafka://host:9092/rc?group=", "group= needs a name"),
    ("http://host:9092/rc", "looks like"),
])  # fmt: skip
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaSpec.parse(spec, KafkaSettings())


def test_offsets_for_a_replay() -> None:
    assert parse_offsets("0:100, 3:7") == {0: 100, 3: 7}
    assert parse_offsets("") == {}
    with pytest.raises(ConfigError, match="partition:offset"):
        parse_offsets("0=100")


def test_properties_pass_through_and_secrets_come_last(tmp_path: Path) -> None:
    secrets = tmp_path / "kafka-secrets.toml"
    secrets.write_text('"ssl.key.password" = "keyPassFromFile"\n')
    secrets.chmod(0o600)
    settings = KafkaSettings(
        properties={
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "PLAIN",
            "sasl.password": "visible-in-properties",
        },
        secrets={"sasl.password": "s3cretSasl"},
        secrets_file=secrets,
    )
    config = client_config(settings, "b1:9092", acks="all")
    assert config["bootstrap.servers"] == "b1:9092" and config["acks"] == "all"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.password"] == "s3cretSasl"
    assert config["ssl.key.password"] == "keyPassFromFile"
    secrets.chmod(0o644)
    with pytest.raises(ConfigError, match="kafka.secrets_file .* chmod 600"):
        client_config(settings, "b1:9092")


def test_kafka_secrets_are_registered_for_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIKISTREAM_KAFKA__SECRETS", '{"sasl.password": "envSaslPassword9"}')
    settings = load_settings(kafka={"properties": {"ssl.key.password": "propKeyPassword7"}})
    assert "envSaslPassword9" not in repr(settings)
    shown = redact("auth failed for envSaslPassword9 / propKeyPassword7")
    assert shown == "auth failed for *** / ***"


def test_msk_iam_signs_tokens_from_the_aws_credential_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="region"):
        KafkaSettings(msk_iam=True)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example/secret/key/only/for/signing0")
    config = client_config(KafkaSettings(msk_iam=True, region="eu-west-1"), "b-1.msk:9098")
    assert (config["security.protocol"], config["sasl.mechanism"]) == ("SASL_SSL", "OAUTHBEARER")
    token, expires = config["oauth_cb"]("")
    signed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    assert signed.startswith("https://kafka.eu-west-1.amazonaws.com/")
    assert "X-Amz-Signature=" in signed and "kafka-cluster%3AConnect" in signed
    assert expires > 0


def test_produce_and_run_without_a_broker_fail_at_once_with_a_clear_error(
    tmp_path: Path,
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "WIKISTREAM_WAREHOUSE": str(tmp_path / "wh"),
        "WIKISTREAM_KAFKA__SECRETS": '{"sasl.password": "neverPrintedPw5"}',
    }
    produce = subprocess.run(
        [
            sys.executable,
            "-m",
            "wikistream",
            "produce",
            "--source",
            "synthetic",
            "--to",
            f"kafka://{dead}/rc",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert produce.returncode == 3, produce.stderr
    assert f"cannot reach Kafka at {dead}" in produce.stderr
    assert "neverPrintedPw5" not in produce.stdout + produce.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "wikistream", "produce", "--to", "kafka://nohost/rc"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
