"""What the CLI prints or logs never carries a secret, whatever a library put in a message."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from wikistream.cli.logs import configure_logging
from wikistream.cli.output import fail
from wikistream.settings import load_settings

SECRET = "s3cr3t-value-from-settings-81f"


@pytest.fixture
def secret_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WIKISTREAM_CATALOG__SECRETS", f'{{"s3.secret-access-key": "{SECRET}"}}')
    load_settings()  # loading registers every secret the settings hold
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook, threading.excepthook)
    yield
    root.handlers[:], level, sys.excepthook, threading.excepthook = saved
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_lines_and_tracebacks_are_redacted(
    secret_settings: None, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug", fmt)
    log = logging.getLogger("wikistream.test")
    try:
        raise RuntimeError(f"botocore said: bad signature for key {SECRET}")
    except RuntimeError:
        log.exception("commit failed", extra={"endpoint": f"https://x?k={SECRET}"})
    errors = capsys.readouterr().err
    assert "commit failed" in errors and "bad signature" in errors and "***" in errors
    assert SECRET not in errors


def test_an_error_line_is_redacted(
    secret_settings: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "text")
    with pytest.raises(SystemExit):
        fail(f"cannot reach s3 with {SECRET}", 1)
    assert capsys.readouterr().err == "error: cannot reach s3 with ***\n"
    configure_logging("info", "json")  # the last line a collector reads parses too
    with pytest.raises(SystemExit):
        fail(f"cannot reach s3 with {SECRET}", 3)
    line = json.loads(capsys.readouterr().err)
    assert line == {"level": "error", "message": "cannot reach s3 with ***", "exit_code": 3}
    configure_logging("info", "text")


def test_an_uncaught_error_in_a_thread_is_logged_redacted(
    secret_settings: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "text")
    thread = threading.Thread(target=_raise)
    thread.start()
    thread.join()
    errors = capsys.readouterr().err
    assert "uncaught error" in errors and SECRET not in errors


def _raise() -> None:
    raise ValueError(f"token {SECRET} refused")
