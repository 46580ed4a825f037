"""Leases on a real table: one holder at a time, takeover after expiry, one winner per race."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from wikistream.lakehouse.store import Lakehouse
from wikistream.settings import Settings


def _race(lease, start: threading.Barrier, won: list[str]) -> None:  # type: ignore[no-untyped-def]
    start.wait()
    if lease.acquire():
        won.append(lease.holder)


def _lease(settings: Settings, holder: str, ttl_s: float = 1.5):  # type: ignore[no-untyped-def]
    return Lakehouse(settings).lease("process", holder, ttl_s)  # its own catalog and table


def test_a_held_lease_is_refused_to_others_until_it_expires(settings: Settings) -> None:
    a, b = _lease(settings, "a"), _lease(settings, "b")
    assert a.acquire() and a.held
    assert not b.acquire() and not b.held
    assert b.state().holder == "a"
    assert a.acquire()  # a renewal
    time.sleep(1.6)  # a stops renewing (it died)
    assert b.acquire() and b.held
    assert not a.acquire() and not a.held
    assert a.state().holder == "b"


def test_release_hands_the_lease_over_at_once(settings: Settings) -> None:
    a, b = _lease(settings, "a", ttl_s=60), _lease(settings, "b", ttl_s=60)
    assert a.acquire()
    assert not b.acquire()
    a.release()
    assert not a.held
    assert b.acquire()


def test_of_processes_racing_for_a_free_lease_exactly_one_wins(settings: Settings) -> None:
    for round_ in range(6):
        contenders = [_lease(settings, f"{round_}-{n}", ttl_s=60) for n in range(3)]
        start = threading.Barrier(len(contenders))
        won: list[str] = []

        threads = [threading.Thread(target=_race, args=(c, start, won)) for c in contenders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert won == [contenders[0].state().holder], won
        for lease in contenders:
            lease.release()


_HOLD = """
import sys, time
from wikistream.lakehouse.store import Lakehouse
from wikistream.settings import load_settings
lease = Lakehouse(load_settings(None)).lease("process", "child", 600)
assert lease.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_lease_whose_holder_on_this_machine_was_killed_is_taken_at_once(
    settings: Settings,
) -> None:
    """Nobody waits out ten minutes for a `process` killed with SIGKILL; a live holder is
    still refused."""
    env = {**os.environ, "WIKISTREAM_WAREHOUSE": settings.warehouse}
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        other = _lease(settings, "other", ttl_s=60)
        assert not other.acquire()  # alive: refused
        assert other.state().holder == "child"
        child.kill()
        child.wait()
        assert other.acquire() and other.state().holder == "other"
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
