"""Events at the edges of the schema, among ordinary ones, through a real `wikistream run`.

No single event may stop the pipeline: the run ingests everything, exits 0 without a
restart, every ordinary event lands in bronze once, and every boundary event is either in
bronze with its value intact or in bronze.quarantine with its reason; silver and gold go on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.schema_events import ALLOWED_DOMAINS, bronze_values, expected_outcome
from tests.support.warehouse import make_settings, read_table, sample_lines
from wikistream.events.decode import EventDecoder
from wikistream.settings import EVENT_TYPES

pytestmark = pytest.mark.integration


def _event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "$schema": "/mediawiki/recentchange/1.0.1",
        "meta": {
            "dt": "2026-11-30T10:00:00Z",
            "stream": "mediawiki.recentchange",
            "domain": "en.wikipedia.org",
        },
        "type": "edit",
        "namespace": 0,
        "title": "Boundary",
        "user": "Edge",
        "bot": False,
        "length": {"old": 10, "new": 20},
        "revision": {"old": 1, "new": 2},
    }
    for key, value in fields.items():
        if key == "meta":
            event["meta"] = {**event["meta"], **value}
        elif value is _ABSENT:
            event.pop(key, None)
        else:
            event[key] = value
    return event


_ABSENT = object()


def _dt(text: str) -> dict[str, Any]:
    return {"meta": {"dt": text}}


BOUNDARY = [
    _event(timestamp=2**53 - 1),  # rc timestamp the schema allows, past year 9999
    _event(timestamp=-(2**53 - 1)),
    _event(timestamp=253402300799),  # the last second of 9999
    _event(id=2**63 - 1), _event(id=2**63), _event(id=-(2**63) - 1),
    _event(namespace=2**31 - 1), _event(namespace=2**31), _event(namespace=-(2**53 - 1)),
    _event(length={"old": 2**63, "new": 0}), _event(revision={"new": -(2**63)}),
    _event(id=1.0, namespace=1e2), _event(log_id=1e18),
    _event(**_dt("0001-01-01T00:00:00Z")), _event(**_dt("0001-01-01T00:00:00+00:01")),
    _event(**_dt("9999-12-31T23:59:59.999999Z")), _event(**_dt("9999-12-31T23:59:59-00:01")),
    _event(**_dt("0000-12-31T23:30:00-01:00")), _event(**_dt("0000-06-01T00:00:00Z")),
    _event(**_dt("2016-12-31T23:59:60Z")), _event(**_dt("2026-11-30t10:00:00.123456789z")),
    _event(**_dt("2026-12-31T23:59:59.9999999Z")), _event(**_dt("2026-02-29T00:00:00Z")),
    _event(type=_ABSENT), _event(user=_ABSENT), _event(namespace=_ABSENT),
    _event(title=_ABSENT, user=_ABSENT, type=_ABSENT, length=_ABSENT, revision=_ABSENT),
    _event(type="flow"), _event(type="1"), _event(meta={"domain": "EN.Wikipedia.ORG"}),
    _event(meta={"domain": "canary"}), _event(meta={"domain": "nl.wikivoyage.org"}),
    _event(title="\x00\u202e\U0001f600 \ufeff" * 100), _event(title="x" * 900_000),
    _event(comment="y" * (1 << 20)),  # the record passes 1 MiB
    _event(log_params=[[[[[]]]]] * 3, type="log"), _event(log_params="infinity", type="log"),
    _event(log_params={"target": "X", "noredir": "0"}, type="log"),
    _event(bot=None, minor=None, patrolled=None, id=None, log_type=None),
]  # fmt: skip


def _lines() -> tuple[list[bytes], list[tuple[dict[str, Any], bytes]], list[bytes]]:
    ordinary = sample_lines()[:3000]
    boundary = [(event, json.dumps(event).encode()) for event in BOUNDARY]
    boundary.append((_event(title="\udcff"), json.dumps(_event(title="\udcff")).encode()))
    lines = list(ordinary)
    for index, (_, raw) in enumerate(boundary):
        lines.insert(40 + index * 70, raw)  # spread through many batches
    return ordinary, boundary, lines


def test_boundary_events_never_stop_a_real_run(tmp_path: Path) -> None:
    ordinary, boundary, lines = _lines()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    warehouse = tmp_path / "wh"
    env = {
        **os.environ,
        "WIKISTREAM_FILTERS__DOMAINS": json.dumps(ALLOWED_DOMAINS),
        "WIKISTREAM_COMMIT__MAX_EVENTS": "500",
        "WIKISTREAM_SOURCE__CHUNK_EVENTS": "100",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wikistream",
            "--warehouse",
            str(warehouse),
            "run",
            "--source",
            f"file:{path}",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["events_read"] == len(lines)
    assert all(c["restarts"] == 0 for c in summary["components"].values())
    assert summary["layers"]["failed_cycles"] == 0 and summary["layers"]["held_by_gates"] == {}
    settings = make_settings(warehouse)
    events = read_table(settings, "bronze.events")
    counts = Counter(events.column("event_id").to_pylist())
    assert max(counts.values()) == 1
    ordinary_ids = set(EventDecoder(["*"], EVENT_TYPES).decode(ordinary).ids)
    assert ordinary_ids <= set(counts)
    by_raw = {row["raw"]: row for row in events.to_pylist()}
    quarantine = read_table(settings, "bronze.quarantine").to_pylist()
    dead = {bytes(r["raw"]): r["reason"] for r in quarantine}
    # A record over the limit is kept as its first bytes, with its full size.
    for row in quarantine:
        cut = [raw for _, raw in boundary if row["raw_size"] == len(raw) > len(row["raw"])]
        dead.update({raw: row["reason"] for raw in cut if raw.startswith(row["raw"])})
    outcomes: Counter[str] = Counter()
    for event, raw in boundary:
        outcome = expected_outcome(event, raw)
        outcomes[outcome.kind] += 1
        if outcome.kind == "accepted":
            row = by_raw[raw.decode()]
            wanted = bronze_values(event, outcome)
            log_params = wanted.pop("log_params")
            assert {k: row[k] for k in wanted} == wanted
            assert (json.loads(row["log_params"]) if row["log_params"] else None) == log_params
        elif outcome.kind == "quarantined":
            assert dead.get(raw) in outcome.reasons, (event.get("meta"), dead.get(raw))
        else:
            assert raw.decode(errors="replace") not in by_raw and raw not in dead
    assert outcomes["accepted"] >= 15 and outcomes["quarantined"] >= 15
    silver = read_table(settings, "silver.events").num_rows
    quarantined = read_table(settings, "silver.quarantine").num_rows
    assert silver + quarantined == events.num_rows  # every bronze event reached silver
