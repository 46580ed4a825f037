"""What a failed catalog or storage call means: retry later, or look at the data.

A commit can fail because the world is briefly wrong (a lost race, a catalog or object store
that does not answer) or because of what is being written (a value the writer cannot encode).
The first kind is retried as it is; the second kind never goes away by retrying, so the
writers isolate the rows that cause it (`commits.unwritable_rows`).
"""

from __future__ import annotations

from pyiceberg.exceptions import (
    CommitFailedException,
    CommitStateUnknownException,
    ServerError,
    ServiceUnavailableError,
)

from wikistream.exceptions import TerminalError, TransientError

_TRANSIENT_NAMES = frozenset({
    "OperationalError",  # SQLAlchemy / sqlite: database is locked, server went away
    "InterfaceError", "DisconnectionError", "TimeoutError",
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",  # botocore
    "ConnectionClosedError", "ConnectError", "RemoteProtocolError",  # httpx / requests
    "ConnectionError", "ChunkedEncodingError",
})  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """Whether the same call may succeed later (a race, an unreachable service)."""
    if isinstance(exc, TransientError | CommitFailedException | CommitStateUnknownException):
        return True
    if isinstance(exc, ServerError | ServiceUnavailableError | OSError):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


def may_be_data(exc: BaseException) -> bool:
    """Whether the failure could come from the rows being written (never a terminal error
    of our own, such as another writer having advanced the position)."""
    return not isinstance(exc, TerminalError) and not is_transient(exc)
