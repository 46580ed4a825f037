"""Per-edit revert risk: the probability that an edit is reverted, from what its event says.

A logistic model over the features a recentchange event carries and labelled data can fit:

    anonymous         the editor is an IP or temporary account
    bot               the bot flag
    log_words_added   log(1 + words added), estimated from the bytes added (6 bytes a word)
    log_words_removed log(1 + words removed), estimated from the bytes removed
    no_size_change    the page length did not change

Its weights (`revert_risk_model.json`) were fitted by `bench/risk_eval.py --fit` on the
training split of editquality's labelled enwiki edits, and evaluated on the held-out split
(docs/risk.md). Edits and new pages are scored; log entries and category changes are not
revisions that can be reverted (null). Causal: only the event itself is used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

MODEL_PATH = Path(__file__).with_name("revert_risk_model.json")
BYTES_PER_WORD = 6.0  # an English word and its space, on average
REASON_AT = 0.25  # a feature adding at least this much log-odds is named as a reason
REASONS = {
    "anonymous": "anonymous editor",
    "log_words_added": "large addition",
    "log_words_removed": "large removal",
    "no_size_change": "no size change",
    "bot": "bot",
}


@dataclass(frozen=True)
class RevertRiskModel:
    """Intercept and weights of the logistic model, by feature name."""

    intercept: float
    weights: dict[str, float]

    def probability(self, features: dict[str, float]) -> float:
        """One edit's probability (for tests and the evaluation)."""
        logit = self.intercept + sum(w * features[n] for n, w in self.weights.items())
        return 1 / (1 + math.exp(-logit))


@cache
def load_model(path: Path = MODEL_PATH) -> RevertRiskModel:
    found = json.loads(path.read_text())
    return RevertRiskModel(float(found["intercept"]), dict(found["weights"]))


def features_of(rows: pa.Table) -> dict[str, pa.Array]:
    """The model's features of silver rows (is_anonymous, is_bot, length_delta)."""
    # A length beyond 2^53 bytes is no page: rounded, not an error (one event never stops silver).
    known = _flat(rows, "length_delta").cast(pa.float64(), safe=False)
    delta = pc.fill_null(known, 0.0)  # unknown sizes: no size signal either way
    added = pc.max_element_wise(delta, 0.0)
    removed = pc.max_element_wise(pc.negate(delta), 0.0)
    return {
        "anonymous": _as_number(_flat(rows, "is_anonymous")),
        "bot": _as_number(_flat(rows, "is_bot")),
        "log_words_added": pc.log1p(pc.divide(added, BYTES_PER_WORD)),
        "log_words_removed": pc.log1p(pc.divide(removed, BYTES_PER_WORD)),
        "no_size_change": _as_number(pc.equal(known, 0.0)),
    }


def revert_risk(rows: pa.Table, model: RevertRiskModel | None = None) -> tuple[pa.Array, pa.Array]:
    """Per row: the revert probability (null unless an edit or a new page) and the
    features that raised it most, as text ("anonymous editor; large removal")."""
    model = model or load_model()
    features = features_of(rows)
    logit = pa.repeat(pa.scalar(model.intercept), rows.num_rows)
    code = pa.repeat(pa.scalar(0, pa.int64()), rows.num_rows)  # bit i: feature i raised it
    names = list(model.weights)
    for bit, name in enumerate(names):
        contribution = pc.multiply(features[name], model.weights[name])
        logit = pc.add(logit, contribution)
        raised = pc.greater_equal(contribution, REASON_AT).cast(pa.int64())
        code = pc.add(code, pc.multiply(raised, 1 << bit))
    probability = pc.divide(1.0, pc.add(1.0, pc.exp(pc.negate(logit))))
    scored = pc.is_in(pc.fill_null(_flat(rows, "type"), ""), pa.array(["edit", "new"]))
    nothing = pa.scalar(None, pa.float64())
    reasons = _reason_texts(tuple(names)).take(code)
    return (
        pc.round(pc.if_else(scored, probability, nothing), 4),
        pc.if_else(scored, reasons, pa.scalar(None, pa.string())),
    )


@cache
def _reason_texts(names: tuple[str, ...] | list[str]) -> pa.Array:
    """The text of every combination of raised features, indexed by its bit mask."""
    texts = []
    for code in range(1 << len(names)):
        found = [REASONS[n] for bit, n in enumerate(names) if code & (1 << bit)]
        texts.append("; ".join(found) or "no risk signals")
    return pa.array(texts, pa.string())


def _flat(rows: pa.Table, name: str) -> pa.Array:
    """One contiguous array: element-wise kernels want their inputs chunked alike."""
    return rows.column(name).combine_chunks()


def _as_number(flags: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pc.fill_null(flags, False).cast(pa.float64())
