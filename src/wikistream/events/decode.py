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
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec
import pyarrow as pa

from wikistream.events import timestamps
from wikistream.events.model import INTEGER_FIELDS, RecentChange
from wikistream.sources.base import MAX_RECORD_BYTES, Oversized

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
UNWRITABLE = "unwritable"  # the commit failed because of this event's values
PROCESSING_ERROR = "processing_error"  # decoding it raised (a bug): isolated, not fatal

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
    indices: list[int] = field(default_factory=list)  # the record each event came from
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

    def __init__(
        self, domains: Iterable[str], types: Iterable[str], max_bytes: int = MAX_RECORD_BYTES
    ) -> None:
        self._domains = DomainFilter(domains)
        self._types = frozenset(types)
        self._max_bytes = max_bytes

    def decode(self, records: Sequence[bytes]) -> DecodedBatch:
        out = DecodedBatch()
        decode = _decoder.decode
        not_utf8 = _not_utf8(records)
        limit = self._max_bytes
        for index, raw in enumerate(records):
            if len(raw) > limit or isinstance(raw, Oversized):
                size = raw.size if isinstance(raw, Oversized) else len(raw)
                out.rejections.append(Rejection(index, TOO_LARGE, f"{size} bytes"))
                continue
            if not_utf8 and index in not_utf8:
                out.rejections.append(Rejection(index, INVALID_UNICODE, not_utf8[index]))
                continue
            try:
                event = decode(raw)
            except msgspec.ValidationError as exc:
                lenient = _integral_floats(raw, exc)
                if not isinstance(lenient, RecentChange):
                    out.rejections.append(_rejection(index, lenient, raw))
                    continue
                event = lenient
            except msgspec.DecodeError as exc:
                out.rejections.append(_rejection(index, exc, raw))
                continue
            except RecursionError:
                out.rejections.append(Rejection(index, TOO_DEEP, _TOO_DEEP))
                continue
            domain = event.meta.domain or event.server_name
            if not domain:
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
            out.indices.append(index)
        _event_times(out)
        return out


_TOO_DEEP = "nested deeper than the decoder's limit (about 900 levels)"


def _integral_floats(
    raw: bytes, error: msgspec.ValidationError
) -> RecentChange | msgspec.DecodeError:
    """The event, if what failed was an integer written as a number with a zero fraction
    (`1.0`, `1e3`: integers to JSON Schema); else the error to report. Runs only after a
    failure, so the usual path pays nothing for it."""
    if "got `float`" not in str(error):
        return error
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
    except msgspec.DecodeError as second:
        return second  # another problem (a fraction, bad text…): that one is the reason
    except (msgspec.EncodeError, RecursionError):
        return error
    return event


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _lone_surrogate(message: str, raw: bytes) -> bool:
    """Whether msgspec refused well-formed JSON because a string escapes a lone UTF-16
    surrogate (JSON's grammar admits it; Unicode text cannot hold it). Failure path only."""
    if "surrogate" in message:
        return True
    if not _SURROGATE_ESCAPE.search(raw):
        return False
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _not_utf8(records: Sequence[bytes]) -> dict[int, str]:
    """Records that are not UTF-8 (anywhere, also in parts a typed decode would skip), by
    index, with what is wrong: stored as text, they could only be changed. One vectorised
    check; record by record only when it finds something."""
    try:
        pa.array(records, pa.binary()).cast(pa.string())
        return {}
    except pa.ArrowInvalid:
        pass
    bad: dict[int, str] = {}
    for index, raw in enumerate(records):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[index] = str(exc)[:500]
    return bad


def _event_times(out: DecodedBatch) -> None:
    """Parse every accepted event's `meta.dt` at once; reject the ones with no storable time."""
    stamps, problems = timestamps.parse_times([e.meta.dt for e in out.events])
    out.event_ts = stamps
    bad = {
        p.index: Rejection(
            out.indices[p.index],
            OUT_OF_RANGE if p.problem == timestamps.OUT_OF_RANGE else INVALID_TIMESTAMP,
            p.describe("meta.dt"),
        )
        for p in problems
    }
    _reject(out, bad)


def _reject(out: DecodedBatch, bad: dict[int, Rejection]) -> None:
    """Move accepted events (by their position in `out`) to the rejections."""
    if not bad:
        return
    out.rejections.extend(bad.values())
    out.rejections.sort(key=lambda r: r.index)
    keep = [i for i in range(len(out.events)) if i not in bad]
    out.ids = [out.ids[i] for i in keep]
    out.events = [out.events[i] for i in keep]
    out.raws = [out.raws[i] for i in keep]
    out.domains = [out.domains[i] for i in keep]
    out.indices = [out.indices[i] for i in keep]
    if out.event_ts is not None:
        out.event_ts = out.event_ts.take(pa.array(keep, pa.int64()))


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


def _rejection(index: int, exc: msgspec.DecodeError, raw: bytes) -> Rejection:
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        reason = INVALID_UNICODE if _lone_surrogate(message, raw) else MALFORMED_JSON
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
