"""Response headers every answer carries, and limits on what a request may send.

The page runs only the server's own scripts and styles (no inline code, no other origin),
cannot be framed, and leaks nothing in referrers. Requests with a body over `MAX_BODY`
bytes or a URL over `MAX_URL` characters, or for a host the server is not (DNS rebinding: a
page elsewhere that resolves its own name to 127.0.0.1), are refused before any route runs.
HEAD is answered wherever GET is (health checkers send it), without the body.
"""

from __future__ import annotations

import json
import socket

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 16 * 1024
MAX_URL = 4096

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def allowed_hosts(configured: list[str], bound: str | None) -> frozenset[str] | None:
    """The Host header values (without port) the server answers to; None: any."""
    if "*" in configured:
        return None
    hosts = set(LOOPBACK) | {h.lower() for h in configured}
    if bound:
        hosts.add(bound.lower())
        if bound in ("0.0.0.0", "::"):  # noqa: S104 - listening everywhere: this machine
            hosts |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset(hosts)


class SecurityHeaders:
    """ASGI middleware: the headers above on every response, size and host limits on every
    request, HEAD as GET without the body."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None = None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _refusal(scope, self.hosts)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        async def with_headers(message: Message) -> None:
            if head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
                if scope["path"].startswith(("/api/", "/healthz", "/metrics")):
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, _limited(receive), with_headers)


def _refusal(scope: Scope, hosts: frozenset[str] | None) -> tuple[int, str] | None:
    length = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    if length > MAX_URL:
        return 414, "the URL is too long"
    if hosts is not None and _host(scope) not in hosts:
        return 400, "unknown host: add it to web.allowed_hosts to serve it"
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            if not value.isdigit():
                return 400, "bad Content-Length"
            if int(value) > MAX_BODY:
                return 413, f"request bodies are limited to {MAX_BODY} bytes"
    return None


def _host(scope: Scope) -> str:
    """The Host header without its port, lower case ("" if there is none)."""
    value = next((v for n, v in scope.get("headers", []) if n == b"host"), b"")
    host = value.decode("latin-1").strip().lower()
    if host.startswith("["):  # [::1]:8765
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _limited(receive: Receive) -> Receive:
    """Stop reading a body (chunked, without a length) once it passes MAX_BODY."""
    seen = 0

    async def guarded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise BodyTooLarge
        return message

    return guarded


class BodyTooLarge(Exception):
    """A request body without Content-Length grew past MAX_BODY."""


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *HEADERS,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
