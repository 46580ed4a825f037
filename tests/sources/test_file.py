"""`file:PATH`: NDJSON, gzip and SSE captures, resumed from any committed position."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from wikistream.exceptions import ConfigError, InputBroken
from wikistream.sources.base import Oversized
from wikistream.sources.file import FileSource
from wikistream.sources.lines import HEAD_BYTES

RECORDS = [b'{"n": %d}' % i for i in range(25)]


def _read_all(source: FileSource, start: str | None = None) -> list[tuple[bytes, str | None]]:
    return [
        (record, position)
        for batch in source.batches(start)
        for record, position in zip(batch.records, batch.positions, strict=True)
    ]


def _ndjson(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(RECORDS[:10]) + b"\n\n" + b"\r\n".join(RECORDS[10:]) + b"\n")
    return path


def test_ndjson_records_positions_and_chunks(tmp_path: Path) -> None:
    source = FileSource(_ndjson(tmp_path), chunk_events=4)
    batches = list(source.batches(None))
    assert [len(b.records) for b in batches] == [4, 4, 4, 4, 4, 4, 1]
    read = _read_all(source)
    assert [r for r, _ in read] == RECORDS  # blank lines skipped, CRLF stripped


@pytest.mark.parametrize("cut", [0, 1, 7, 13, 24])
def test_resuming_from_any_record_position_reads_exactly_the_rest(tmp_path: Path, cut: int) -> None:
    source = FileSource(_ndjson(tmp_path), chunk_events=3)
    read = _read_all(source)
    rest = _read_all(source, read[cut][1])
    assert [r for r, _ in rest] == RECORDS[cut + 1 :]


def test_gzip_is_detected_and_resumable(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(RECORDS) + b"\n"))
    source = FileSource(path, chunk_events=10)
    read = _read_all(source)
    assert [r for r, _ in read] == RECORDS
    assert [r for r, _ in _read_all(source, read[4][1])] == RECORDS[5:]


def test_sse_capture_is_replayed_frame_by_frame(tmp_path: Path) -> None:
    capture = (
        ":ok\n\n"
        + "".join(
            f'event: message\nid: [{{"offset": {i}}}]\ndata: {r.decode()}\n\n'
            for i, r in enumerate(RECORDS)
        )
        + "event: error\ndata: stream closed\n\n"
    )
    path = tmp_path / "capture.sse"
    path.write_text(capture)
    source = FileSource(path, chunk_events=7)
    read = _read_all(source)
    assert [r for r, _ in read] == RECORDS  # the error event is not data
    assert [r for r, _ in _read_all(source, read[11][1])] == RECORDS[12:]


def test_bad_paths_and_positions_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        FileSource(tmp_path / "missing.jsonl")
    source = FileSource(_ndjson(tmp_path))
    with pytest.raises(ConfigError, match="byte offset"):
        list(source.batches("abc"))


@pytest.mark.parametrize("compressed", [False, True])
def test_a_line_longer_than_the_limit_is_handed_on_cut_and_the_rest_still_comes(
    tmp_path: Path, compressed: bool
) -> None:
    huge = b'{"comment": "' + b"x" * 300_000 + b'"}'
    data = b"\n".join([RECORDS[0], huge, RECORDS[1], b"y" * 5000]) + b"\n" + RECORDS[2]
    path = tmp_path / ("events.jsonl.gz" if compressed else "events.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    read = _read_all(FileSource(path, max_record_bytes=4096))
    records = [record for record, _ in read]
    assert records[0] == RECORDS[0] and records[2] == RECORDS[1] and records[4] == RECORDS[2]
    for record, size in ((records[1], len(huge)), (records[3], 5000)):
        assert isinstance(record, Oversized) and record.size == size
        assert len(record) == HEAD_BYTES and data.find(bytes(record)) >= 0
    positions = [int(p) for _, p in read if p is not None]
    assert positions == sorted(positions)
    resumed = _read_all(FileSource(path, max_record_bytes=4096), read[1][1])
    assert [r for r, _ in resumed] == records[2:]  # resumes after the cut record


def test_a_truncated_gzip_hands_on_what_came_before_then_says_it_is_broken(tmp_path: Path) -> None:
    data = b"\n".join(b'{"n": %d, "pad": "%s"}' % (i, b"p" * 200) for i in range(20_000))
    whole = gzip.compress(data)
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    read: list[bytes] = []
    with pytest.raises(InputBroken, match="compressed data is corrupt or cut short"):
        for batch in FileSource(path).batches(None):
            read += batch.records
    assert 0 < len(read) < 20_000
    assert read == data.split(b"\n")[: len(read)]


def test_a_file_that_vanishes_or_cannot_be_read_is_broken_input(tmp_path: Path) -> None:
    path = _ndjson(tmp_path)
    source = FileSource(path)
    path.unlink()
    with pytest.raises(InputBroken, match="the file is gone"):
        list(source.batches(None))


def test_a_file_is_cut_into_parts_of_whole_lines_and_fingerprinted(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    line = b'{"title": "' + b"x" * 500 + b'"}'
    path.write_bytes(b"\n".join([line] * 8_000) + b"\n")  # about 4 MiB
    source = FileSource(path)
    parts = source.parts(3)
    data = path.read_bytes()
    assert parts[0].first == 0 and parts[-1].end == len(data) and len(parts) == 3
    for before, after in zip(parts, parts[1:], strict=False):
        assert before.end == after.first and data[after.first - 1 : after.first] == b"\n"
    assert sum(p.records for p in parts) == 8_000
    assert len(source.parts(1)) == 1  # one worker: the file whole
    assert len(source.parts(64)) <= len(data) // (1 << 20)  # parts of at least 1 MiB
    printed = source.fingerprint()
    assert (printed.size, printed.records) == (len(data), 8_000)
    packed = tmp_path / "history.jsonl.gz"
    packed.write_bytes(gzip.compress(data))
    assert FileSource(packed).fingerprint().records == 8_000
    assert len(FileSource(packed).parts(3)) == 1  # a gzip file cannot be entered midway
