"""The decode edge: real samples, every rejection reason, filters, stable ids, fuzzing."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.warehouse import sample_lines
from wikistream.events import decode as decode_module
from wikistream.events.arrow import decode_chunk
from wikistream.events.decode import (
    INVALID_TIMESTAMP,
    INVALID_TYPE,
    INVALID_UNICODE,
    MALFORMED_JSON,
    MISSING_DOMAIN,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    OUT_OF_RANGE,
    PROCESSING_ERROR,
    TOO_DEEP,
    TOO_LARGE,
    UNKNOWN_EVENT_TYPE,
    EventDecoder,
    event_id,
)
from wikistream.lakehouse.tables import BRONZE_EVENTS
from wikistream.settings import EVENT_TYPES

NOW = datetime(2026, 11, 23, tzinfo=UTC)
ALL = EventDecoder(["*"], EVENT_TYPES)


def _event(**fields: object) -> dict[str, object]:
    event: dict[str, object] = {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "dt": "2026-11-23T10:00:00Z",
            "id": "abc",
            "domain": "en.wikipedia.org",
            "stream": "mediawiki.recentchange",
        },
        "type": "edit",
        "namespace": 0,
        "title": "Foo",
        "user": "Alice",
        "bot": False,
        "timestamp": 1795000000,
        "wiki": "enwiki",
        "length": {"old": 10, "new": 25},
        "revision": {"old": 1, "new": 2},
    }
    event.update(fields)
    return event


def _encode(event: object) -> bytes:
    return msgspec.json.encode(event)


def _dt(text: str, **meta: object) -> dict[str, object]:
    return _event(meta={"dt": text, "id": text, "domain": "en.wikipedia.org", **meta})


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_every_real_sample_is_accepted_with_its_fields() -> None:
    lines = sample_lines()
    assert len(lines) == 5607
    chunk = decode_chunk(EventDecoder(["www.wikidata.org"], EVENT_TYPES), lines, "file:x", NOW)
    assert chunk.rejections == []
    assert chunk.table.num_rows == 5607
    assert chunk.table.schema == BRONZE_EVENTS.schema
    rows = chunk.table.to_pylist()
    first = rows[0]
    assert first["title"] == "Q3855005"
    assert first["topic"] == "eqiad.mediawiki.recentchange"
    assert first["offset"] == 759089343
    assert first["schema_uri"] == "mediawiki/recentchange/1"  # the 2018 shape
    assert first["length_old"] == 1007 and first["length_new"] == 1438
    assert first["event_ts"] == datetime(2018, 3, 7, 16, 16, 17, tzinfo=UTC)
    assert str(first["event_date"]) == "2018-03-07"
    logs = [r for r in rows if r["type"] == "log"]
    assert len(logs) == 27
    assert all(r["log_params"] is not None for r in logs)
    assert {r["type"] for r in rows} == {"edit", "new", "log"}
    assert len(set(chunk.ids)) == 5607  # meta.id is unique per event


def test_rejections_carry_a_reason_code() -> None:
    good = _event()
    cases = {
        b"{not json": MALFORMED_JSON,
        b"[1, 2]": NOT_AN_OBJECT,
        _encode({k: v for k, v in good.items() if k != "meta"}): MISSING_FIELD,
        _encode(_event(namespace="zero")): INVALID_TYPE,
        _encode(_event(meta={"dt": "yesterday", "domain": "x.org"})): INVALID_TIMESTAMP,
        _encode(_event(type="flow")): UNKNOWN_EVENT_TYPE,
        _encode(_event(meta={"dt": "2026-11-23T10:00:00Z"})): MISSING_DOMAIN,
        b'{"meta": ' + b" " * (1 << 20) + b"}": TOO_LARGE,
        b"\xff\xfe": INVALID_UNICODE,  # not UTF-8 at all
        # Found by fuzzing: both used to raise out of the decoder and fail the whole batch.
        _encode(_event()).replace(b'"Foo"', b'"F\xffoo"'): INVALID_UNICODE,  # not UTF-8
        _encode(_event(namespace=2**40)): OUT_OF_RANGE,  # bronze stores an int32
        _encode(
            _event(meta={"dt": "2026-11-23T10:00:00Z", "domain": "x.org", "partition": -(2**40)})
        ): OUT_OF_RANGE,
        # Valid under the schema, but no column can hold them (issue: they raised in the
        # Arrow build or the commit, and the supervisor restarted on the same batch forever).
        _encode(_event(timestamp=2**53 - 1)): OUT_OF_RANGE,  # rc timestamp beyond year 9999
        _encode(_event(id=2**64 - 1)): OUT_OF_RANGE,  # rcid beyond int64
        _encode(_event(length={"old": -(2**63) - 1})): OUT_OF_RANGE,
        _encode(_dt("0001-01-01T00:00:00+01:00")): OUT_OF_RANGE,  # before year 1 in UTC
        _encode(_dt("9999-12-31T23:30:00-01:00")): OUT_OF_RANGE,  # after 9999 in UTC
        _encode(_dt("0000-06-01T00:00:00Z")): OUT_OF_RANGE,  # RFC 3339 has a year 0
        _encode(_dt("2016-12-31T23:59:60Z")): INVALID_TIMESTAMP,  # a leap second
        _encode(_dt("2026-02-30T00:00:00Z")): INVALID_TIMESTAMP,
        _encode(_dt("2026-11-23 10:00:00Z")): INVALID_TIMESTAMP,  # not RFC 3339
        _encode(_event(title="x")).replace(b'"x"', b'"\\ud800"'): INVALID_UNICODE,
        # In parts the typed decode skips (found by the schema contract test): not UTF-8
        # there made the id of an event without meta.id raise, or was stored as U+FFFD.
        _encode(_event(log_params=["x"])).replace(b'"x"', b'"\xff"'): INVALID_UNICODE,
        _encode(
            _event(unlisted="x", meta={"dt": "2026-11-23T10:00:00Z", "domain": "a.org"})
        ).replace(b'"x"', b'"\xff"'): INVALID_UNICODE,  # no meta.id
        _encode(_event(unlisted="x")).replace(b'"x"', b'"\\udc00"'): INVALID_UNICODE,
        # Both an integral float and a lone surrogate: the surrogate is the reason.
        _encode(_event(revision={"old": 0.0}, server_url="x")).replace(
            b'"x"', b'"\\ud800"'
        ): INVALID_UNICODE,
        _encode(_event(log_params=[])).replace(b"[]", _nested(2000)): TOO_DEEP,
    }
    batch = ALL.decode(list(cases))
    assert [r.reason for r in batch.rejections] == list(cases.values())
    assert [r.index for r in batch.rejections] == list(range(len(cases)))
    assert batch.events == []


def test_event_times_are_cut_to_microseconds_never_rounded_and_kept_in_utc() -> None:
    texts = {
        "2020-12-31T23:59:59.9999999Z": datetime(2020, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "2020-12-31t23:59:59.123456789z": datetime(2020, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
        "2021-01-01T00:30:00+01:00": datetime(2020, 12, 31, 23, 30, tzinfo=UTC),
        "2018-03-07T16:16:17+00:00": datetime(2018, 3, 7, 16, 16, 17, tzinfo=UTC),
        "0001-01-01T00:00:00Z": datetime(1, 1, 1, tzinfo=UTC),
        "0000-12-31T23:30:00-01:00": datetime(1, 1, 1, 0, 30, tzinfo=UTC),  # year 0, local
        "9999-12-31T23:59:59.999999Z": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    }
    rows = decode_chunk(ALL, [_encode(_dt(t)) for t in texts], "s", NOW).table.to_pylist()
    assert [r["event_ts"] for r in rows] == list(texts.values())
    assert [r["event_date"] for r in rows] == [t.date() for t in texts.values()]


def test_integers_with_a_zero_fraction_are_integers_and_domains_are_lower_case() -> None:
    raw = _encode(_event(id=1.0, namespace=-1.0, log_id=1e3, length={"old": 2.0, "new": 5}))
    raw = raw.replace(b'"en.wikipedia.org"', b'"EN.Wikipedia.ORG"')
    row = decode_chunk(ALL, [raw], "s", NOW).table.to_pylist()[0]
    assert (row["rc_id"], row["namespace"], row["log_id"]) == (1, -1, 1000)
    assert (row["length_old"], row["length_new"]) == (2, 5)
    assert row["domain"] == "en.wikipedia.org"
    assert row["raw"] == raw.decode()  # the record itself is kept as it came
    fraction = decode_chunk(ALL, [_encode(_event(id=1.5))], "s", NOW)
    assert [r.reason for r in fraction.rejections] == [INVALID_TYPE]


def test_a_domain_in_another_case_is_filtered_and_dropped_like_its_lower_case() -> None:
    decoder = EventDecoder(["en.wikipedia.org"], EVENT_TYPES)
    records = [
        _encode(_dt("2026-11-23T10:00:00Z", domain=d))
        for d in ("EN.wikipedia.org", "Canary", "DE.wikipedia.org")
    ]
    batch = decoder.decode(records)
    assert batch.domains == ["en.wikipedia.org"]
    assert dict(batch.dropped) == {"canary": 1, "domain_filtered": 1}


def test_canaries_and_filtered_domains_and_types_are_dropped_not_quarantined() -> None:
    decoder = EventDecoder(["*.wikipedia.org"], ["edit", "new"])
    records = [
        _encode(_event(meta={"dt": "2026-11-23T10:00:00Z", "domain": "canary"})),
        _encode(_event(meta={"dt": "2026-11-23T10:00:00Z", "domain": "www.wikidata.org"})),
        _encode(_event(type="log")),
        _encode(_event()),
    ]
    batch = decoder.decode(records)
    assert batch.rejections == []
    assert dict(batch.dropped) == {"canary": 1, "domain_filtered": 1, "type_filtered": 1}
    assert len(batch.events) == 1


def test_nulls_and_absent_fields_are_both_accepted() -> None:
    event = _event(id=None, user=None, length={"new": 5}, revision={"new": 9})
    del event["$schema"]
    row = decode_chunk(ALL, [_encode(event)], "s", NOW).table.to_pylist()[0]
    assert row["rc_id"] is None and row["user"] is None
    assert row["length_old"] is None and row["length_new"] == 5
    assert row["revision_old"] is None and row["revision_new"] == 9


def test_log_params_of_every_shape_are_kept_as_json_text() -> None:
    shapes = [[], ["a", "2"], {"target": "X", "noredir": "0"}, "infinity"]
    records = [_encode(_event(type="log", log_type="move", log_params=p)) for p in shapes]
    rows = decode_chunk(ALL, records, "s", NOW).table.to_pylist()
    assert [msgspec.json.decode(r["log_params"]) for r in rows] == shapes


def test_event_id_is_stable_and_falls_back_to_the_canonical_event() -> None:
    with_id = _encode(_event())
    reordered = b'{"type":"edit",' + with_id[1:].replace(b'"type":"edit",', b"")
    a, b = ALL.decode([with_id, reordered]).ids
    assert a == b  # same meta.id, same event_id
    no_id = _event(meta={"dt": "2026-11-23T10:00:00Z", "domain": "en.wikipedia.org"})
    one = _encode(no_id)
    other_order = _encode(dict(reversed(list(no_id.items()))))
    decoded = ALL.decode([one, other_order])
    assert decoded.ids[0] == decoded.ids[1]  # canonical JSON ignores key order
    assert decoded.ids[0] != a
    assert event_id(decoded.events[0], one) == decoded.ids[0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_arbitrary_bytes_never_crash_and_are_all_accounted_for(records: list[bytes]) -> None:
    records = records + [
        b'{"meta": {"dt": "2026-11-23T10:00:00Z"}, "title": "' + r + b'"}' for r in records
    ]  # bytes inside a JSON string, where UTF-8 matters
    chunk = decode_chunk(ALL, records, "fuzz", NOW)
    accounted = chunk.table.num_rows + len(chunk.rejections) + sum(chunk.dropped.values())
    assert accounted == len(records)
    assert all(r.reason and r.detail is not None for r in chunk.rejections)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(sample_lines()[:200]),
    key=st.sampled_from(
        [
            "type",
            "namespace",
            "user",
            "bot",
            "length",
            "revision",
            "meta",
            "log_params",
            "timestamp",
            "title",
            "id",
            "comment",
        ]
    ),
    value=_json_values,
    cut=st.integers(min_value=0, max_value=2000),
)
def test_mutated_real_events_never_crash(base: bytes, key: str, value: object, cut: int) -> None:
    event = msgspec.json.decode(base)
    event[key] = value
    mutated = msgspec.json.encode(event)
    records = [mutated, mutated[:cut]]
    chunk = decode_chunk(ALL, records, "fuzz", NOW)
    assert chunk.table.num_rows + len(chunk.rejections) + sum(chunk.dropped.values()) == 2
    assert isinstance(chunk.table, pa.Table)


def test_a_record_that_makes_decoding_raise_is_isolated_not_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug that raises on one record (simulated: no real one is known) costs that record,
    as processing_error, never the records around it."""
    real = decode_module.event_id

    def buggy(event: object, raw: bytes) -> str:
        if b"BUG-TRIGGER" in raw:
            raise KeyError("a bug")
        return real(event, raw)  # type: ignore[arg-type]

    monkeypatch.setattr(decode_module, "event_id", buggy)
    records = [_encode(_dt(f"2026-11-23T10:00:0{i}Z")) for i in range(5)]
    records[3] = _encode(_event(title="BUG-TRIGGER"))
    chunk = decode_chunk(ALL, records, "s", NOW)
    assert [(r.index, r.reason) for r in chunk.rejections] == [(3, PROCESSING_ERROR)]
    assert "KeyError" in chunk.rejections[0].detail
    assert chunk.table.num_rows == 4
    monkeypatch.setattr(decode_module, "event_id", _always_raises)
    with pytest.raises(KeyError):  # every record alike: not the records' fault
        decode_chunk(ALL, records, "s", NOW)


def _always_raises(event: object, raw: bytes) -> str:
    raise KeyError("broken everywhere")
