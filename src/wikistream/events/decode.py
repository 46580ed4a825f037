"""Decode raw records into accepted events or dead letters, and accepted events into Arrow.

Never raises on bad input: every record ends up accepted, dropped on purpose (canary, domain
or type filter) or rejected with a reason code for `bronze.quarantine` (the codes are listed
in docs/architecture.md). An accepted event's values reach bronze unchanged, except the
documented normalisations: `meta.domain` in lower case, event times in UTC with at most six
fractional digits (cut, never rounded), integers written as `1.0` stored as `1`.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import pyarrow as pa

from wikistream.events import times
from wikistream.events.model import INTEGER_FIELDS, RecentChange
from wikistream.lakehouse.tables import BRONZE_EVENTS, BRONZE_QUARANTINE, TIMESTAMP

MAX_RECORD_BYTES = 1 << 20
KNOWN_TYPES = frozenset({"edit", "new", "log", "categorize", "external"})

# Reason codes written to bronze.quarantine.reason.
MALFORMED_JSON = "malformed_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
INVALID_TYPE = "invalid_type"
INVALID_TIMESTAMP = "invalid_timestamp"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
MISSING_DOMAIN = "missing_domain"
TOO_LARGE = "too_large"
OUT_OF_RANGE = "out_of_range"
INVALID_UNICODE = "invalid_unicode"
TOO_DEEP = "too_deep"

_decoder = msgspec.json.Decoder(RecentChange)
_any_decoder = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that goes to quarantine."""

    index: int
    reason: str
    detail: str


@dataclass(slots=True)
class DecodedBatch:
    """The outcome of decoding one list of raw records."""

    ids: list[str] = field(default_factory=list)
    events: list[RecentChange] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)  # lower case
    event_ts: pa.Array | None = None  # UTC microseconds, one per accepted event
    rejections: list[Rejection] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


class DomainFilter:
    """Allow-list of domains: exact names, glob patterns, or `*` for all."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._patterns = [p.lower() for p in patterns]
        self._all = "*" in self._patterns
        self._cache: dict[str, bool] = {}

    def allows(self, domain: str) -> bool:
        if self._all:
            return True
        verdict = self._cache.get(domain)
        if verdict is None:
            lowered = domain.lower()
            verdict = any(fnmatch.fnmatchcase(lowered, p) for p in self._patterns)
            if len(self._cache) < 100_000:
                self._cache[domain] = verdict
        return verdict


class EventDecoder:
    """Validates records against the recentchange model and the configured filters."""

    def __init__(self, domains: Iterable[str], types: Iterable[str]) -> None:
        self._domains = DomainFilter(domains)
        self._types = frozenset(types)

    def decode(self, records: Sequence[bytes]) -> DecodedBatch:
        out = DecodedBatch()
        indices: list[int] = []  # record index of each accepted event
        decode = _decoder.decode
        for index, raw in enumerate(records):
            if len(raw) > MAX_RECORD_BYTES:
                out.rejections.append(Rejection(index, TOO_LARGE, f"{len(raw)} bytes"))
                continue
            try:
                event = decode(raw)
            except msgspec.ValidationError as exc:
                lenient = _integral_floats(raw, exc)
                if lenient is None:
                    out.rejections.append(_rejection(index, exc))
                    continue
                event = lenient
            except msgspec.DecodeError as exc:
                out.rejections.append(_rejection(index, exc))
                continue
            except UnicodeDecodeError as exc:  # msgspec's error for bytes that are not UTF-8
                out.rejections.append(Rejection(index, INVALID_UNICODE, str(exc)[:500]))
                continue
            except RecursionError:
                out.rejections.append(Rejection(index, TOO_DEEP, _TOO_DEEP))
                continue
            domain = event.meta.domain or event.server_name
            if domain is None:
                out.rejections.append(Rejection(index, MISSING_DOMAIN, "no meta.domain"))
                continue
            domain = domain.lower()
            if domain == "canary":
                out.dropped["canary"] += 1
                continue
            kind = event.type
            if kind is not None and kind not in self._types:
                if kind in KNOWN_TYPES:
                    out.dropped["type_filtered"] += 1
                else:
                    out.rejections.append(Rejection(index, UNKNOWN_EVENT_TYPE, kind[:200]))
                continue
            if not self._domains.allows(domain):
                out.dropped["domain_filtered"] += 1
                continue
            out.ids.append(event_id(event, raw))
            out.events.append(event)
            out.raws.append(raw)
            out.domains.append(domain)
            indices.append(index)
        _event_times(out, indices)
        return out


_TOO_DEEP = "nested deeper than the decoder's limit (about 900 levels)"


def _integral_floats(raw: bytes, error: msgspec.ValidationError) -> RecentChange | None:
    """The event, if all that failed is an integer written as a number with a zero fraction
    (`1.0`, `1e3`: integers to JSON Schema); None otherwise. Runs only after a failure."""
    if "got `float`" not in str(error):
        return None
    try:
        document = _any_decoder.decode(raw)
        for path in INTEGER_FIELDS:
            parent = document
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            value = parent.get(path[-1]) if isinstance(parent, dict) else None
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**64:
                parent[path[-1]] = int(value)
        event: RecentChange = _decoder.decode(msgspec.json.encode(document))
    except (msgspec.DecodeError, msgspec.EncodeError, RecursionError, AttributeError):
        return None
    return event


def _event_times(out: DecodedBatch, indices: list[int]) -> None:
    """Parse every accepted event's `meta.dt` at once; reject the ones with no storable time."""
    stamps, bad = times.parse_times([e.meta.dt for e in out.events])
    out.event_ts = stamps
    if not bad:
        return
    for problem in bad:
        reason = OUT_OF_RANGE if problem.problem == times.OUT_OF_RANGE else INVALID_TIMESTAMP
        out.rejections.append(Rejection(indices[problem.index], reason,
                                        problem.describe("meta.dt")))  # fmt: skip
    out.rejections.sort(key=lambda r: r.index)
    keep = sorted(set(range(len(out.events))) - {b.index for b in bad})
    out.ids = [out.ids[i] for i in keep]
    out.events = [out.events[i] for i in keep]
    out.raws = [out.raws[i] for i in keep]
    out.domains = [out.domains[i] for i in keep]
    out.event_ts = stamps.take(pa.array(keep, pa.int64()))


def event_id(event: RecentChange, raw: bytes) -> str:
    """A stable id: a hash of `meta.id`, else of the event's canonical JSON."""
    if event.meta.id:
        key = b"m:" + event.meta.id.encode()
    else:
        key = b"c:" + msgspec.json.encode(_any_decoder.decode(raw), order="sorted")
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def quarantine_id(source: str, position: str, raw: bytes) -> str:
    """Identifies a dead letter so that re-reading the same input does not add it twice."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (source.encode(), b"\0", position.encode(), b"\0", raw):
        digest.update(part)
    return digest.hexdigest()


def _rejection(index: int, exc: msgspec.DecodeError) -> Rejection:
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        reason = INVALID_UNICODE if "surrogate" in message else MALFORMED_JSON
        return Rejection(index, reason, message[:500])
    if "missing required field" in message:
        reason = MISSING_FIELD
    elif message.startswith(("Expected `int` >=", "Expected `int` <=")):
        reason = OUT_OF_RANGE
    elif message.endswith("`$.meta.dt`"):
        reason = INVALID_TIMESTAMP
    elif message.startswith("Expected `object`") and " - at `" not in message:
        reason = NOT_AN_OBJECT
    else:
        reason = INVALID_TYPE
    return Rejection(index, reason, message[:500])


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
    rc_timestamp = times.seconds_to_timestamps(col([e.timestamp for e in events], pa.int64()))
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
        ),  # fmt: skip
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
    """Decode records and convert the accepted ones to Arrow in one step."""
    batch = decoder.decode(records)
    table = events_to_arrow(batch, source, ingested_at)
    return DecodedChunk(batch.ids, table, batch.rejections, batch.dropped)


def _raw_json(value: msgspec.Raw) -> bytes | None:
    text = bytes(value)
    return None if text in (b"", b"null") else text


def _as_utf8(values: pa.Array) -> pa.Array:
    """Binary to string; bytes that are not UTF-8 (possible inside skipped JSON) get U+FFFD."""
    try:
        return values.cast(pa.string())
    except pa.ArrowInvalid:
        texts = [None if v is None else v.decode("utf-8", "replace") for v in values.to_pylist()]
        return pa.array(texts, pa.string())


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
            "raw": [r[3] for r in rows],
            "raw_size": [len(r[3]) for r in rows],
            "ingested_at": [ingested_at] * n,
            "event_date": [day] * n,
        },
        schema=BRONZE_QUARANTINE.schema,
    )
