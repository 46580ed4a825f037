"""Alert channels: log, webhook (Slack-compatible), e-mail (SMTP + STARTTLS), AWS SNS.

Every channel is a small class with `send(alert)`; `CHANNELS` maps a name to a factory that
builds it from settings. boto3 is imported lazily: only SNS needs it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from wikistream import __version__
from wikistream.exceptions import ConfigError, DeliveryFailed
from wikistream.settings import AlertSettings, EmailSettings, SnsSettings, WebhookSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """Something a person should look at."""

    severity: str  # critical | warning
    title: str
    text: str
    key: str  # identical alerts share a key (de-duplication)
    fields: dict[str, Any] = field(default_factory=dict)

    def as_text(self) -> str:
        return f"[{self.severity.upper()}] {self.title}\n{self.text}"


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


class LogChannel:
    name = "log"

    def send(self, alert: Alert) -> None:
        level = logging.ERROR if alert.severity == "critical" else logging.WARNING
        log.log(level, "%s: %s", alert.title, alert.text, extra={"alert": alert.key})


class WebhookChannel:
    """POSTs `{"text": …}` (what Slack, Mattermost and Teams' Slack mode accept)."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings) -> None:
        self._settings = settings

    def send(self, alert: Alert) -> None:
        body = {
            "text": alert.as_text(),
            "severity": alert.severity,
            "key": alert.key,
            "fields": alert.fields,
        }
        response = httpx.post(
            self._settings.url.get_secret_value(),
            json=body,
            timeout=self._settings.timeout_s,
            headers={"User-Agent": f"wikistream/{__version__}"},
        )
        if response.status_code >= 300:
            raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")


class EmailChannel:
    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings

    def send(self, alert: Alert) -> None:
        s = self._settings
        message = EmailMessage()
        message["Subject"] = f"[wikistream {alert.severity}] {alert.title}"
        message["From"] = s.sender
        message["To"] = ", ".join(s.recipients)
        message.set_content(alert.as_text())
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
            if s.starttls:
                # Verification stays on; a private CA is added, never a bypass.
                cafile = str(s.ca_file) if s.ca_file else None
                smtp.starttls(context=ssl.create_default_context(cafile=cafile))
            if s.username and s.password is not None:
                smtp.login(s.username, s.password.get_secret_value())
            smtp.send_message(message)


class SnsChannel:
    name = "sns"

    def __init__(self, settings: SnsSettings) -> None:
        try:
            import boto3  # optional dependency
        except ImportError:
            raise ConfigError("SNS alerts need boto3: pip install 'wikistream[aws]'") from None
        self._topic = settings.topic_arn
        self._client = boto3.client(
            "sns", region_name=settings.region, endpoint_url=settings.endpoint_url
        )

    def send(self, alert: Alert) -> None:
        self._client.publish(
            TopicArn=self._topic,
            Subject=f"[wikistream {alert.severity}] {alert.title}"[:100],
            Message=alert.as_text(),
            MessageAttributes={
                "severity": {"DataType": "String", "StringValue": alert.severity},
            },
        )


def _webhook(settings: AlertSettings) -> Channel:
    assert settings.webhook is not None  # noqa: S101 - validated with the settings
    return WebhookChannel(settings.webhook)


def _email(settings: AlertSettings) -> Channel:
    assert settings.email is not None  # noqa: S101
    return EmailChannel(settings.email)


def _sns(settings: AlertSettings) -> Channel:
    assert settings.sns is not None  # noqa: S101
    return SnsChannel(settings.sns)


CHANNELS: dict[str, Callable[[AlertSettings], Channel]] = {
    "log": lambda _: LogChannel(),
    "webhook": _webhook,
    "email": _email,
    "sns": _sns,
}
