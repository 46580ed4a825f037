"""Each check type on small hand-built batches, plus properties of row-level checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wikistream.exceptions import ConfigError
from wikistream.quality.checks import Check, CheckSet, load_checks
from wikistream.quality.evaluate import evaluate

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _check(**fields: Any) -> Check:
    return Check.model_validate({"name": "c", **fields})


def _one(batch: pa.Table, check: Check, history: list[float] | None = None, **kw: Any) -> Any:
    outcome = evaluate(batch, [check], lambda _: history or [], **kw)
    return outcome, outcome.results[0]


USERS = pa.table({"user": ["a", None, "c", None, "e", "f", "g", "h", "i", "j"]})


def test_completeness_is_the_non_null_share() -> None:
    outcome, result = _one(USERS, _check(type="completeness", column="user", min_ratio=0.95))
    assert (result.verdict, result.metric_value, result.rows_failed) == ("fail", 0.8, 2)
    assert outcome.holds
    _, ok = _one(USERS, _check(type="completeness", column="user", min_ratio=0.8))
    assert ok.verdict == "pass"
    _, warn = _one(USERS, _check(type="completeness", column="user", min_ratio=1, level="warn"))
    assert warn.verdict == "fail"


def test_completeness_skips_batches_below_min_rows_so_one_row_cannot_trip_it() -> None:
    check = _check(type="completeness", column="user", min_ratio=0.95, min_rows=100)
    outcome, small = _one(USERS, check)  # 10 rows, 2 missing: too few to judge
    assert (small.verdict, small.rows_failed) == ("skipped", 2) and not outcome.holds
    many = pa.table({"user": [None] * 30 + ["a"] * 70})
    _, judged = _one(many, check)
    assert (judged.verdict, judged.metric_value) == ("fail", 0.7)


def test_one_failing_row_never_fails_its_batch_many_do() -> None:
    check = _check(type="validity", column="v", min=0, max=10)  # max_failed_ratio 0
    outcome, one = _one(pa.table({"v": [1, 2, 99]}), check)
    assert (one.verdict, one.rows_failed) == ("pass", 1) and not outcome.holds
    assert outcome.row_failures["c"].to_pylist() == [False, False, True]  # still quarantined
    _, five = _one(pa.table({"v": [99] * 5 + [1] * 95}), check)
    assert (five.verdict, five.rows_failed) == ("fail", 5)


def test_default_checks_accept_temporary_accounts_with_any_number_of_groups() -> None:
    names = ["~2025-31427-81", "~2025-12345-67890-1", "~2026-12345-67890-12345-6", "~2026-1"]
    batch = pa.table({"user": names, "user_kind": ["temporary"] * len(names)})
    [check] = [c for c in load_checks().silver if c.name == "temporary_account_name"]
    outcome, result = _one(batch, check)
    assert result.rows_failed == 0, outcome.row_failures["temporary_account_name"]


def test_uniqueness_counts_duplicates() -> None:
    batch = pa.table({"event_id": ["a", "b", "a", "c", "b", "a"]})
    _, result = _one(batch, _check(type="uniqueness", column="event_id"))
    assert (result.verdict, result.metric_value, result.rows_failed) == ("fail", 3.0, 3)


def test_validity_flags_each_bad_row_and_ignores_nulls_and_rows_outside_where() -> None:
    batch = pa.table(
        {
            "user": ["1.2.3.4", "Alice", "2001:db8::1", "bad-ip", None, "~2026-123"],
            "user_kind": ["ip", "registered", "ip", "ip", "ip", "temporary"],
        }
    )
    check = _check(
        type="validity",
        column="user",
        where="user_kind = 'ip'",
        regex=r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+)$",
        max_failed_ratio=0.2,
    )
    outcome, result = _one(batch, check)
    assert outcome.row_failures["c"].to_pylist() == [False, False, False, True, False, False]
    assert (result.verdict, result.rows_failed) == ("pass", 1)  # 1/6 <= 0.2
    strict = check.model_copy(update={"max_failed_ratio": 0.0, "min_failed_rows": 1})
    assert _one(batch, strict)[1].verdict == "fail"


def test_validity_allowed_values_and_ranges() -> None:
    batch = pa.table(
        {"region": ["europe", "atlantis", "asia", None], "score": [0.0, 101.0, 50.0, -1.0]}
    )
    outcome, result = _one(
        batch, _check(type="validity", column="region", allowed=["europe", "asia"])
    )
    assert outcome.row_failures["c"].to_pylist() == [False, True, False, False]
    outcome, _ = _one(batch, _check(type="validity", column="score", min=0, max=100))
    assert outcome.row_failures["c"].to_pylist() == [False, True, False, True]


def test_consistency_is_a_sql_condition_per_row() -> None:
    batch = pa.table(
        {"length_old": [100, 100, None], "length_new": [150, 150, 20], "length_delta": [50, 49, 20]}
    )
    check = _check(
        type="consistency",
        expr="length_old IS NULL OR length_new IS NULL OR length_delta = length_new - length_old",
    )
    outcome, result = _one(batch, check)
    assert outcome.row_failures["c"].to_pylist() == [False, True, False]
    assert outcome.failed_checks(outcome.failed_rows()).to_pylist() == [["c"]]


def test_timeliness_judges_live_sources_only() -> None:
    batch = pa.table(
        {
            "processing_lag_s": [5.0, 7200.0, 7200.0, 9000.0],
            "source": [
                "sse:https://x",
                "sse:https://x",
                "file:/data/a.jsonl",
                "synthetic:seed=1@2026-01-01T00:00:00Z",
            ],
        }
    )
    check = _check(
        type="timeliness",
        max_age_s=3600,
        column="processing_lag_s",
        exempt_sources="^(file:|synthetic:.*@)",
        level="warn",
        max_failed_ratio=0.5,
    )
    outcome, result = _one(batch, check)
    assert outcome.row_failures["c"].to_pylist() == [False, True, False, False]
    assert result.verdict == "pass" and not outcome.holds


def test_drift_learns_a_band_from_history_and_skips_small_batches() -> None:
    bots = pa.table({"is_bot": [True] * 20 + [False] * 80})  # share 0.2
    drift = _check(type="drift", column="is_bot", level="warn", min_rows=50, min_history=3)
    assert _one(bots, drift, [0.21, 0.19])[1].verdict == "skipped"  # still learning
    assert _one(bots, drift, [0.21, 0.19, 0.2, 0.22])[1].verdict == "pass"
    _, result = _one(bots, drift, [0.5, 0.52, 0.49, 0.51])
    assert result.verdict == "fail" and result.metric_value == pytest.approx(0.2)
    assert _one(bots.slice(0, 10), drift, [0.5] * 5)[1].verdict == "skipped"


def test_volume_is_events_per_minute_of_event_time() -> None:
    times = [T0 + timedelta(seconds=i * 6) for i in range(100)]  # 100 events over 9.9 min
    batch = pa.table({"event_ts": pa.array(times, pa.timestamp("us", tz="UTC"))})
    volume = _check(type="volume", column="event_ts", min_history=2, tolerance=0.5)
    _, result = _one(batch, volume, [10.0, 10.2, 9.9])
    assert result.verdict == "pass" and result.metric_value == pytest.approx(100 / 9.9)
    assert _one(batch, volume, [100.0, 101.0, 99.0])[1].verdict == "fail"


def test_reconcile_compares_a_total_with_the_input_rows() -> None:
    gold = pa.table({"scope": ["global", "entity", "global"], "events": [5, 5, 7]})
    check = _check(type="reconcile", column="events", where="scope = 'global'")
    assert _one(gold, check, reference_rows=12)[1].verdict == "pass"
    _, result = _one(gold, check, reference_rows=13)
    assert result.verdict == "fail" and "input rows = 13" in result.detail


def test_a_check_on_a_missing_column_fails_loudly_rather_than_passing() -> None:
    _, result = _one(USERS, _check(type="completeness", column="title", min_ratio=0.5))
    assert result.verdict == "fail" and "no column title" in result.detail


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(-5, 105)), min_size=1, max_size=60), st.floats(0, 1)
)
def test_row_level_failures_are_exactly_the_rows_out_of_range(
    values: list[int | None], max_failed: float
) -> None:
    batch = pa.table({"v": pa.array(values, pa.int64())})
    check = _check(type="validity", column="v", min=0, max=100, max_failed_ratio=max_failed)
    outcome, result = _one(batch, check)
    expected = [v is not None and not 0 <= v <= 100 for v in values]
    assert outcome.row_failures["c"].to_pylist() == expected
    assert result.rows_failed == sum(expected)
    too_many = sum(expected) / len(values) > max_failed and sum(expected) >= check.min_failed_rows
    assert (result.verdict == "fail") == too_many


def test_the_shipped_checks_load_and_cover_every_layer() -> None:
    checks = load_checks()
    assert {c.type for c in checks.silver} >= {
        "completeness",
        "validity",
        "uniqueness",
        "timeliness",
        "consistency",
        "drift",
    }
    assert any(c.type == "volume" for c in checks.bronze)
    assert any(c.type == "reconcile" for c in checks.gold)


def test_a_bad_checks_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "checks.toml"
    path.write_text('[[silver]]\nname = "x"\ntype = "completeness"\ncolumn = "user"\n')
    with pytest.raises(ConfigError, match="needs min_ratio"):
        load_checks(path)
    path.write_text('[[silver]]\nname = "x"\ntype = "nonsense"\n')
    with pytest.raises(ConfigError, match="silver.0.type"):
        load_checks(path)
    with pytest.raises(ConfigError, match="not found"):
        load_checks(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="duplicate"):
        CheckSet.model_validate(
            {"silver": [{"name": "a", "type": "uniqueness", "column": "x"}] * 2}
        )
