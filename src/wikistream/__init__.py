"""WikiStream: the Wikimedia edit firehose as an exactly-once Iceberg lakehouse."""

import os

# Arrow reads its allocator choice once, when it first allocates: set before anything loads
# it. jemalloc hands freed memory back (engine.py sets how soon); the default pool keeps it,
# and a rebuild's memory then grows chunk after chunk instead of staying at one chunk's.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

__version__ = "0.1.0"
