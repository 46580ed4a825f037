"""Per-edit revert risk: the stored model applied as its docstring says, by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.support.events import bronze_rows, event
from tests.support.risk import edit_risk
from wikistream.layers.revert_risk import MODEL_PATH
from wikistream.layers.silver import to_silver
from wikistream.settings import SilverSettings

MODEL = json.loads(MODEL_PATH.read_text())
_by_hand = edit_risk


def _silver(events: list[dict[str, object]]) -> list[dict[str, object]]:
    rows = to_silver(bronze_rows(events), SilverSettings(), datetime.now(UTC))
    return rows.select(["title", "revert_risk", "revert_risk_reasons"]).sort_by("title").to_pylist()


def test_each_edit_gets_the_models_probability_and_the_reasons_that_raised_it() -> None:
    at = "2026-11-23T12:00:00Z"
    rows = _silver(
        [
            event(at, "192.0.2.7", old=9000, new=1000, title="a anonymous removal"),
            event(at, "Alice", old=100, new=160, title="b small addition"),
            event(at, "Alice", old=100, new=100, title="c no change"),
            event(at, "PyBot", old=100, new=400, bot=True, title="d bot"),
            event(at, "Carol", type="new", old=None, new=700, title="e new page"),
            event(at, "Dan", old=None, new=None, title="f sizes unknown"),
            event(at, "Eve", type="log", old=None, new=None, title="g log entry"),
            # beyond 2^53 bytes: no page is that long; rounded, never an error
            event(at, "Mallory", old=2**53 + 70_000, new=0, title="h absurd length"),
        ]
    )
    expected = [
        _by_hand(True, False, -8000),
        _by_hand(False, False, 60),
        _by_hand(False, False, 0),
        _by_hand(False, True, 300),
        _by_hand(False, False, 700),
        _by_hand(False, False, None),
    ]
    assert [r["revert_risk"] for r in rows[:6]] == pytest.approx(expected, abs=1e-4)
    assert rows[6]["revert_risk"] is None and rows[6]["revert_risk_reasons"] is None
    assert rows[0]["revert_risk_reasons"] == "anonymous editor; large removal"
    assert rows[1]["revert_risk_reasons"] == "no risk signals"
    assert rows[0]["revert_risk"] > 0.5 > rows[3]["revert_risk"]  # the order the weights say
    assert rows[7]["revert_risk"] == pytest.approx(_by_hand(False, False, -(2**53)), abs=1e-4)


def test_the_stored_model_says_how_it_was_fitted_and_evaluated() -> None:
    assert MODEL["fitted"]["rows"] == 14_979 and "training" in MODEL["fitted"]["data"]
    assert set(MODEL["weights"]) == {
        "anonymous",
        "bot",
        "log_words_added",
        "log_words_removed",
        "no_size_change",
    }
    evaluation = MODEL["evaluation"]
    assert "testing" in evaluation["data"] and evaluation["ci95"][0] < evaluation["roc_auc"]
