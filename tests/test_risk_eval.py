"""`make eval` reproduces docs/risk.md from the vendored labelled edits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wikistream.layers.revert_risk import MODEL_PATH

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.integration, pytest.mark.long]


def _cell(metric: dict[str, object]) -> str:
    low, high = metric["ci95"]  # type: ignore[misc]
    return f"{metric['value']:.3f} ({low:.3f}-{high:.3f})"


def test_the_evaluation_reproduces_the_published_figures() -> None:
    result = subprocess.run(
        [sys.executable, "bench/risk_eval.py", "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout)
    testing = found["sets"]["editquality_testing"]
    ours = testing["revert_risk"]["all"]["roc_auc"]
    alone = testing["anonymous_alone"]["all"]["roc_auc"]
    assert ours["value"] > alone["value"]  # beats the best single feature
    assert ours["ci95"][0] < ours["value"] < ours["ci95"][1]
    stored = json.loads(MODEL_PATH.read_text())["evaluation"]
    assert (stored["roc_auc"], stored["ci95"]) == (ours["value"], ours["ci95"])

    rrtest = found["sets"]["rrtest"]
    assert rrtest["liftwing_language_agnostic"]["all"]["roc_auc"]["value"] == 0.865
    assert rrtest["liftwing_multilingual"]["all"]["roc_auc"]["value"] == 0.879
    assert rrtest["revert_risk"]["all"]["rows"] == 9_937  # the rows both LiftWing models scored

    doc = (ROOT / "docs" / "risk.md").read_text()
    assert _cell(ours) in doc
    assert _cell(rrtest["revert_risk"]["all"]["roc_auc"]) in doc
