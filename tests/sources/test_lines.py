"""Bounded line cutting: the same lines whatever the chunks, never more than a bound kept."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from wikistream.sources.lines import HEAD_BYTES, bounded_lines

LIMIT = 1024
pieces = st.lists(
    st.one_of(
        st.sampled_from([b"a", b"bb", b"\r", b"\n", b"\r\n", b"{}"]),
        st.integers(0, 3 * HEAD_BYTES).map(lambda n: b"x" * n),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(pieces, st.lists(st.integers(0, 10**6), max_size=12))
def test_lines_are_the_same_whatever_the_chunks_and_long_ones_are_cut(
    parts: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(parts)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    whole = list(bounded_lines([data], LIMIT))
    assert list(bounded_lines(chunks, LIMIT)) == whole
    expected = re.split(rb"\r\n|\r|\n", data)
    if expected and expected[-1] == b"":
        expected.pop()  # a terminator at the very end ends the last line
    assert [line.size for line in whole] == [len(e) for e in expected]
    for line, text in zip(whole, expected, strict=True):
        assert line.data == (text if len(text) <= LIMIT else text[:HEAD_BYTES])
        assert line.cut == (len(text) > LIMIT)
    assert (whole[-1].end if whole else 0) == len(data)
