"""The recentchange event as the stream sends it, for msgspec to decode and type-check.

Every field is optional except `meta`: the producer drops nulls, older captures (2018) have
`meta.schema_uri` instead of `$schema` and no `meta.stream`, and `id` may be `null`.
Integers carry the range of the column that stores them: a value beyond it is a rejected
record (`out_of_range`), never an overflow that fails the whole batch.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from wikistream.events.timestamps import MAX_UNIX_S, MIN_UNIX_S

Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
# rc `timestamp` (unix seconds) within the range of an event time
UnixSeconds = Annotated[int, msgspec.Meta(ge=MIN_UNIX_S, le=MAX_UNIX_S)]

# Where the schema has integers: the lenient second pass turns 1.0 into 1 there (JSON
# Schema counts a number with a zero fraction as an integer).
INTEGER_FIELDS = (
    ("id",),
    ("namespace",),
    ("timestamp",),
    ("log_id",),
    ("length", "old"),
    ("length", "new"),
    ("revision", "old"),
    ("revision", "new"),
    ("meta", "partition"),
    ("meta", "offset"),
)


class Meta(msgspec.Struct, frozen=True, gc=False):
    dt: str  # RFC 3339; parsed for the whole batch at once (events/timestamps.py)
    id: str | None = None
    domain: str | None = None
    stream: str | None = None
    uri: str | None = None
    request_id: str | None = None
    schema_uri: str | None = None
    topic: str | None = None
    partition: Int32 | None = None
    offset: Int64 | None = None


class OldNew(msgspec.Struct, frozen=True, gc=False):
    old: Int64 | None = None
    new: Int64 | None = None


class RecentChange(msgspec.Struct, frozen=True, gc=False, rename={"schema": "$schema"}):
    meta: Meta
    schema: str | None = None
    id: Int64 | None = None
    type: str | None = None
    namespace: Int32 | None = None
    title: str | None = None
    comment: str | None = None
    timestamp: UnixSeconds | None = None
    user: str | None = None
    bot: bool | None = None
    minor: bool | None = None
    patrolled: bool | None = None
    server_url: str | None = None
    server_name: str | None = None
    wiki: str | None = None
    length: OldNew | None = None
    revision: OldNew | None = None
    log_id: Int64 | None = None
    log_type: str | None = None
    log_action: str | None = None
    # An array, an object or a string depending on the log type: kept as its JSON text.
    # (msgspec.Raw cannot be part of a union: absent is an empty Raw, null is b"null".)
    log_params: msgspec.Raw = msgspec.Raw(b"")
