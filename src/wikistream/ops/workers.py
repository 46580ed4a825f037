"""Backfill items loaded by several processes at once (one per core; the GIL allows one
bronze writer per process to use one core).

Each item runs in a child process started with `spawn` (no threads or open catalogs are
inherited) and reports on a queue: progress while it reads, then its totals. A child stops
like `run` does on SIGINT/SIGTERM (commits what it read); the parent forwards its own stop
request, and a child whose parent has gone stops too. A child that dies without reporting
(killed, out of memory) is a failed item: its part resumes from its stored position on the
next run. Only the parent writes the manifest.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from wikistream.layers.bronze import BronzeStats
from wikistream.ops.manifest import Item, Manifest
from wikistream.pipeline.reading import StopToken, graceful_signals
from wikistream.settings import Settings

_PROGRESS_EVERY_S = 0.5
_POLL_S = 0.2
_LAST_WORDS_S = 5.0


@dataclass(frozen=True)
class Outcome:
    """How one item's load ended: its totals and why it stopped, or the error."""

    stats: BronzeStats
    stopped_by: str | None = None
    error: str | None = None
    unreachable: str | None = None  # the source never answered (the run stops: exit 3)


# Loads one item; errors come back in the Outcome (ops.backfill._load_here).
LoadItem = Callable[[Settings, Manifest, Item, StopToken, Any], Outcome]


def load_in_parallel(
    settings: Settings,
    manifest: Manifest,
    items: Iterable[Item],
    workers: int,
    stop: StopToken,
    load_item: LoadItem,
    on_start: Callable[[Item], None],
    on_progress: Callable[[Item, BronzeStats], None] | None,
    on_done: Callable[[Item, Outcome], None],
) -> None:
    """Load `items` with `load_item` in up to `workers` child processes at once.

    `on_start`, `on_progress` and `on_done` run in this process, in the calling thread.
    """
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    waiting = list(items)
    running: dict[str, tuple[Item, BaseProcess]] = {}
    forwarded = False
    while running or (waiting and not stop.event.is_set()):
        while waiting and len(running) < workers and not stop.event.is_set():
            item = waiting.pop(0)
            on_start(item)
            child: BaseProcess = context.Process(
                target=_child,
                name=f"backfill-{len(running)}",
                args=(settings, manifest, item, load_item, reports, os.getpid()),
            )
            child.start()
            running[item.key] = (item, child)
        if stop.event.is_set() and not forwarded:
            forwarded = True
            for _, running_child in running.values():
                running_child.terminate()  # SIGTERM: the child commits what it read and reports
        _handle(_next_report(reports), running, on_progress, on_done)
        for key, (gone, process) in list(running.items()):
            if not process.is_alive():
                _drain(reports, key, running, on_progress, on_done)
                if key in running:  # it died without a word
                    del running[key]
                    process.join()
                    on_done(gone, _silent_end(process.exitcode, stopping=forwarded))
    reports.close()


def _silent_end(exitcode: int | None, stopping: bool) -> Outcome:
    if stopping and exitcode == -signal.SIGTERM:  # stopped before it could handle signals
        return Outcome(BronzeStats(), stopped_by="SIGTERM")
    return Outcome(
        BronzeStats(), error=f"worker process exited with code {exitcode} before reporting"
    )


def _next_report(reports: Any) -> tuple[str, str, Any] | None:
    try:
        report: tuple[str, str, Any] = reports.get(timeout=_POLL_S)
    except queue.Empty:
        return None
    return report


def _drain(
    reports: Any,
    key: str,
    running: dict[str, tuple[Item, BaseProcess]],
    on_progress: Callable[[Item, BronzeStats], None] | None,
    on_done: Callable[[Item, Outcome], None],
) -> None:
    """Handle reports until `key`'s last one (it arrives after its process exits) or a
    moment without any."""
    deadline = time.monotonic() + _LAST_WORDS_S
    while key in running and time.monotonic() < deadline:
        report = _next_report(reports)
        if report is None:
            return
        _handle(report, running, on_progress, on_done)


def _handle(
    report: tuple[str, str, Any] | None,
    running: dict[str, tuple[Item, BaseProcess]],
    on_progress: Callable[[Item, BronzeStats], None] | None,
    on_done: Callable[[Item, Outcome], None],
) -> None:
    if report is None:
        return
    kind, key, payload = report
    if key not in running:
        return
    item, child = running[key]
    if kind == "progress":
        if on_progress is not None:
            on_progress(item, payload)
        return
    del running[key]
    child.join()
    on_done(item, payload)


def _child(
    settings: Settings,
    manifest: Manifest,
    item: Item,
    load_item: LoadItem,
    reports: Any,
    parent: int,
) -> None:
    """One item in a child process: load it, report progress and the outcome."""
    stop = StopToken()
    threading.Thread(target=_watch_parent, args=(parent, stop), daemon=True).start()
    last = 0.0

    def progress(_item: Item, stats: BronzeStats) -> None:
        nonlocal last
        if time.monotonic() - last >= _PROGRESS_EVERY_S:
            last = time.monotonic()
            reports.put(("progress", item.key, stats))

    with graceful_signals(stop):
        outcome = load_item(settings, manifest, item, stop, progress)
    reports.put(("done", item.key, outcome))
    reports.close()
    reports.join_thread()  # the report is in the pipe before the process ends


def _watch_parent(parent: int, stop: StopToken) -> None:
    while not stop.event.is_set():
        if os.getppid() != parent:
            stop.stop("parent gone")
            return
        time.sleep(1.0)
