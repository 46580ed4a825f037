"""LiftWing scores beside ours: a local stand-in that answers slowly, 429, 503, garbage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.events import event, run_cycle, write_bronze
from tests.support.liftwing_server import LiftWingStandIn
from tests.support.warehouse import make_settings, read_table
from wikistream.exceptions import ConfigError
from wikistream.lakehouse.store import Lakehouse
from wikistream.pipeline.liftwing import LiftWingScorer
from wikistream.settings import Settings

AT = "2026-11-23T12:00:0{}Z"


@pytest.fixture
def stand_in() -> Iterator[LiftWingStandIn]:
    server = LiftWingStandIn()
    yield server
    server.close()


def _settings(tmp_path: Path, url: str, **liftwing: object) -> Settings:
    return make_settings(
        tmp_path / "wh",
        liftwing={
            "enabled": True,
            "url": url,
            "wikis": ["enwiki"],
            "rate_per_s": 50,
            "timeout_s": 1,
            "attempts": 3,
            "user_agent": "WikiStreamTest/1 (tests@example.org)",
            **liftwing,
        },
    )


def _edits(settings: Settings, revisions: list[int], **kw: object) -> None:
    events = [
        event(AT.format(i % 10), f"User{i}", revision={"old": r - 1, "new": r}, **kw)  # type: ignore[arg-type]
        for i, r in enumerate(revisions)
    ]
    write_bronze(settings, events, "file:/data/edits.jsonl")


def _wait(scorer: LiftWingScorer, total: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(scorer.counts.values()) < total:
        assert time.monotonic() < deadline, dict(scorer.counts)
        time.sleep(0.1)


def test_edits_are_scored_through_slow_answers_429_503_and_garbage(
    tmp_path: Path, stand_in: LiftWingStandIn
) -> None:
    settings = _settings(tmp_path, stand_in.url)
    good, slow, limited, failing, garbage, unknown = 1250, 2100, 3400, 4900, 5000, 6000
    _edits(settings, [good, slow, limited, failing, garbage, unknown])
    _edits(settings, [1111], domain="de.wikipedia.org")  # not a configured wiki
    _edits(settings, [1222], type="log")  # not a revision
    run_cycle(settings, "silver")

    scorer = LiftWingScorer(Lakehouse(settings), interval_s=0.1).start()
    try:
        _wait(scorer, 6)
    finally:
        scorer.stop()
    assert dict(scorer.counts) == {"scored": 3, "unreachable": 1, "garbage": 1, "rejected": 1}

    rows = read_table(settings, "silver.liftwing_scores").sort_by("revision_id").to_pylist()
    assert [(r["revision_id"], r["probability"]) for r in rows] == [
        (good, 0.25),
        (limited, 0.4),
        (failing, 0.9),
    ]
    assert {r["model"] for r in rows} == {"revertrisk-language-agnostic"}
    asked = [body["rev_id"] for _, body, _ in stand_in.requests]
    assert 1111 not in asked and 1222 not in asked
    assert asked.count(slow) == 3 and asked.count(limited) == 2  # retried, then given up / ok
    first, second = (at for at, body, _ in stand_in.requests if body["rev_id"] == limited)
    assert second - first >= 1.0  # Retry-After: 1 was waited out
    assert {h["User-Agent"] for _, _, h in stand_in.requests} == {
        "WikiStreamTest/1 (tests@example.org)"
    }
    assert {body["lang"] for _, body, _ in stand_in.requests} == {"en"}


def test_a_full_queue_drops_and_counts_without_waiting(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "http://127.0.0.1:9/down:predict", queue_size=3)
    _edits(settings, list(range(1000, 1010)))
    run_cycle(settings, "silver")
    scorer = LiftWingScorer(Lakehouse(settings))  # not started: nothing takes from the queue
    started = time.monotonic()
    assert scorer.enqueue_new() == 3
    assert time.monotonic() - started < 5
    assert scorer.counts["queue_full"] == 7
    assert scorer.enqueue_new() == 0  # the position moved on: each edit is offered once


def test_the_url_must_be_https_unless_it_is_this_machine(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="https"):
        _settings(tmp_path, "http://api.wikimedia.org/service/lw/inference/v1/models/x:predict")
