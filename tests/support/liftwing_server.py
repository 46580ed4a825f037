"""A local stand-in for LiftWing's revert-risk predict endpoint, misbehaving on request.

The revision id picks the behaviour: 1xx0 answers at once, 2xx0 answers after 3 s (slow),
3xx0 answers 429 with Retry-After: 1 the first time, 4xx0 answers 503 the first time,
5xx0 answers a page of HTML (garbage), 6xx0 answers 404 (unknown revision). A good answer's
probability is (rev_id % 1000) / 1000.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.servers import free_port


class LiftWingStandIn:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/models/revertrisk-language-agnostic:predict"
        self.requests: list[tuple[float, dict[str, Any], dict[str, str]]] = []
        self._seen: set[int] = set()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append((time.monotonic(), body, dict(self.headers)))
                status, headers, payload = stand_in.answer(int(body["rev_id"]), body["lang"])
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, rev_id: int, lang: str) -> tuple[int, dict[str, str], bytes]:
        kind = rev_id // 1000 % 10
        first = rev_id not in self._seen
        self._seen.add(rev_id)
        good = {
            "model_name": "revertrisk-language-agnostic",
            "model_version": "3",
            "wiki_db": f"{lang}wiki",
            "revision_id": rev_id,
            "output": {
                "prediction": False,
                "probabilities": {"true": rev_id % 1000 / 1000, "false": 1 - rev_id % 1000 / 1000},
            },
        }
        ok = (200, {"Content-Type": "application/json"}, json.dumps(good).encode())
        if kind == 2:
            time.sleep(3)
        elif kind == 3 and first:
            return 429, {"Retry-After": "1"}, b'{"title": "Too many requests"}'
        elif kind == 4 and first:
            return 503, {}, b"upstream connect error"
        elif kind == 5:
            return 200, {"Content-Type": "text/html"}, b"<html>maintenance</html>"
        elif kind == 6:
            return 404, {}, b'{"detail": "revision not found"}'
        return ok

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
