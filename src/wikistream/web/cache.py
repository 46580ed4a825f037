"""Answers reused for a short time: any number of open pages cost one lakehouse read per
view per interval.

One computation per key at a time: while one request refreshes a stale answer, the others
get the stale one at once (nobody waits on the lakehouse but the refresher); only a key
never computed before makes concurrent requests wait for its first computation.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from wikistream import metrics

T = TypeVar("T")


class ViewCache:
    """A small TTL cache with one computation per key at a time, bounded in entries."""

    def __init__(self, ttl_s: float, max_entries: int = 512) -> None:
        self._ttl_s, self._max = ttl_s, max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def peek(self, view: str, key: Hashable) -> tuple[bool, Any]:
        """(True, answer) when `get` would answer without computing: fresh, or stale while
        another request refreshes it; (False, None) otherwise. Never blocks."""
        full = (view, key)
        found = self._fresh(full)
        if found is not None:
            return True, found[1]
        with self._guard:
            lock, stale = self._locks.get(full), self._entries.get(full)
        if stale is not None and lock is not None and lock.locked():
            return True, stale[1]
        return False, None

    def get(self, view: str, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached answer for (view, key), computed by `compute` when missing or stale
        (every time when the cache is off: ttl_s 0)."""
        full = (view, key)
        if self._ttl_s == 0:
            metrics.WEB_CACHE_MISSES.labels(view=view).inc()
            return compute()
        found = self._fresh(full)
        if found is not None:
            return found[1]  # type: ignore[no-any-return]
        with self._guard:
            lock = self._locks.setdefault(full, threading.Lock())
            stale = self._entries.get(full)
        if stale is not None and not lock.acquire(blocking=False):
            return stale[1]  # type: ignore[no-any-return]  # being refreshed: no one waits
        if stale is not None:
            lock.release()  # this request refreshes it, below
        with lock:
            found = self._fresh(full)  # another request may have refreshed it meanwhile
            if found is not None:
                return found[1]  # type: ignore[no-any-return]
            metrics.WEB_CACHE_MISSES.labels(view=view).inc()
            value = compute()
            with self._guard:
                self._entries[full] = (time.monotonic(), value)
                self._entries.move_to_end(full)
                while len(self._entries) > self._max:
                    old, _ = self._entries.popitem(last=False)
                    self._locks.pop(old, None)
            return value

    def _fresh(self, full: Hashable) -> tuple[float, Any] | None:
        with self._guard:
            entry = self._entries.get(full)
        if entry is None or time.monotonic() - entry[0] >= self._ttl_s:
            return None
        return entry
