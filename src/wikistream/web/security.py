"""Response headers every answer carries, and limits on what a request may send.

The page runs only the server's own scripts and styles (no inline code, no other origin),
cannot be framed, and leaks nothing in referrers. Requests with a body over `MAX_BODY`
bytes or a URL over `MAX_URL` characters are refused before any route runs.
"""

from __future__ import annotations

import json

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


class SecurityHeaders:
    """ASGI middleware: the headers above on every response, size limits on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _refusal(scope)
        if refusal is not None:
            await _answer(send, *refusal)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
                if scope["path"].startswith(("/api/", "/healthz", "/metrics")):
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, _limited(receive), with_headers)


def _refusal(scope: Scope) -> tuple[int, str] | None:
    length = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    if length > MAX_URL:
        return 414, "the URL is too long"
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            if not value.isdigit():
                return 400, "bad Content-Length"
            if int(value) > MAX_BODY:
                return 413, f"request bodies are limited to {MAX_BODY} bytes"
    return None


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
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *HEADERS]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
