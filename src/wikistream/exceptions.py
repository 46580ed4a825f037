"""The exceptions WikiStream raises, so callers can tell what to retry.

WikiStreamError
├── TransientError        the same call may succeed later: retry with backoff
│   ├── SourceUnavailable     the source cannot be reached right now
│   ├── CatalogUnavailable    the catalog or object store cannot be reached right now
│   ├── CommitConflict        another commit won the race; re-check and retry
│   ├── PartitionsMoved       another worker committed some of our partitions; re-read them
│   ├── DeliveryFailed        an alert channel refused the alert (e.g. HTTP 500)
│   └── LeaseLost             this process no longer holds the lease its writes need
└── TerminalError         retrying cannot help: stop and tell the user
    ├── ConfigError           settings or arguments are wrong
    ├── SourceRejected        the source refused us (e.g. 403 for a missing User-Agent)
    ├── InputBroken           the input cannot be read: corrupt, truncated, gone, forbidden
    ├── ConcurrentWriter      another writer advanced our stored position
    ├── PositionLost          a layer's stored snapshot was rolled back or expired below it
    ├── QueryError            a user query is invalid or not read-only
    ├── TableMissing          a table a command reads does not exist (yet)
    └── WarehouseMissing      a read command found no warehouse where it was pointed
"""


class WikiStreamError(Exception):
    """Root of every error WikiStream raises on purpose."""


class TransientError(WikiStreamError):
    """A failure that may go away if the same work is retried later."""


class TerminalError(WikiStreamError):
    """A failure that retrying cannot fix."""


class SourceUnavailable(TransientError):
    """The source could not be reached (network error, 5xx, 429)."""


class CatalogUnavailable(TransientError):
    """The catalog (or the object store behind it) did not answer."""


class CommitConflict(TransientError):
    """The catalog rejected a commit because the table changed underneath it."""


class PartitionsMoved(TransientError):
    """Another worker committed partitions this one was about to commit (a rebalance)."""


class DeliveryFailed(TransientError):
    """An alert channel answered but did not take the alert; the message is safe to log
    (a status, never the channel's secret URL)."""


class LeaseLost(TransientError):
    """This process no longer holds (with time to spare) the lease its writes need."""


class ConfigError(TerminalError):
    """Settings, a source spec or a command-line argument is invalid."""


class SourceRejected(TerminalError):
    """The source answered with an error that retrying will not fix."""


class InputBroken(TerminalError):
    """The input cannot be read to its end (a corrupt or truncated compressed file, a file
    that vanished or may not be read): what was read before it is committed; a restart
    would only fail again."""


class ConcurrentWriter(TerminalError):
    """Another writer committed a position for the same source while we were running."""


class PositionLost(TerminalError):
    """A derived layer's stored snapshot was rolled back or expired below it."""


class QueryError(TerminalError):
    """A user query failed to parse, plan or run, or was not read-only."""


class TableMissing(TerminalError):
    """A table a command reads does not exist (yet)."""


class WarehouseMissing(TerminalError):
    """A command that only reads found no warehouse (no tables) where it was pointed."""
