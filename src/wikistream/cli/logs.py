"""Log handlers for the CLI: compact `key=value` text or one JSON object per line.

Every line passes through `redact`: a secret that a library put into a message or a
traceback never reaches the output. Uncaught errors in any thread are logged the same way.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from wikistream.redaction import redact

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_format = {"lines": "text"}


def json_lines() -> bool:
    """Whether the CLI was asked for JSON logs (its error line is then JSON too)."""
    return _format["lines"] == "json"


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{when} {record.levelname.lower():7} {record.getMessage()}"
        if fields:
            line += f"  {fields}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str, fmt: str) -> None:
    _format["lines"] = fmt
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    # Libraries log per request, per operator and per parsed SQL token (Daft's Rust logs
    # arrive as `sqlparser.*`, `daft_logical_plan.*`, `opentelemetry` …, thousands of lines a
    # cycle at debug): only their problems matter here, whatever the level asked for.
    handler.addFilter(_ours_or_a_problem)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("daft.io.iceberg.iceberg_scan").setLevel(logging.ERROR)
    # urllib3 logs each of a request's own retries; WikiStream logs the outcome once.
    logging.getLogger("urllib3").setLevel(max(root.level, logging.ERROR))
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(
        args.exc_type, args.exc_value, args.exc_traceback
    )


def _ours_or_a_problem(record: logging.LogRecord) -> bool:
    """WikiStream's own records at the level asked for; other libraries' from WARNING up."""
    return record.name.startswith("wikistream") or record.levelno >= logging.WARNING


def _log_uncaught(kind: Any, value: Any, traceback: Any) -> None:
    """An error nobody caught: through the (redacting) handler, not raw to stderr."""
    if kind is not None and issubclass(kind, KeyboardInterrupt):
        return
    logging.getLogger("wikistream").error("uncaught error", exc_info=(kind, value, traceback))
