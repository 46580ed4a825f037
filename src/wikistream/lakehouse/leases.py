"""Leases in the catalog's own store: one holder at a time, taken over when it stops renewing.

A lease is the newest snapshot of `ops.leases` that names it: its summary says who holds it
and until when. Taking or renewing a lease commits a new, empty snapshot against the table
state that was read, so of two processes racing for an expired lease exactly one commit
lands (the catalog's compare-and-swap; the other fails and sees the winner). Expiry is wall
clock time: the machines that share a warehouse must keep their clocks within a few seconds
of each other (NTP), well under the lease's time to live.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from wikistream.exceptions import ConfigError, LeaseLost
from wikistream.lakehouse.errors import is_transient
from wikistream.lakehouse.positions import lineage, summary_value

log = logging.getLogger(__name__)

HOLDER_KEY = "wikistream.lease.holder"
EXPIRES_KEY = "wikistream.lease.expires"
NAME_KEY = "wikistream.lease.name"
PROCESS_KEY = "wikistream.lease.process"  # host, pid namespace and pid of the holder
_SCAN = 50  # newest snapshots searched for a lease's state
_PRUNE_EVERY = 100  # renewals between expiring the table's old snapshots
_KEEP = 10


@dataclass(frozen=True)
class LeaseState:
    holder: str | None
    expires: float  # wall clock seconds
    process: str | None = None

    def free_for(self, holder: str, now: float) -> bool:
        return self.holder in (None, holder) or self.expires <= now or self.holder_gone()

    def holder_gone(self) -> bool:
        """Whether the holder was a process of this machine (same host and pid namespace)
        that is no longer running: killed, it cannot commit any more, so nobody waits out
        its time to live. A holder elsewhere is only known gone when its lease expires."""
        if not self.holder or not self.process:
            return False
        host, namespace, pid = self.process.rsplit("/", 2)
        here_host, here_namespace, _ = process_tag().rsplit("/", 2)
        if (host, namespace) != (here_host, here_namespace) or not pid.isdigit():
            return False
        return not _running(int(pid))


def process_tag() -> str:
    """This process as `host/pid namespace/pid` (the namespace tells containers apart)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = "-"
    return f"{socket.gethostname()}/{namespace}/{os.getpid()}"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:  # a killed child not yet reaped by its parent is gone too
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


class Lease:
    """A named lease on `table` (`ops.leases`) for `holder`, valid `ttl_s` after each renewal."""

    def __init__(self, table: Table, name: str, holder: str, ttl_s: float) -> None:
        self._table = table
        self.name = name
        self.holder = holder
        self.ttl_s = ttl_s
        self._held_until = 0.0  # wall clock; valid only while we hold it
        self._renewals = 0
        self.announce = logging.INFO  # the level of "acquired" / "released" (a one-shot: debug)

    @property
    def held(self) -> bool:
        """Whether this process holds the lease now (by its own last renewal)."""
        return time.time() < self._held_until

    def fence(self) -> None:
        """Raise `LeaseLost` unless this process holds the lease with at least a third of its
        time to live left: a holder whose renewals stopped (a stall, an unreachable catalog)
        never commits after another process may have taken over. Called by the writers it
        guards right before each commit."""
        left = self._held_until - time.time()
        if left < self.ttl_s / 3:
            raise LeaseLost(
                f"the {self.name} lease is no longer held by this process ({left:.1f} s "
                "left): another process may write now; not committing"
            )

    def state(self) -> LeaseState:
        """Who holds the lease, as the table says now."""
        self._table.refresh()
        for snapshot in lineage(self._table)[:_SCAN]:
            if summary_value(snapshot, NAME_KEY) == self.name:
                holder = summary_value(snapshot, HOLDER_KEY)
                expires = float(summary_value(snapshot, EXPIRES_KEY) or 0)
                return LeaseState(holder, expires, summary_value(snapshot, PROCESS_KEY))
        return LeaseState(None, 0.0)

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, or renew it if held; False if another
        process holds it (or won the race for it). Never raises for a busy or absent
        catalog: it answers False, and the lease runs out if that lasts."""
        try:
            now = time.time()
            state = self.state()
            if not state.free_for(self.holder, now):
                self._held_until = 0.0
                return False
            if state.holder not in (None, "", self.holder) and state.expires > now:
                log.warning(
                    "lease taken over from a process that is no longer running",
                    extra={"lease": self.name, "previous": state.holder},
                )
            was_held = self.held
            expires = now + self.ttl_s
            self._table.append(
                pa.table({"lease": pa.array([], pa.string())}),
                snapshot_properties={
                    NAME_KEY: self.name,
                    HOLDER_KEY: self.holder,
                    EXPIRES_KEY: f"{expires:.3f}",
                    PROCESS_KEY: process_tag(),
                },
            )
        except CommitFailedException:
            return False  # another process committed first: it may hold the lease now
        except Exception as exc:
            if not is_transient(exc):
                raise
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "lease not renewed: the catalog did not answer",
                extra={"lease": self.name, "error": error},
            )
            return False
        self._held_until = expires
        if not was_held:
            log.log(
                self.announce, "lease acquired", extra={"lease": self.name, "holder": self.holder}
            )
        self._renewals += 1
        if self._renewals % _PRUNE_EVERY == 0:
            self._prune()
        return True

    def release(self) -> None:
        """Give the lease up now (a clean stop), so another process takes over at once."""
        if not self.held:
            return
        self._held_until = 0.0
        try:
            self._table.append(
                pa.table({"lease": pa.array([], pa.string())}),
                snapshot_properties={NAME_KEY: self.name, HOLDER_KEY: "", EXPIRES_KEY: "0"},
            )
            log.log(
                self.announce, "lease released", extra={"lease": self.name, "holder": self.holder}
            )
        except Exception as exc:  # it runs out by itself
            log.warning("lease not released", extra={"lease": self.name, "error": str(exc)})

    def _prune(self) -> None:
        old = [s.snapshot_id for s in lineage(self._table)[_KEEP:]]
        if not old:
            return
        try:
            self._table.maintenance.expire_snapshots().by_ids(old).commit()
        except Exception as exc:  # a race with another holder's renewal: next time
            log.debug("lease snapshots not expired", extra={"error": str(exc)})


@contextmanager
def holding(lease: Lease, action: str) -> Iterator[Lease]:
    """Hold `lease` for a one-shot command (renewed every third of its time to live on a
    thread, released at the end), or refuse if another process holds it.

    Raises:
        ConfigError: another process holds the lease (e.g. a `wikistream run`).
    """
    lease.announce = logging.DEBUG
    if not lease.acquire():
        state = lease.state()
        until = time.strftime("%H:%M:%S", time.gmtime(state.expires))
        raise ConfigError(
            f"another process keeps silver and gold current (the {lease.name} lease is held "
            f"by {state.holder} until {until} UTC, renewed while it runs): stop that "
            f"`wikistream run` (or restart it with --no-process) before {action}"
        )
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease.ttl_s / 3):
            if not lease.acquire():
                log.warning("lease not renewed", extra={"lease": lease.name})

    keeper = threading.Thread(target=renew, name=f"lease-{lease.name}", daemon=True)
    keeper.start()
    try:
        yield lease
    finally:
        stop.set()
        keeper.join()
        lease.release()
