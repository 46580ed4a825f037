"""Secret values known to this process, and the one function that blanks them out of text.

Settings register every secret they hold (catalog keys and tokens, webhook URLs, passwords)
when they are loaded; the CLI passes everything it prints or logs through `redact`, so a
secret that an error message or a traceback happens to contain never reaches the output.
"""

from __future__ import annotations

import threading

MASK = "***"
_MIN_LENGTH = 4  # shorter "secrets" would blank out ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()


def register(*values: str | None) -> None:
    """Remember secret values to blank out of everything printed or logged."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= _MIN_LENGTH)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by ***."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
