"""A local server that speaks the EventStreams protocol, and misbehaves on request.

Ids look like Wikimedia's (`[{"topic": …, "partition": 0, "offset": N}]`); a client that sends
`Last-Event-ID` resumes after that offset, one that sends `?since=ISO` starts at the first
event from then. Behaviours are scripted per test: drop the
connection every few events, answer 429/503 with Retry-After, send only heartbeats, send
garbage frames, resend events already delivered.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TOPIC = "eqiad.mediawiki.recentchange"


def event_id_line(offset: int) -> str:
    return json.dumps([{"topic": TOPIC, "partition": 0, "offset": offset}])


@dataclass
class Script:
    """How the server behaves; every field is optional."""

    drop_every: int | None = None  # close the connection after this many events
    errors: list[tuple[int, str | None]] = field(default_factory=list)  # (status, Retry-After)
    heartbeat_only_connections: int = 0  # first N connections send only ':' comments
    heartbeat_interval_s: float = 0.05
    silent_connections: int = 0  # first N connections send ':ok' and then nothing at all
    silence_s: float = 3.0
    garbage_every: int | None = None  # a garbage frame after every N events
    resend_on_reconnect: int = 0  # replay this many events before the requested one
    hold_open_at_end_s: float = 30.0  # heartbeat this long once every event was sent
    event_delay_s: float = 0.0
    flood_after: int | None = None  # after this event, one event of `flood_bytes` bytes
    flood_bytes: int = 0  # sent without a newline until its end, 1 MiB at a time


@dataclass
class Observed:
    """What the server saw, for assertions."""

    requests: list[dict[str, str | None]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    completed: threading.Event = field(default_factory=threading.Event)  # last event sent
    lock: threading.Lock = field(default_factory=threading.Lock)


class EventStreamsServer:
    """Serves `events` (raw JSON bytes) at http://127.0.0.1:<port>/v2/stream/recentchange."""

    def __init__(self, events: Sequence[bytes], script: Script | None = None) -> None:
        self.events = list(events)
        self.script = script or Script()
        self.observed = Observed()
        self._errors = list(self.script.errors)
        # How many of the next connections still get each special treatment.
        self._special = {
            "silent": self.script.silent_connections,
            "heartbeat_only": self.script.heartbeat_only_connections,
        }
        self._stopping = threading.Event()
        handler = self._handler_class()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v2/stream/recentchange"

    def __enter__(self) -> EventStreamsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_error(self) -> tuple[int, str | None] | None:
        with self.observed.lock:
            return self._errors.pop(0) if self._errors else None

    def _take(self, treatment: str) -> bool:
        with self.observed.lock:
            if self._special[treatment] > 0:
                self._special[treatment] -= 1
                return True
            return False

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # http.server's naming
                observed = server.observed
                query = parse_qs(urlparse(self.path).query)
                with observed.lock:
                    observed.requests.append(
                        {
                            "last_event_id": self.headers.get("Last-Event-ID"),
                            "user_agent": self.headers.get("User-Agent"),
                            "since": query.get("since", [None])[0],
                        }
                    )
                    observed.active += 1
                    observed.max_active = max(observed.max_active, observed.active)
                try:
                    self._serve()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with observed.lock:
                        observed.active -= 1

            def _serve(self) -> None:
                error = server._next_error()
                if error is not None:
                    status, retry_after = error
                    self.send_response(status)
                    if retry_after is not None:
                        self.send_header("Retry-After", retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Connection", "close")
                self.end_headers()
                self._write(":ok\n\n")
                script = server.script
                if server._take("silent"):
                    server._stopping.wait(script.silence_s)
                    return
                if server._take("heartbeat_only"):
                    for _ in range(20):
                        self._write(":\n")
                        time.sleep(script.heartbeat_interval_s)
                    return
                start = self._start_offset()
                for sent, offset in enumerate(range(start, len(server.events)), start=1):
                    if server._stopping.is_set():
                        return
                    if script.event_delay_s:
                        time.sleep(script.event_delay_s)
                    data = server.events[offset].decode("utf-8", "replace").replace("\n", " ")
                    self._write(f"event: message\nid: {event_id_line(offset)}\ndata: {data}\n\n")
                    if offset == len(server.events) - 1:
                        server.observed.completed.set()
                    if script.flood_after == offset:
                        self._flood(offset, script.flood_bytes)
                    if script.garbage_every and offset % script.garbage_every == 0:
                        self._write(
                            f"event: message\nid: {event_id_line(offset)}\n"
                            "data: {this is not json\n\n"
                        )
                    if script.drop_every and sent >= script.drop_every:
                        return  # the connection closes mid-stream
                deadline = time.monotonic() + script.hold_open_at_end_s
                while time.monotonic() < deadline and not server._stopping.is_set():
                    self._write(":\n")
                    time.sleep(script.heartbeat_interval_s)

            def _start_offset(self) -> int:
                last = self.headers.get("Last-Event-ID")
                if not last:
                    return self._since_offset()
                offset = int(json.loads(last)[0]["offset"]) + 1
                return max(0, offset - server.script.resend_on_reconnect)

            def _since_offset(self) -> int:
                """`?since=ISO`: the first event whose meta.dt is at or after it."""
                since = parse_qs(urlparse(self.path).query).get("since", [None])[0]
                if since is None:
                    return 0
                moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
                for offset, raw in enumerate(server.events):
                    try:
                        dt = json.loads(raw)["meta"]["dt"]
                        at = datetime.fromisoformat(dt.replace("Z", "+00:00"))
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue  # a malformed event: the stream sends it on
                    if at.tzinfo is not None and at >= moment:
                        return offset
                return len(server.events)

            def _flood(self, offset: int, size: int) -> None:
                self._write(f"event: message\nid: {event_id_line(offset)}\ndata: ")
                block = b"x" * (1 << 20)
                for start in range(0, size, len(block)):
                    self.wfile.write(block[: size - start])
                self._write("\n\n")

            def _write(self, text: str) -> None:
                self.wfile.write(text.encode())
                self.wfile.flush()

        return Handler
