"""Accepted events and dead letters as Arrow tables with their tables' schemas.

`decode_chunk` is the decode edge in one call: records in, the `bronze.events` rows of the
accepted ones, the rejections and the drop counts out.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import pyarrow as pa

from wikistream.events import timestamps
from wikistream.events.decode import (
    PROCESSING_ERROR,
    UNWRITABLE,
    DecodedBatch,
    EventDecoder,
    Rejection,
    quarantine_id,
)
from wikistream.lakehouse.tables import BRONZE_EVENTS, BRONZE_QUARANTINE, TIMESTAMP
from wikistream.sources.base import Oversized

log = logging.getLogger(__name__)


def events_to_arrow(batch: DecodedBatch, source: str, ingested_at: datetime) -> pa.Table:
    """Build the `bronze.events` Arrow table of every accepted event in `batch`."""
    events = batch.events
    metas = [e.meta for e in events]
    lengths = [e.length for e in events]
    revisions = [e.revision for e in events]
    n = len(events)

    def col(values: list[Any], type_: pa.DataType) -> pa.Array:
        return pa.array(values, type=type_)

    event_ts = batch.event_ts if batch.event_ts is not None else pa.array([], TIMESTAMP)
    rc_timestamp = timestamps.seconds_to_timestamps(col([e.timestamp for e in events], pa.int64()))
    columns = {
        "event_id": col(batch.ids, pa.string()),
        "event_ts": event_ts,
        "event_date": event_ts.cast(pa.date32()),
        "ingested_at": pa.repeat(pa.scalar(ingested_at, TIMESTAMP), n),
        "source": pa.repeat(pa.scalar(source, pa.string()), n),
        "meta_id": col([m.id for m in metas], pa.string()),
        "request_id": col([m.request_id for m in metas], pa.string()),
        "schema_uri": col(
            [e.schema or m.schema_uri for e, m in zip(events, metas, strict=True)], pa.string()
        ),
        "stream": col([m.stream for m in metas], pa.string()),
        "topic": col([m.topic for m in metas], pa.string()),
        "partition": col([m.partition for m in metas], pa.int32()),
        "offset": col([m.offset for m in metas], pa.int64()),
        "domain": col(batch.domains, pa.string()),
        "wiki": col([e.wiki for e in events], pa.string()),
        "rc_id": col([e.id for e in events], pa.int64()),
        "type": col([e.type for e in events], pa.string()),
        "namespace": col([e.namespace for e in events], pa.int32()),
        "title": col([e.title for e in events], pa.string()),
        "comment": col([e.comment for e in events], pa.string()),
        "user": col([e.user for e in events], pa.string()),
        "bot": col([e.bot for e in events], pa.bool_()),
        "minor": col([e.minor for e in events], pa.bool_()),
        "patrolled": col([e.patrolled for e in events], pa.bool_()),
        "rc_timestamp": rc_timestamp,
        "server_url": col([e.server_url for e in events], pa.string()),
        "length_old": col([x.old if x else None for x in lengths], pa.int64()),
        "length_new": col([x.new if x else None for x in lengths], pa.int64()),
        "revision_old": col([x.old if x else None for x in revisions], pa.int64()),
        "revision_new": col([x.new if x else None for x in revisions], pa.int64()),
        "log_id": col([e.log_id for e in events], pa.int64()),
        "log_type": col([e.log_type for e in events], pa.string()),
        "log_action": col([e.log_action for e in events], pa.string()),
        "log_params": _as_utf8(col([_raw_json(e.log_params) for e in events], pa.binary())),
        "raw": _as_utf8(col(batch.raws, pa.binary())),
    }
    return pa.Table.from_pydict(columns, schema=BRONZE_EVENTS.schema)


@dataclass(slots=True)
class DecodedChunk:
    """Accepted events as Arrow (with their ids), rejections and drop counts of one chunk.

    Small and picklable, so chunks can be decoded in worker processes.
    """

    ids: list[str]
    table: pa.Table
    rejections: list[Rejection]
    dropped: Counter[str]


def decode_chunk(
    decoder: EventDecoder, records: Sequence[bytes], source: str, ingested_at: datetime
) -> DecodedChunk:
    """Decode records and convert the accepted ones to Arrow in one step.

    Bad input never raises (it is rejected with a reason). If decoding raises anyway (a
    bug), the records are decoded one by one and only those that raise are rejected, as
    `processing_error`: one record never stops the others. If every record raises, the
    fault is not in the records, and the error is raised.
    """
    try:
        return _decode(decoder, records, source, ingested_at)
    except Exception as exc:
        if len(records) <= 1:
            raise
        log.warning(
            "decoding a chunk raised; isolating the record(s) that cause it",
            extra={"records": len(records), "error": f"{type(exc).__name__}: {exc}"},
        )
        return _decode_each(decoder, records, source, ingested_at, exc)


def _decode(
    decoder: EventDecoder, records: Sequence[bytes], source: str, ingested_at: datetime
) -> DecodedChunk:
    batch = decoder.decode(records)
    table = events_to_arrow(batch, source, ingested_at)
    return DecodedChunk(batch.ids, table, batch.rejections, batch.dropped)


def _decode_each(
    decoder: EventDecoder,
    records: Sequence[bytes],
    source: str,
    ingested_at: datetime,
    first_error: Exception,
) -> DecodedChunk:
    ids: list[str] = []
    tables: list[pa.Table] = []
    rejections: list[Rejection] = []
    dropped: Counter[str] = Counter()
    for index, record in enumerate(records):
        try:
            one = _decode(decoder, [record], source, ingested_at)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"[:500]
            rejections.append(Rejection(index, PROCESSING_ERROR, detail))
            continue
        ids += one.ids
        tables.append(one.table)
        rejections += [Rejection(index, r.reason, r.detail) for r in one.rejections]
        dropped.update(one.dropped)
    if len(rejections) == len(records) and all(r.reason == PROCESSING_ERROR for r in rejections):
        raise first_error  # every record fails alike: the fault is not in the records
    table = pa.concat_tables(tables) if tables else BRONZE_EVENTS.schema.empty_table()
    return DecodedChunk(ids, table, rejections, dropped)


def _raw_json(value: msgspec.Raw) -> bytes | None:
    text = bytes(value)
    return None if text in (b"", b"null") else text


def _as_utf8(values: pa.Array) -> pa.Array:
    """Binary to string (the decoder rejected records that are not UTF-8)."""
    return values.cast(pa.string())


def quarantine_to_arrow(
    rows: Sequence[tuple[str, Rejection, str, bytes]], source: str, ingested_at: datetime
) -> pa.Table:
    """Build the `bronze.quarantine` table from (quarantine_id, rejection, position, raw)."""
    n = len(rows)
    day = ingested_at.astimezone(UTC).date()
    return pa.Table.from_pydict(
        {
            "quarantine_id": [r[0] for r in rows],
            "reason": [r[1].reason for r in rows],
            "detail": [r[1].detail for r in rows],
            "source": [source] * n,
            "source_position": [r[2] for r in rows],
            "raw": [bytes(r[3]) for r in rows],
            "raw_size": [r[3].size if isinstance(r[3], Oversized) else len(r[3]) for r in rows],
            "ingested_at": [ingested_at] * n,
            "event_date": [day] * n,
        },
        schema=BRONZE_QUARANTINE.schema,
    )


def unwritable_to_quarantine(
    events: pa.Table, detail: str, identity: str, source: str, position: str
) -> pa.Table:
    """`bronze.events` rows whose commit failed, as `bronze.quarantine` rows (`unwritable`).

    Their ids come from the event, not the batch, so a re-read after a crash (whatever
    the batch boundaries then) produces the same ids and nothing is quarantined twice.
    """
    raws = [text.encode() for text in events.column("raw").to_pylist()]
    rows = [
        (
            quarantine_id(identity, f"event:{event_id}", raw),
            Rejection(i, UNWRITABLE, detail),
            position,
            raw,
        )
        for i, (event_id, raw) in enumerate(
            zip(events.column("event_id").to_pylist(), raws, strict=True)
        )
    ]
    return quarantine_to_arrow(rows, source, datetime.now(UTC))
