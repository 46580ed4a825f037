"""The revert risk of one edit by hand, from the stored model (as layers/revert_risk.py says)."""

from __future__ import annotations

import json
import math

from wikistream.layers.revert_risk import MODEL_PATH

MODEL = json.loads(MODEL_PATH.read_text())


def edit_risk(anonymous: bool, bot: bool, delta: int | None) -> float:
    """The probability the model gives an edit of `delta` bytes (None: sizes unknown)."""
    weights = MODEL["weights"]
    logit = MODEL["intercept"] + weights["anonymous"] * anonymous + weights["bot"] * bot
    if delta is not None:
        logit += weights["log_words_added"] * math.log(1 + max(delta, 0) / 6)
        logit += weights["log_words_removed"] * math.log(1 + max(-delta, 0) / 6)
        logit += weights["no_size_change"] * (delta == 0)
    return 1 / (1 + math.exp(-logit))


def hour_score(*edits: float) -> float:
    """An editor's hour: 100 x the chance that at least one of the edits is reverted."""
    kept = math.prod(1 - round(p, 4) for p in edits)
    return round(100 * (1 - kept), 2)
