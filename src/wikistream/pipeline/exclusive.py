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

from wikistream.lakehouse.leases import holding
from wikistream.lakehouse.store import Lakehouse
from wikistream.pipeline.process import Processor
from wikistream.settings import Settings

PROCESS_LEASE = "process"


@contextmanager
def exclusive_processor(
    lakehouse: Lakehouse, settings: Settings, action: str
) -> Iterator[Processor]:
    """A processor holding the processing lease for as long as the block runs.

    Raises:
        ConfigError: another process (a `wikistream run`) holds the lease; `action` says
            what was refused (e.g. "replaying silver").
    """
    processor = Processor(lakehouse, settings)
    try:
        lease = lakehouse.lease(PROCESS_LEASE, processor.writer_id, settings.process.lease_ttl_s)
        with holding(lease, action):
            processor.fence = lease.fence
            yield processor
    finally:
        processor.close()
