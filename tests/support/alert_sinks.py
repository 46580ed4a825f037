"""Real servers that receive alerts: an HTTP webhook, an SMTP server with STARTTLS and AUTH
(aiosmtpd, certificate from a throwaway CA), and AWS SNS (moto in server mode)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class WebhookSink:
    """Collects JSON bodies POSTed to it; `fail_first` answers 500 that many times first."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.attempts += 1
                if sink.attempts <= fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                sink.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/T000/B000/secret"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class _Inbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1/localhost: (ca, cert, key) files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wikistream test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class SmtpSink:
    """aiosmtpd requiring STARTTLS and AUTH (user `alerts`, password `s3cret`)."""

    USER, PASSWORD = "alerts", "s3cret"

    def __init__(self, folder: Path) -> None:
        self.ca, cert, key = make_ca(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.inbox = _Inbox()
        self.port = free_port()

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                self.USER.encode(),
                self.PASSWORD.encode(),
            )
            return AuthResult(success=ok)

        self._controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticate,
            auth_require_tls=True,
        )
        self._controller.start()

    @property
    def messages(self) -> list[Message]:
        return self.inbox.messages

    def close(self) -> None:
        self._controller.stop()


class SnsSink:
    """moto in server mode with a topic whose messages land in an SQS queue we can read."""

    def __init__(self) -> None:
        import boto3
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        kwargs = {"region_name": "us-east-1", "endpoint_url": self.endpoint}
        self._sns = boto3.client("sns", **kwargs)
        self._sqs = boto3.client("sqs", **kwargs)
        self.topic_arn = self._sns.create_topic(Name="wikistream-alerts")["TopicArn"]
        self._queue = self._sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(
            QueueUrl=self._queue, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self._sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def messages(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            batch = self._sqs.receive_message(QueueUrl=self._queue, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return found
            for m in messages:
                found.append(json.loads(m["Body"]))
                self._sqs.delete_message(QueueUrl=self._queue, ReceiptHandle=m["ReceiptHandle"])

    def close(self) -> None:
        self._server.stop()


def iter_alert_texts(sink: WebhookSink) -> Iterator[str]:
    for body in sink.received:
        yield body["text"]


def alerts_to(webhook: WebhookSink, smtp: SmtpSink | None = None) -> dict[str, Any]:
    """The `alerts` settings that send every alert to these sinks (and the log with e-mail)."""
    if smtp is None:
        return {
            "routes": {"critical": ["webhook"], "warning": ["webhook"]},
            "webhook": {"url": webhook.url},
        }
    return {
        "routes": {"critical": ["log", "webhook", "email"], "warning": ["log", "webhook"]},
        "webhook": {"url": webhook.url},
        "email": {
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": SmtpSink.USER,
            "password": SmtpSink.PASSWORD,
            "sender": "ws@example.org",
            "recipients": ["oncall@example.org"],
            "ca_file": smtp.ca,
        },
    }
