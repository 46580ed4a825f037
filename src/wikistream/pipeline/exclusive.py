"""One writer of silver and gold at a time: the processing lease.

`wikistream run` (its processing loop) holds the lease while it keeps the layers current;
every one-shot command that writes silver or gold (`process`, `replay --layer silver|gold`,
`rollback`, `quarantine replay`) takes the same lease for its duration or refuses while
another process holds it. Each commit the holder makes is fenced: a holder whose lease ran
out (a stall, an unreachable catalog) never commits after another may have taken over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from wikistream.exceptions import ConfigError
from wikistream.lakehouse.leases import holding
from wikistream.lakehouse.store import Lakehouse
from wikistream.pipeline.process import CycleReport, Processor

PROCESS_LEASE = "process"


@contextmanager
def exclusive_processor(lakehouse: Lakehouse, action: str) -> Iterator[Processor]:
    """A processor holding the processing lease for as long as the block runs.

    Raises:
        ConfigError: another process (a `wikistream run`) holds the lease; `action` says
            what was refused (e.g. "replaying silver").
    """
    processor = Processor(lakehouse)
    try:
        ttl = lakehouse.settings.process.lease_ttl_s
        lease = lakehouse.lease(PROCESS_LEASE, processor.writer_id, ttl)
        with holding(lease, action):
            processor.fence = lease.fence
            yield processor
    finally:
        processor.close()


def process_unless_kept_current(lakehouse: Lakehouse) -> CycleReport | None:
    """One silver/gold cycle after a load (a backfill, a bronze replay), unless another
    process keeps the layers current: it holds the lease and processes these rows itself
    (None then)."""
    try:
        with exclusive_processor(lakehouse, "processing") as processor:
            return processor.run("all")
    except ConfigError:
        return None
