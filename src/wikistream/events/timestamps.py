"""Event times: RFC 3339 texts (`meta.dt`) to UTC microseconds, a whole batch at a time.

The schema's `date-time` is RFC 3339: `T`/`Z` in either case, any number of fractional
digits, an offset `Z` or `±hh:mm`. Iceberg stores microseconds, so digits past the sixth are
cut off (never rounded: rounding could move an event into the next second, hour or day).
An offset is applied; the instant must fall in 0001-01-01..9999-12-31 UTC, the range every
engine reading the tables can represent. Anything else is reported, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP = pa.timestamp("us", tz="UTC")

# RFC 3339 section 5.6 `date-time` (leap second 60 included, so it can be named below).
RFC3339 = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_US = int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000
MAX_US = (
    int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000
    + 999_999
)
MIN_UNIX_S, MAX_UNIX_S = MIN_US // 1_000_000, MAX_US // 1_000_000

NOT_RFC3339, NO_INSTANT, OUT_OF_RANGE = "not_rfc3339", "no_instant", "out_of_range"


@dataclass(frozen=True, slots=True)
class BadTime:
    """A text that is no storable instant: which one, and why."""

    index: int
    problem: str  # NOT_RFC3339 | NO_INSTANT | OUT_OF_RANGE
    text: str

    def describe(self, field: str) -> str:
        shown = self.text if len(self.text) <= 80 else self.text[:80] + "…"
        if self.problem == NOT_RFC3339:
            return f"{field} {shown!r} is not an RFC 3339 date-time"
        if self.problem == NO_INSTANT:
            return f"{field} {shown!r} names no instant (a leap second or an impossible date)"
        return f"{field} {shown!r} is outside 0001-01-01..9999-12-31 UTC"


def parse_times(texts: list[str]) -> tuple[pa.Array, list[BadTime]]:
    """UTC microsecond timestamps for `texts`, null where the text is bad, and the bad ones."""
    values = pa.array(texts, pa.string())
    well_formed = pc.fill_null(pc.match_substring_regex(values, RFC3339), False)
    candidates = pc.if_else(well_formed, values, pa.scalar(None, pa.string()))
    stamps = _cast(candidates)
    micros = stamps.cast(pa.int64())
    in_range = pc.and_kleene(pc.greater_equal(micros, MIN_US), pc.less_equal(micros, MAX_US))
    bad: list[BadTime] = []
    if not pc.all(well_formed).as_py():
        for index in pc.indices_nonzero(pc.invert(well_formed)).to_pylist():
            bad.append(BadTime(index, NOT_RFC3339, texts[index]))
    unstorable = pc.and_(well_formed, pc.invert(pc.fill_null(in_range, False)))
    if pc.any(unstorable).as_py():
        for index in pc.indices_nonzero(unstorable).to_pylist():
            problem = NO_INSTANT if stamps[index].is_valid is False else OUT_OF_RANGE
            bad.append(BadTime(index, problem, texts[index]))
        stamps = pc.if_else(pc.fill_null(in_range, False), stamps, pa.scalar(None, TIMESTAMP))
    return stamps, sorted(bad, key=lambda b: b.index)


def _cast(candidates: pa.Array) -> pa.Array:
    """Arrow's ISO-8601 parser, after the one normalisation it needs (upper-case `T`/`Z`,
    at most six fractional digits); texts it still refuses become null."""
    try:
        return candidates.cast(TIMESTAMP)
    except pa.ArrowInvalid:
        pass
    normalized = pc.replace_substring_regex(pc.utf8_upper(candidates), r"(\.[0-9]{6})[0-9]+", r"\1")
    try:
        return normalized.cast(TIMESTAMP)
    except pa.ArrowInvalid:
        pass
    parsed: list[int | None] = []  # one at a time: some text is no instant at all
    for text in normalized.to_pylist():
        try:
            parsed.append(pa.scalar(text, pa.string()).cast(TIMESTAMP).value)
        except (pa.ArrowInvalid, TypeError):
            parsed.append(None)
    return pa.array(parsed, pa.int64()).cast(TIMESTAMP)


def seconds_to_timestamps(seconds: pa.Array) -> pa.Array:
    """Unix seconds (already known to be in range) as UTC microsecond timestamps."""
    return pc.multiply_checked(seconds.cast(pa.int64()), 1_000_000).cast(TIMESTAMP)
