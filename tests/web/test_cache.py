"""The view cache: one computation per key at a time; nobody waits while a stale answer is
being refreshed; the first computation of a key is shared by everyone who asked."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from wikistream.web.cache import ViewCache


def test_concurrent_first_requests_share_one_computation() -> None:
    cache, calls = ViewCache(ttl_s=60), []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: cache.get("v", None, slow), range(8)))
    assert answers == [42] * 8 and len(calls) == 1


def test_a_stale_answer_is_served_while_one_request_refreshes_it() -> None:
    cache = ViewCache(ttl_s=0.05)
    assert cache.get("v", "k", lambda: "old") == "old"
    time.sleep(0.1)
    release, started = threading.Event(), threading.Event()

    def refresh() -> str:
        started.set()
        release.wait(5)
        return "new"

    with ThreadPoolExecutor(2) as pool:
        refreshing = pool.submit(cache.get, "v", "k", refresh)
        assert started.wait(5)
        begun = time.monotonic()
        assert cache.get("v", "k", lambda: "never") == "old"  # at once, not after the refresh
        assert time.monotonic() - begun < 1
        release.set()
        assert refreshing.result(5) == "new"
    assert cache.get("v", "k", lambda: "never") == "new"


def test_entries_are_bounded() -> None:
    cache = ViewCache(ttl_s=60, max_entries=3)
    for key in range(10):
        cache.get("v", key, lambda key=key: key)
    assert cache.get("v", 0, lambda: "recomputed") == "recomputed"
    assert cache.get("v", 9, lambda: "recomputed") == 9


def test_ttl_zero_turns_the_cache_off_and_peek_never_computes() -> None:
    off, calls = ViewCache(ttl_s=0), []
    for _ in range(3):
        off.get("v", None, lambda: calls.append(1))
    assert len(calls) == 3
    on = ViewCache(ttl_s=60)
    assert on.peek("v", None) == (False, None)
    on.get("v", None, lambda: "answer")
    assert on.peek("v", None) == (True, "answer")
