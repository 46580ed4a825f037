"""`file:PATH`: NDJSON, gzip and SSE captures, resumed from any committed position."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from wikistream.exceptions import ConfigError
from wikistream.sources.file import FileSource

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
    capture = ":ok\n\n" + "".join(
        f"event: message\nid: [{{\"offset\": {i}}}]\ndata: {r.decode()}\n\n"
        for i, r in enumerate(RECORDS)
    ) + "event: error\ndata: stream closed\n\n"  # fmt: skip
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
