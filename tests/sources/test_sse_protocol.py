"""SSE framing as the WHATWG spec defines it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wikistream.sources.sse_protocol import Frame, FrameParser


def _feed(lines: list[str], parser: FrameParser | None = None) -> list[Frame]:
    parser = parser or FrameParser()
    return [f for f in (parser.feed(line) for line in lines) if f is not None]


def test_frames_comments_and_multiline_data() -> None:
    parser = FrameParser()
    frames = _feed(
        [
            ":ok",
            "",
            "event: message",
            'id: [{"offset":1}]',
            'data: {"a":',
            "data: 1}",
            "",
            ":heartbeat",
            "data:no-space",
            "",
        ],
        parser,
    )
    assert frames == [
        Frame("message", '{"a":\n1}', '[{"offset":1}]'),
        Frame("message", "no-space", '[{"offset":1}]'),  # the last id carries over
    ]
    assert parser.comments == 2


def test_error_events_ids_with_nul_and_unknown_fields() -> None:
    frames = _feed(
        ["event: error", "data: boom", "", "id: a\0b", "retry: 10", "x: y", "data: z", ""]
    )
    assert frames == [Frame("error", "boom", None), Frame("message", "z", None)]


def test_a_blank_line_without_data_dispatches_nothing() -> None:
    assert _feed(["id: 5", "", "event: message", ""]) == []


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"])), max_size=50))
def test_any_lines_never_crash(lines: list[str]) -> None:
    for frame in _feed([line.replace("\n", "").replace("\r", "") for line in lines]):
        assert frame.event
