"""Generate (and cache) a newline-delimited JSON file of synthetic events for benchmarks."""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from datetime import timedelta
from functools import partial
from pathlib import Path

from wikistream.sources.synthetic import SyntheticGenerator

START = "2026-01-01T00:00:00Z"
_CHUNK = 50_000


def _chunk(spacing_us: int | None, bounds: tuple[int, int]) -> bytes:
    generator = SyntheticGenerator(seed=7, start=START)
    if spacing_us is not None:
        generator = SyntheticGenerator(7, START, timedelta(microseconds=spacing_us))
    return b"".join(generator.record(i) + b"\n" for i in range(*bounds))


def ensure_events_file(path: Path, events: int, days: float | None = None) -> Path:
    """Write `events` generated events to `path` unless it already holds exactly that many;
    `days`: spread their event times evenly over that many days (default: 20 ms apart)."""
    marker = path.with_suffix(path.suffix + ".count")
    wanted = str(events) if days is None else f"{events} over {days} days"
    if path.exists() and marker.exists() and marker.read_text().strip() == wanted:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    bounds = [(i, min(i + _CHUNK, events)) for i in range(0, events, _CHUNK)]
    spacing_us = None if days is None else int(days * 86_400_000_000 / events)
    with multiprocessing.Pool() as pool, path.open("wb") as out:
        for done, block in enumerate(pool.imap(partial(_chunk, spacing_us), bounds), start=1):
            out.write(block)
            print(f"generated {min(done * _CHUNK, events):,}/{events:,}", file=sys.stderr)
    marker.write_text(wanted)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, help="spread the events over this many days")
    args = parser.parse_args()
    ensure_events_file(args.path, args.events, args.days)
