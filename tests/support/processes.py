"""Start `wikistream` as a real process, its output appended to a log file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def spawn(log: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`python -m wikistream ARGS`, stdout and stderr appended to `log`; `env`: more
    environment variables."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "wikistream", *args],
            stdout=out,
            stderr=out,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
