"""A bounded memory of recently committed ids, to drop events a source sends twice.

Ids are kept in generations (one per commit, or per commit time when reloaded from the
table), each with the time its ids were committed. Eviction drops the oldest generation
first, by age (`window_s`) or when there are more than `max_ids`: a restart that reloads a
busy last hour keeps that hour as it was, and the next batches push out its oldest commits
one at a time, never the whole reload at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable


class RecentIds:
    """Ids committed within `window_s`, at most `max_ids` of them (oldest forgotten first).

    Safe to share between the thread that deduplicates and the one that commits.
    """

    def __init__(self, window_s: float, max_ids: int) -> None:
        self._window_s = window_s
        self._max_ids = max_ids
        self._ids: set[str] = set()
        self._generations: deque[tuple[float, list[str]]] = deque()
        self._lock = threading.Lock()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: Iterable[str], at: float | None = None) -> None:
        """Remember `ids`, committed at monotonic time `at` (default: now)."""
        when = time.monotonic() if at is None else at
        with self._lock:
            fresh = [i for i in ids if i not in self._ids]
            if fresh:
                self._ids.update(fresh)
                self._insert(when, fresh)
            self._evict()

    def add_aged(self, generations: Iterable[tuple[float, list[str]]]) -> None:
        """Remember ids committed `age_s` seconds ago, one generation per (age_s, ids):
        a reload from the table keeps the order and age the ids had when committed."""
        now = time.monotonic()
        for age_s, ids in sorted(generations, key=lambda g: -g[0]):
            self.add(ids, at=now - max(0.0, age_s))

    def _insert(self, when: float, ids: list[str]) -> None:
        if not self._generations or self._generations[-1][0] <= when:
            self._generations.append((when, ids))
            return
        ordered = sorted([*self._generations, (when, ids)], key=lambda g: g[0])
        self._generations = deque(ordered)

    def _evict(self) -> None:
        horizon = time.monotonic() - self._window_s
        while self._generations and (
            len(self._ids) > self._max_ids or self._generations[0][0] < horizon
        ):
            _, old = self._generations.popleft()
            self._ids.difference_update(old)
