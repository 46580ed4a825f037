"""Alert channels against real servers: a webhook, SMTP with STARTTLS + AUTH, SNS (moto)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.alert_sinks import SmtpSink, SnsSink, WebhookSink, free_port
from wikistream.alerts.channels import Alert
from wikistream.alerts.router import AlertRouter
from wikistream.settings import AlertSettings


def _alert(key: str = "dq/silver/silver.events/user_complete", severity: str = "critical") -> Alert:
    return Alert(
        severity=severity,
        title="silver.events: user_complete failed",
        text="70% of users present, expected >= 95%",
        key=key,
        fields={"run_id": "silver-1"},
    )


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    yield sink
    sink.close()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path)
    yield sink
    sink.close()


def _email(smtp: SmtpSink, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": smtp.port,
        "username": SmtpSink.USER,
        "password": SmtpSink.PASSWORD,
        "sender": "wikistream@example.org",
        "recipients": ["oncall@example.org"],
        "ca_file": smtp.ca,
        "timeout_s": 5,
        **extra,
    }


def test_severity_routing_sends_each_alert_to_its_channels_once(
    webhook: WebhookSink, smtp: SmtpSink
) -> None:
    settings = AlertSettings(
        routes={"critical": ["log", "email"], "warning": ["webhook"]},
        webhook={"url": webhook.url},
        email=_email(smtp),
    )
    router = AlertRouter(settings)
    assert router.submit(_alert())
    assert router.submit(_alert("dq/silver/silver.events/bot_share_drift", "warning"))
    assert not router.submit(_alert())  # same key within the window: not again
    router.close()
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["Subject"] == "[wikistream critical] silver.events: user_complete failed"
    assert message["To"] == "oncall@example.org"
    assert "expected >= 95%" in message.get_payload()
    assert [b["severity"] for b in webhook.received] == ["warning"]
    assert webhook.received[0]["text"].startswith("[WARNING] silver.events")


def test_tls_verification_stays_on(smtp: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    # Without the private CA the server certificate cannot be verified: nothing is sent.
    settings = AlertSettings(routes={"critical": ["email"]}, email=_email(smtp, ca_file=None))
    router = AlertRouter(settings)
    router.submit(_alert())
    router.close()
    assert smtp.messages == [] and router.failed == 1
    errors = [getattr(r, "error", None) for r in caplog.records]
    assert "SSLCertVerificationError" in errors


def test_a_broken_channel_never_stops_the_others_and_never_leaks_its_secret(
    smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/hooks/T000/B000/do-not-log-me"
    settings = AlertSettings(
        routes={"critical": ["webhook", "email"]},
        webhook={"url": dead_url, "timeout_s": 1},
        email=_email(smtp),
    )
    router = AlertRouter(settings)
    with caplog.at_level(logging.DEBUG):
        router.submit(_alert())
        router.close()
    assert len(smtp.messages) == 1
    assert router.failed == 1
    assert "do-not-log-me" not in caplog.text and SmtpSink.PASSWORD not in caplog.text


def test_a_failing_webhook_is_retried_once() -> None:
    sink = WebhookSink(fail_first=1)
    try:
        router = AlertRouter(
            AlertSettings(routes={"critical": ["webhook"]}, webhook={"url": sink.url})
        )
        router.submit(_alert())
        router.close()
        assert sink.attempts == 2 and len(sink.received) == 1
    finally:
        sink.close()


def test_alerts_sent_before_a_restart_are_not_repeated(webhook: WebhookSink) -> None:
    import time

    settings = AlertSettings(routes={"critical": ["webhook"]}, webhook={"url": webhook.url})
    router = AlertRouter(settings, already_sent=[(_alert().key, time.time() - 60)])
    assert not router.submit(_alert())
    router.close()
    window_over = AlertRouter(settings, already_sent=[(_alert().key, time.time() - 7200)])
    assert window_over.submit(_alert())
    window_over.close()
    assert len(webhook.received) == 1


@pytest.mark.integration
def test_sns_publishes_to_a_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    sns = SnsSink()
    try:
        settings = AlertSettings(
            routes={"critical": ["sns"]},
            sns={"topic_arn": sns.topic_arn, "endpoint_url": sns.endpoint},
        )
        router = AlertRouter(settings)
        router.submit(_alert())
        router.submit(_alert())  # de-duplicated
        router.close()
        messages = sns.messages()
        assert len(messages) == 1
        assert messages[0]["Subject"] == "[wikistream critical] silver.events: user_complete failed"
        assert "expected >= 95%" in messages[0]["Message"]
    finally:
        sns.close()


def test_a_webhook_that_keeps_answering_500_is_logged_with_its_status_not_its_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = WebhookSink(fail_first=10)
    try:
        router = AlertRouter(
            AlertSettings(routes={"critical": ["webhook"]}, webhook={"url": sink.url})
        )
        with caplog.at_level(logging.WARNING):
            router.submit(_alert())
            router.close()
    finally:
        sink.close()
    errors = [getattr(r, "error", "") for r in caplog.records if getattr(r, "channel", "")]
    assert errors == ["webhook answered HTTP 500"]
    assert "secret" not in caplog.text


@pytest.mark.parametrize("failing", [False, True])
def test_alerts_test_sends_one_alert_through_every_configured_channel(
    tmp_path: Path, failing: bool
) -> None:
    import json
    import subprocess
    import sys

    sink = WebhookSink(fail_first=10 if failing else 0)
    config = tmp_path / "alerts.toml"
    config.write_text(
        f'[alerts]\nroutes = {{ critical = ["log", "webhook"] }}\n'
        f'[alerts.webhook]\nurl = "{sink.url}"\n'
    )
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "wikistream",
                "--config",
                str(config),
                "alerts",
                "test",
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        sink.close()
    report = json.loads(result.stdout)
    assert report["log"]["delivered"] and report["log"]["routed"] == ["critical"]
    assert report["webhook"]["routed"] == ["critical"]
    if failing:
        assert result.returncode == 1
        assert report["webhook"] == {
            "delivered": False,
            "error": "webhook answered HTTP 500",
            "routed": ["critical"],
        }
    else:
        assert result.returncode == 0 and [b["text"] for b in sink.received] == [
            "[WARNING] wikistream test alert\nA test sent by `wikistream alerts test`: this "
            "channel works."
        ]
    assert "secret" not in result.stdout + result.stderr  # the URL's token never shown
