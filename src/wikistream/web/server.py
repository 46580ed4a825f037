"""Serve the app with uvicorn: in the foreground (`serve`) or beside a pipeline (`run --serve`)."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from types import FrameType

import uvicorn

from wikistream.exceptions import ConfigError
from wikistream.settings import Settings
from wikistream.web.app import create_app

log = logging.getLogger(__name__)

# Longer than a load balancer's idle timeout (ALB: 60 s), and than a busy server takes to
# read a kept-alive connection's next request: at 5 s (uvicorn's default) 50 clients polling
# saw the server close connections they had just sent a request on (measured).
_KEEP_ALIVE_S = 75


class WebServer:
    """The dashboard on a socket bound at construction (so the port is known, and a port
    in use fails at once with a clear error)."""

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self._socket = _bind(host, port)
        self.host, self.port = host, self._socket.getsockname()[1]
        config = uvicorn.Config(
            create_app(settings, host),
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=_KEEP_ALIVE_S,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (uvicorn handles them in the main thread)."""
        self._server.run(sockets=[self._socket])

    def start(self) -> WebServer:
        """Serve on a background thread (the pipeline owns the main thread and signals)."""
        self._thread = threading.Thread(target=self.run, name="web", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._socket.close()


class _Server(uvicorn.Server):
    """uvicorn's server, but a stop request (SIGINT/SIGTERM) ends it cleanly, exit 0: uvicorn
    raises the signal again once it has shut down, which kills the process with it."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: now
        else:
            self.should_exit = True


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only then; without
    # it, keep-alive answers (headers, then body) waited 40 ms for a delayed ACK (measured).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock
