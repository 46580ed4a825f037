"""The recentchange event as the stream sends it, for msgspec to decode and type-check.

Every field is optional except `meta`: the producer drops nulls, older captures (2018) have
`meta.schema_uri` instead of `$schema` and no `meta.stream`, and `id` may be `null`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

# bronze stores these as int32: a larger value is a bad record, not a crash of the batch
Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]


class Meta(msgspec.Struct, frozen=True, gc=False):
    dt: datetime
    id: str | None = None
    domain: str | None = None
    stream: str | None = None
    uri: str | None = None
    request_id: str | None = None
    schema_uri: str | None = None
    topic: str | None = None
    partition: Int32 | None = None
    offset: int | None = None


class OldNew(msgspec.Struct, frozen=True, gc=False):
    old: int | None = None
    new: int | None = None


class RecentChange(msgspec.Struct, frozen=True, gc=False, rename={"schema": "$schema"}):
    meta: Meta
    schema: str | None = None
    id: int | None = None
    type: str | None = None
    namespace: Int32 | None = None
    title: str | None = None
    comment: str | None = None
    timestamp: int | None = None
    user: str | None = None
    bot: bool | None = None
    minor: bool | None = None
    patrolled: bool | None = None
    server_url: str | None = None
    server_name: str | None = None
    wiki: str | None = None
    length: OldNew | None = None
    revision: OldNew | None = None
    log_id: int | None = None
    log_type: str | None = None
    log_action: str | None = None
    # An array, an object or a string depending on the log type: kept as its JSON text.
    # (msgspec.Raw cannot be part of a union: absent is an empty Raw, null is b"null".)
    log_params: msgspec.Raw = msgspec.Raw(b"")
