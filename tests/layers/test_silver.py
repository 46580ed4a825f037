"""bronze -> silver on small, tricky inputs, checked against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.events import bronze_rows, event
from tests.support.warehouse import TEST_RUNNER
from wikistream.engine import configure_engine
from wikistream.lakehouse.tables import SILVER_EVENTS
from wikistream.layers.silver import to_silver
from wikistream.settings import EngineSettings, SilverSettings

PROCESSED = datetime(2026, 11, 23, 12, 0, 10, tzinfo=UTC)


def _silver(events: list[dict[str, object]], **settings: object) -> dict[str, dict[str, object]]:
    configure_engine(EngineSettings(runner=TEST_RUNNER))
    table = to_silver(bronze_rows(events), SilverSettings(**settings), PROCESSED)  # type: ignore[arg-type]
    assert table.schema == SILVER_EVENTS.schema
    return {row["title"]: row for row in table.to_pylist()}


def test_enrichment_lengths_and_flags() -> None:
    rows = _silver(
        [
            event("2026-11-23T12:00:00Z", "2001:DB8::1", title="ipv6", old=10_000, new=4_000),
            event("2026-11-23T12:00:01Z", "~2025-31427-81", title="temp", old=0, new=60_000),
            event("2026-11-23T12:00:02Z", "Bob\u200b", title="nolen", old=None, new=None),
            event(
                "2026-11-23T12:00:03Z",
                "Carol",
                title="newpage",
                type="new",
                old=None,
                new=700,
                revision={"new": 42},
            ),
            event(
                "2026-11-23T12:59:59Z",
                "Dan",
                title="log",
                type="log",
                old=None,
                new=None,
                log_type="delete",
                log_action="delete",
                log_params=[],
            ),
            event("2026-11-23T12:00:04Z", "Eve", title="unknown", domain="xx.example.org"),
            event("2026-11-23T12:00:05Z", "PyBot", title="bot", bot=True),
            event("2026-11-23T12:00:06Z", None, title="redacted"),
        ]
    )
    ipv6 = rows["ipv6"]
    assert (ipv6["user_kind"], ipv6["is_anonymous"], ipv6["length_delta"]) == ("ip", True, -6000)
    assert ipv6["is_large_deletion"] and not ipv6["is_large_addition"]
    assert (ipv6["region"], ipv6["language"]) == ("anglosphere", "en")
    assert ipv6["event_hour"] == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert ipv6["processing_lag_s"] == 10.0
    temp = rows["temp"]
    assert (temp["user_kind"], temp["is_anonymous"], temp["is_large_addition"]) == (
        "temporary",
        True,
        True,
    )
    nolen = rows["nolen"]
    assert nolen["user"] == "Bob" and nolen["length_delta"] is None
    assert not nolen["is_large_deletion"] and not nolen["is_large_addition"]
    newpage = rows["newpage"]
    assert newpage["length_delta"] == 700 and newpage["revision_new"] == 42
    assert newpage["revision_old"] is None
    log = rows["log"]
    assert (log["log_type"], log["length_delta"]) == ("delete", None)
    assert log["event_hour"] == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert rows["unknown"]["region"] == "other"  # unknown domains are kept
    assert rows["bot"]["user_kind"] == "bot" and rows["bot"]["is_bot"]
    assert rows["redacted"]["user"] is None and not rows["redacted"]["is_anonymous"]


def test_thresholds_are_configurable() -> None:
    rows = _silver(
        [event("2026-11-23T12:00:00Z", title="x", old=1000, new=0)], large_deletion_bytes=-500
    )
    assert rows["x"]["is_large_deletion"]


def test_reverts_name_the_reverted_user() -> None:
    rows = _silver(
        [
            event(
                "2026-11-23T12:00:00Z",
                "Patroller",
                title="r",
                comment="Undid revision 5 by 192.0.2.7 (talk)",
            ),
        ]
    )
    assert (rows["r"]["is_revert"], rows["r"]["revert_method"], rows["r"]["reverted_user"]) == (
        True,
        "undo",
        "192.0.2.7",
    )


def test_duplicates_within_a_batch_become_one_row() -> None:
    same = event("2026-11-23T12:00:00Z", title="dup", id="same-id")
    configure_engine(EngineSettings(runner=TEST_RUNNER))
    table = to_silver(bronze_rows([same, same, same]), SilverSettings(), PROCESSED)
    assert table.num_rows == 1
