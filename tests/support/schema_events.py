"""Hypothesis strategies for recentchange events, generated from Wikimedia's schema itself.

The schema file (tests/data/schemas) is walked: every property it lists, with every type it
allows, absent or present (null where the schema allows null), integers at and beyond their
boundaries, every `log_params` shape, any Unicode, huge strings, and properties the schema
does not list (it allows them with any value). `expected_outcome` is the oracle: what the
decode edge must do with an event, from the rules in docs/architecture.md.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.support.warehouse import SCHEMAS

SCHEMA: dict[str, Any] = json.loads(
    (SCHEMAS / "mediawiki-recentchange-1.0.1.json").read_text(encoding="utf-8")
)

WIKIS = [
    "en.wikipedia.org",
    "de.wikipedia.org",
    "www.wikidata.org",
    "commons.wikimedia.org",
    "ja.wikipedia.org",
    "ar.wikipedia.org",
    "canary",
]
ALLOWED_DOMAINS = ["*.wikipedia.org", "www.wikidata.org", "commons.wikimedia.org"]
EVENT_TYPES = ["edit", "new", "log", "categorize", "external"]

# Integers where the stored column ends, and just past it.
BOUNDARIES = [
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**53 - 1,
    -(2**53 - 1),
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64,
    -62135596800,
    253402300799,
    253402300800,
    -62135596801,
]
NO_BOUND = 2**70

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-NO_BOUND, NO_BOUND)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    _json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _text(node: dict[str, Any]) -> st.SearchStrategy[str]:
    low = node.get("minLength", 0)
    high = node.get("maxLength")
    small = st.text(min_size=low, max_size=min(high or 40, 40))
    huge = st.builds(lambda c, n: c * n, st.characters(), st.sampled_from([1_000, 100_000]))
    return st.one_of(small, small, small, huge.filter(lambda t: high is None or len(t) <= high))


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    """Any RFC 3339 date-time: year 0000-9999, any fraction length, either case, offsets,
    and now and then a leap second (RFC 3339 allows one; no storable instant has it)."""
    year = draw(st.one_of(st.integers(0, 9999), st.sampled_from([0, 1, 1970, 2026, 9999])))
    month = draw(st.integers(1, 12))
    days = [
        31,
        29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][month - 1]
    day = draw(st.one_of(st.integers(1, days), st.just(days)))
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    second = draw(st.one_of(st.integers(0, 59), st.integers(0, 59), st.just(60)))
    digits = draw(st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=12)))
    fraction = f".{digits}" if digits else ""
    offset = draw(
        st.one_of(
            st.sampled_from(["Z", "z"]),
            st.builds(
                lambda s, h, m: f"{s}{h:02d}:{m:02d}",
                st.sampled_from("+-"),
                st.integers(0, 23),
                st.integers(0, 59),
            ),
        )
    )
    t = draw(st.sampled_from("Tt"))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{t}{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"
    )


def _integer(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = node.get("minimum", -NO_BOUND), node.get("maximum", NO_BOUND)
    edges = [b for b in BOUNDARIES if low <= b <= high]
    whole_floats = st.integers(max(low, -(2**53)), min(high, 2**53)).map(float)
    return st.one_of(st.sampled_from(edges), st.integers(low, high), whole_floats)


def _domain() -> st.SearchStrategy[str]:
    mixed_case = st.builds(
        lambda d, flips: "".join(c.upper() if i in flips else c for i, c in enumerate(d)),
        st.sampled_from(WIKIS),
        st.sets(st.integers(0, 25), max_size=4),
    )
    return st.one_of(st.sampled_from(WIKIS), mixed_case, st.text(min_size=1, max_size=30))


def _of_type(kind: str, node: dict[str, Any], name: str) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return _integer(node)
    if kind == "string":
        if node.get("format") == "date-time":
            return rfc3339()
        if name == "domain":
            return _domain()
        if name == "type":
            return st.one_of(st.sampled_from(EVENT_TYPES), _text(node))
        return _text(node)
    if kind == "array":
        deep = st.builds(lambda d: json.loads("[" * d + "]" * d), st.sampled_from([5, 200]))
        return st.one_of(st.lists(JSON_VALUES, max_size=4), deep)
    if kind == "object":
        return (
            _object(node)
            if "properties" in node
            else st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)
        )
    raise AssertionError(f"the schema has a type this generator does not know: {kind}")


def value_for(node: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return st.one_of(*(_of_type(kind, node, name) for kind in kinds))


# EventStreams adds these to `meta` (not in the schema); they always carry these types.
_EVENTSTREAMS_META = {
    "topic": st.sampled_from(["eqiad.mediawiki.recentchange", "codfw.mediawiki.recentchange"]),
    "partition": st.integers(0, 2**31 - 1),
    "offset": st.integers(-1, 2**63 - 1),
}
_UNLISTED = st.sampled_from(["title_url", "notify_url", "x_extra", "ünïcode", "rev_slots", ""])


def _object(node: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = node.get("properties", {})
    required = {k: value_for(properties[k], k) for k in node.get("required", [])}
    optional = {k: value_for(v, k) for k, v in properties.items() if k not in required}
    if "dt" in properties:  # meta
        optional.update(_EVENTSTREAMS_META)
    listed = st.fixed_dictionaries(required, optional=optional)
    unlisted = st.dictionaries(
        _UNLISTED.filter(lambda k: k not in properties), JSON_VALUES, max_size=2
    )
    return st.builds(lambda a, b: {**b, **a}, listed, unlisted)


EVENTS: st.SearchStrategy[dict[str, Any]] = _object(SCHEMA)


def encode(event: dict[str, Any], ascii_only: bool) -> bytes:
    """The event as the stream sends it (UTF-8 JSON, or with \\u escapes). A lone surrogate
    becomes a `\\ud800` escape, or the bytes UTF-8 has no place for."""
    text = json.dumps(event, ensure_ascii=ascii_only, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


# -- the oracle ------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2}):(\d{2}))$"
)
_INT_COLUMNS = {
    ("namespace",): 31,
    ("meta", "partition"): 31,
    ("id",): 63,
    ("log_id",): 63,
    ("length", "old"): 63,
    ("length", "new"): 63,
    ("revision", "old"): 63,
    ("revision", "new"): 63,
    ("meta", "offset"): 63,
}
_MIN_TS, _MAX_TS = -62135596800, 253402300799


@dataclass
class Outcome:
    """What must become of one event."""

    kind: str  # accepted | dropped | quarantined
    reasons: set[str] = field(default_factory=set)  # any of these (several problems)
    event_ts: datetime | None = None
    domain: str | None = None
    why: list[str] = field(default_factory=list)  # the values behind a quarantine


def event_time(text: str) -> tuple[datetime | None, str | None]:
    """The stored instant of an RFC 3339 text (cut to microseconds), or the reason code."""
    match = _RFC3339.match(text)
    if match is None:
        return None, "invalid_timestamp"
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micros = int((match.group(7) or "0")[:6].ljust(6, "0"))
    if second == 60:
        return None, "invalid_timestamp"
    offset = timedelta(0)
    if match.group(9):
        sign = 1 if match.group(9) == "+" else -1
        offset = sign * timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
    # Shifted by 400 years (the Gregorian calendar repeats exactly) so that year 0 and the
    # edges of 1..9999 can be computed with datetime, then shifted back.
    shift = 400 if year <= 400 else -400
    try:
        local = datetime(year + shift, month, day, hour, minute, second, micros)
    except ValueError:
        return None, "invalid_timestamp"
    utc = local - offset
    if not 1 <= utc.year - shift <= 9999:
        return None, "out_of_range"
    return utc.replace(year=utc.year - shift, tzinfo=UTC), None


def _number_problem(value: Any, bits: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "invalid_type"
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            return "invalid_type"
        value = int(value)
    return None if -(2**bits) <= value <= 2**bits - 1 else "out_of_range"


def _get(event: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = event
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def expected_outcome(event: dict[str, Any], raw: bytes) -> Outcome:
    """What the decode edge must do with `event` under `filters.domains = ALLOWED_DOMAINS`."""
    if len(raw) > 1 << 20:
        return Outcome("quarantined", {"too_large"})
    problems: set[str] = set()
    why: list[str] = []
    if _has_surrogate(event):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:  # a surrogate written as bytes: never UTF-8
            return Outcome("quarantined", {"invalid_unicode"})
        problems.add("invalid_unicode")  # as a \\ud800 escape: found while parsing
    if _depth(event) > 800:
        problems.add("too_deep")
    for path, bits in _INT_COLUMNS.items():
        problem = _number_problem(_get(event, path), bits)
        if problem:
            problems.add(problem)
            why.append(f"{'.'.join(path)}={_get(event, path)!r}")
    stamp = event.get("timestamp")
    if isinstance(stamp, float) and stamp.is_integer():
        stamp = int(stamp)
    if isinstance(stamp, int) and not _MIN_TS <= stamp <= _MAX_TS:
        problems.add("out_of_range")
        why.append(f"timestamp={stamp!r}")
    if problems:
        return Outcome("quarantined", problems, why=why)
    meta = event["meta"]
    domain = meta.get("domain") or event.get("server_name")
    if not domain:
        return Outcome("quarantined", {"missing_domain"})
    domain = domain.lower()
    if domain == "canary":
        return Outcome("dropped", {"canary"})
    kind = event.get("type")
    if kind is not None and kind not in EVENT_TYPES:
        return Outcome("quarantined", {"unknown_event_type"})
    if not any(_glob(pattern, domain) for pattern in ALLOWED_DOMAINS):
        return Outcome("dropped", {"domain_filtered"})
    when, problem = event_time(meta["dt"])
    if problem is not None:
        return Outcome("quarantined", {problem})
    return Outcome("accepted", event_ts=when, domain=domain)


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _glob(pattern: str, domain: str) -> bool:
    regex = "^" + re.escape(pattern).replace(r"\*", ".*") + "$"
    return re.match(regex, domain, re.DOTALL) is not None


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def as_int(value: Any) -> Any:
    """A schema integer as stored: 1.0 -> 1."""
    return int(value) if isinstance(value, float) else value


def bronze_values(event: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    """The bronze.events columns an accepted event must have (raw, ids and times aside)."""
    meta = event["meta"]
    length, revision = event.get("length") or {}, event.get("revision") or {}
    stamp = as_int(event.get("timestamp"))
    log_params = event.get("log_params")
    return {
        "meta_id": meta.get("id"),
        "request_id": meta.get("request_id"),
        "schema_uri": event.get("$schema") or meta.get("schema_uri"),
        "stream": meta.get("stream"),
        "topic": meta.get("topic"),
        "partition": meta.get("partition"),
        "offset": meta.get("offset"),
        "domain": outcome.domain,
        "wiki": event.get("wiki"),
        "rc_id": as_int(event.get("id")),
        "type": event.get("type"),
        "namespace": as_int(event.get("namespace")),
        "title": event.get("title"),
        "comment": event.get("comment"),
        "user": event.get("user"),
        "bot": event.get("bot"),
        "minor": event.get("minor"),
        "patrolled": event.get("patrolled"),
        "server_url": event.get("server_url"),
        "rc_timestamp": None
        if stamp is None
        else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=stamp),
        "length_old": as_int(length.get("old")),
        "length_new": as_int(length.get("new")),
        "revision_old": as_int(revision.get("old")),
        "revision_new": as_int(revision.get("new")),
        "log_id": as_int(event.get("log_id")),
        "log_type": event.get("log_type"),
        "log_action": event.get("log_action"),
        "log_params": log_params,
        "event_ts": outcome.event_ts,
        "event_date": outcome.event_ts.date() if outcome.event_ts else None,
    }
