"""A bounded memory of recently committed ids, to drop events a source sends twice."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable


class RecentIds:
    """Ids committed within `window_s`, at most `max_ids` of them (oldest forgotten first)."""

    def __init__(self, window_s: float, max_ids: int) -> None:
        self._window_s = window_s
        self._max_ids = max_ids
        self._ids: set[str] = set()
        self._generations: deque[tuple[float, list[str]]] = deque()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: Iterable[str], at: float | None = None) -> None:
        fresh = [i for i in ids if i not in self._ids]
        if fresh:
            self._ids.update(fresh)
            self._generations.append((time.monotonic() if at is None else at, fresh))
        self._evict()

    def _evict(self) -> None:
        horizon = time.monotonic() - self._window_s
        while self._generations and (
            len(self._ids) > self._max_ids or self._generations[0][0] < horizon
        ):
            _, old = self._generations.popleft()
            self._ids.difference_update(old)
