"""How good is the revert risk? Labelled edits through the real pipeline, scored, measured.

Data (vendored with their licences in tests/data/labelled):
  editquality  19,868 enwiki edits of 2015, label "reverted within 48 h / 5 edits",
               split by its authors into training (14,979) and testing (4,862) sets
  rrtest       10,000 edits of 47 wikis, label "identity-reverted"; with the
               probabilities of Wikimedia's two LiftWing revert-risk models on the same edits

Each labelled edit becomes a recentchange event (what the set knows of it: anonymity, bot
or sysop group, words added/removed as bytes), the events go through a real warehouse
(bronze -> silver -> gold), and silver's `revert_risk` is read back and measured: ROC-AUC,
PR-AUC, precision at 100 and at 75 % recall, with bootstrap 95 % intervals (1,000
resamples, fixed seed), overall and split by anonymous / registered; beside the best single
feature and, on RRTest, the LiftWing models. Writes bench/results/risk_eval.json, the table
in docs/risk.md and the reliability plot docs/risk-reliability.png.

    .venv/bin/python bench/risk_eval.py          # evaluate the model in the repository
    .venv/bin/python bench/risk_eval.py --fit    # refit on the training split, then evaluate
"""

from __future__ import annotations

import argparse
import bz2
import csv
import json
import math
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LABELLED = ROOT / "tests" / "data" / "labelled"
RESULTS = Path(__file__).parent / "results" / "risk_eval.json"
DOC = ROOT / "docs" / "risk.md"
PLOT = ROOT / "docs" / "risk-reliability.png"
SEED = 20261207
RESAMPLES = 1000
FEATURES = ("anonymous", "bot", "log_words_added", "log_words_removed", "no_size_change")
START = datetime(2026, 11, 2, tzinfo=UTC)


# the labelled sets ------------------------------------------------------------------------


def editquality(split: str) -> list[dict[str, Any]]:
    """One row per edit: rev_id, label, anonymous, group (bot or sysop), words +/-."""
    path = LABELLED / "editquality" / f"enwiki.features_reverted.{split}.20k_2015.tsv.bz2"
    rows = []
    with bz2.open(path, "rt") as lines:
        for line in lines:
            cells = line.rstrip("\n").split("\t")
            rows.append(
                {
                    "id": int(cells[0]),
                    "wiki": "enwiki",
                    "label": cells[10] == "True",
                    "anonymous": cells[7] == "True",
                    "bot": cells[8] == "True",
                    "bytes": round((float(cells[2]) - float(cells[3])) * 6),
                }
            )
    return rows


def rrtest() -> list[dict[str, Any]]:
    """One row per edit: revision id, wiki, label, anonymous; sizes unknown."""
    liftwing: dict[int, tuple[float | None, float | None]] = {}
    with (LABELLED / "rrtest" / "liftwing_probabilities.csv").open() as found:
        for row in csv.DictReader(found):
            la, ml = row["language_agnostic"], row["multilingual"]
            liftwing[int(row["revision_id"])] = (
                float(la) if la else None,
                float(ml) if ml else None,
            )
    rows = []
    with (LABELLED / "rrtest" / "test_all_users_sample.csv").open() as found:
        for row in csv.DictReader(found):
            rev = int(row["revision_id"])
            la, ml = liftwing.get(rev, (None, None))
            rows.append(
                {
                    "id": rev,
                    "wiki": row["wiki_db"],
                    "label": row["revision_is_identity_reverted"] == "1",
                    "anonymous": row["user_is_anonymous"] == "True",
                    "bot": False,
                    "bytes": None,
                    "liftwing_language_agnostic": la,
                    "liftwing_multilingual": ml,
                }
            )
    return rows


def as_event(row: dict[str, Any], index: int) -> dict[str, Any]:
    """A recentchange event carrying what the labelled row knows."""
    wiki = row["wiki"]
    language = wiki.removesuffix("wiki")
    domain = "www.wikidata.org" if wiki == "wikidatawiki" else f"{language}.wikipedia.org"
    at = START + timedelta(seconds=index)
    event: dict[str, Any] = {
        "$schema": "/mediawiki/recentchange/1.0.0",
        "meta": {
            "dt": at.isoformat().replace("+00:00", "Z"),
            "id": f"labelled-{wiki}-{row['id']}",
            "domain": domain,
            "stream": "mediawiki.recentchange",
        },
        "type": "edit",
        "namespace": 0,
        "title": f"Page {index}",
        "comment": "",
        "bot": row["bot"],
        "user": f"192.0.2.{index % 250}" if row["anonymous"] else f"Editor{index}",
        "wiki": wiki,
        "revision": {"old": row["id"] - 1, "new": row["id"]},
    }
    if row["bytes"] is not None:
        old = max(20_000, 1_000 - row["bytes"])  # a page that held what was removed
        event["length"] = {"old": old, "new": old + row["bytes"]}
    return event


def through_pipeline(rows: list[dict[str, Any]], folder: Path) -> dict[tuple[str, int], float]:
    """The events of `rows` through a real warehouse; silver's revert_risk by (wiki,
    revision id)."""
    from wikistream.lakehouse.store import Lakehouse
    from wikistream.pipeline.process import Processor
    from wikistream.pipeline.runner import run_ingest
    from wikistream.settings import load_settings
    from wikistream.sources.file import FileSource

    path = folder / "events.jsonl"
    path.write_text("".join(json.dumps(as_event(r, i)) + "\n" for i, r in enumerate(rows)))
    settings = load_settings(warehouse=folder / "wh", filters={"domains": ["*"]})
    lakehouse = Lakehouse(settings)
    lakehouse.init()
    run_ingest(settings, FileSource(path))
    with Processor(lakehouse) as processor:
        processor.run()
    fields = ("wiki", "revision_new", "revert_risk")
    table = lakehouse.table("silver.events").scan(selected_fields=fields).to_arrow()
    keys = zip(
        table.column("wiki").to_pylist(), table.column("revision_new").to_pylist(), strict=True
    )
    return dict(zip(keys, table.column("revert_risk").to_pylist(), strict=True))


def pipeline_features(rows: list[dict[str, Any]], folder: Path) -> np.ndarray:
    """The model's features of `rows`, computed by the silver transform itself."""
    import pyarrow as pa

    from wikistream.events.arrow import decode_chunk
    from wikistream.events.decode import EventDecoder
    from wikistream.layers.revert_risk import features_of
    from wikistream.layers.silver import to_silver
    from wikistream.settings import EVENT_TYPES, SilverSettings

    records = [json.dumps(as_event(r, i)).encode() for i, r in enumerate(rows)]
    bronze = decode_chunk(EventDecoder(["*"], EVENT_TYPES), records, "fit", START).table
    silver = to_silver(bronze, SilverSettings(), datetime.now(UTC))
    order = {(r["wiki"], r["id"]): i for i, r in enumerate(rows)}
    keys = zip(silver["wiki"].to_pylist(), silver["revision_new"].to_pylist(), strict=True)
    at = [order[key] for key in keys]
    silver = silver.take(pa.array(sorted(range(silver.num_rows), key=at.__getitem__)))
    found = features_of(silver)
    return np.column_stack([found[name].to_numpy(zero_copy_only=False) for name in FEATURES])


# fitting ----------------------------------------------------------------------------------


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, rounds: int = 50) -> tuple[np.ndarray, int]:
    """Logistic regression by Newton's method (IRLS), an L2 penalty on the weights only."""
    design = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(design.shape[1])
    penalty = np.eye(design.shape[1]) * l2
    penalty[0, 0] = 0
    for done in range(1, rounds + 1):
        p = 1 / (1 + np.exp(-design @ beta))
        gradient = design.T @ (y - p) - penalty @ beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            return beta, done
    return beta, rounds


def refit(folder: Path) -> dict[str, Any]:
    from wikistream.layers.revert_risk import MODEL_PATH

    train = editquality("training")
    x = pipeline_features(train, folder)
    y = np.array([r["label"] for r in train], dtype=float)
    beta, rounds = fit(x, y)
    model = {
        "intercept": round(float(beta[0]), 6),
        "weights": {n: round(float(w), 6) for n, w in zip(FEATURES, beta[1:], strict=True)},
        "fitted": {
            "data": "wikimedia/editquality datasets/demo/"
            "enwiki.features_reverted.training.20k_2015.tsv.bz2 (MIT)",
            "rows": len(train),
            "reverted": int(y.sum()),
            "features": "computed by the silver transform from events built from each row",
            "method": "logistic regression, Newton's method (IRLS), L2 penalty 1.0 on weights",
            "rounds": rounds,
            "command": ".venv/bin/python bench/risk_eval.py --fit",
        },
    }
    MODEL_PATH.write_text(json.dumps(model, indent=2) + "\n")
    return model


# measuring --------------------------------------------------------------------------------


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """The probability that a reverted edit scores above a kept one (ties count half)."""
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    start = 0
    while start < len(s):  # average ranks over ties
        stop = start
        while stop + 1 < len(s) and sorted_s[stop + 1] == sorted_s[start]:
            stop += 1
        ranks[order[start : stop + 1]] = (start + stop) / 2 + 1
        start = stop + 1
    positives = y.sum()
    negatives = len(y) - positives
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision: precision at each reverted edit, in score order."""
    order = np.argsort(-s, kind="mergesort")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def precision_at_k(y: np.ndarray, s: np.ndarray, k: int = 100) -> float:
    return float(y[np.argsort(-s, kind="mergesort")[:k]].mean())


def precision_at_recall(y: np.ndarray, s: np.ndarray, recall: float = 0.75) -> float:
    order = np.argsort(-s, kind="mergesort")
    hits = np.cumsum(y[order])
    needed = int(math.ceil(recall * y.sum()))
    at = int(np.argmax(hits >= needed))
    return float(hits[at] / (at + 1))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": roc_auc,
    "pr_auc": pr_auc,
    "precision_at_100": precision_at_k,
    "precision_at_75_recall": precision_at_recall,
}


def measured(y: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Each metric with its bootstrap 95 % interval."""
    out: dict[str, Any] = {"rows": len(y), "reverted": int(y.sum())}
    samples = [rng.integers(0, len(y), len(y)) for _ in range(RESAMPLES)]
    for name, metric in METRICS.items():
        values = [metric(y[i], s[i]) for i in samples if 0 < y[i].sum() < len(i)]
        low, high = np.percentile(values, [2.5, 97.5])
        out[name] = {"value": round(metric(y, s), 3), "ci95": [round(low, 3), round(high, 3)]}
    return out


def scored_set(
    rows: list[dict[str, Any]], scores: dict[tuple[str, int], float], extra: dict[str, str]
) -> dict[str, Any]:
    """Metrics of revert_risk and of the comparison scores, overall and by editor kind."""
    rng = np.random.default_rng(SEED)
    keep = [r for r in rows if all(r.get(c) is not None for c in extra.values())]
    y = np.array([r["label"] for r in keep], dtype=float)
    anonymous = np.array([r["anonymous"] for r in keep])
    columns = {
        "revert_risk": np.array([scores[(r["wiki"], r["id"])] for r in keep]),
        "anonymous_alone": anonymous.astype(float),
        **{name: np.array([r[c] for r in keep], dtype=float) for name, c in extra.items()},
    }
    result: dict[str, Any] = {}
    for name, s in columns.items():
        result[name] = {"all": measured(y, s, rng)}
        if name == "anonymous_alone":
            continue  # constant within each kind: nothing to measure there
        for kind, mask in (("anonymous", anonymous), ("registered", ~anonymous)):
            if 0 < y[mask].sum() < mask.sum():
                result[name][kind] = measured(y[mask], s[mask], rng)
    result["_reliability"] = reliability(y, columns["revert_risk"])
    return result


def reliability(y: np.ndarray, s: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean predicted vs observed revert rate in ten equal-count bins of the score."""
    order = np.argsort(s, kind="mergesort")
    out = []
    for part in np.array_split(order, bins):
        out.append(
            {
                "rows": len(part),
                "predicted": round(float(s[part].mean()), 4),
                "observed": round(float(y[part].mean()), 4),
            }
        )
    return out


# reporting --------------------------------------------------------------------------------


def table_markdown(results: dict[str, Any]) -> str:
    lines = [
        "| set (label) | score | rows | ROC-AUC | PR-AUC | precision@100 "
        "| precision @ 75 % recall |",
        "|---|---|---:|---|---|---|---|",
    ]
    labels = {
        "editquality_testing": "editquality testing (reverted ≤ 48 h)",
        "rrtest": "RRTest (identity-reverted)",
    }
    for set_name, scores in results["sets"].items():
        for score, parts in scores.items():
            if score.startswith("_"):
                continue
            for part, m in parts.items():
                name = score if part == "all" else f"{score}, {part} only"
                cells = [
                    f"{m[k]['value']:.3f} ({m[k]['ci95'][0]:.3f}-{m[k]['ci95'][1]:.3f})"
                    for k in METRICS
                ]
                lines.append(
                    f"| {labels[set_name]} | {name} | {m['rows']:,} | " + " | ".join(cells) + " |"
                )
    return "\n".join(lines)


def write_doc(results: dict[str, Any]) -> None:
    text = DOC.read_text()
    begin, end = "<!-- risk-eval:begin -->", "<!-- risk-eval:end -->"
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    DOC.write_text(f"{head}{begin}\n{table_markdown(results)}\n{end}{tail}")


def plot(results: dict[str, Any]) -> str:
    """The reliability curve as SVG, rendered to PNG by headless chromium when present."""
    size, pad = 420, 50
    scale = size - 2 * pad

    def xy(p: float, o: float) -> str:
        return f"{pad + p * scale / 0.6:.1f},{size - pad - o * scale / 0.6:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>',
        f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#999" '
        'stroke-dasharray="4"/>',
        f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{size - pad}" stroke="black"/>',
        f'<line x1="{pad}" y1="{size - pad}" x2="{pad}" y2="{pad}" stroke="black"/>',
        f'<text x="{size / 2 - 60}" y="{size - 15}">predicted (0 - 0.6)</text>',
        f'<text x="10" y="{pad - 15}">observed revert rate (0 - 0.6)</text>',
    ]
    colours = {"editquality_testing": "#1f77b4", "rrtest": "#d62728"}
    for index, (name, scores) in enumerate(results["sets"].items()):
        bins = scores["_reliability"]
        points = " ".join(xy(min(b["predicted"], 0.6), min(b["observed"], 0.6)) for b in bins)
        colour = colours[name]
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts += [
            f'<circle cx="{xy(b["predicted"], b["observed"]).split(",")[0]}" '
            f'cy="{xy(b["predicted"], b["observed"]).split(",")[1]}" r="3" fill="{colour}"/>'
            for b in bins
            if b["predicted"] <= 0.6 and b["observed"] <= 0.6
        ]
        parts.append(
            f'<text x="{pad + 10}" y="{pad + 15 + 16 * index}" fill="{colour}">{name}</text>'
        )
    parts.append("</svg>")
    with tempfile.TemporaryDirectory() as folder:
        svg = Path(folder) / "plot.svg"
        svg.write_text("\n".join(parts))
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is None:
            return "chromium not found: plot not rendered"
        headless = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        shot = [f"--screenshot={PLOT}", f"--window-size={size},{size}", svg.as_uri()]
        subprocess.run([browser, *headless, *shot], check=True, capture_output=True, timeout=120)
    return str(PLOT.relative_to(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the weights first")
    parser.add_argument("--no-write", action="store_true", help="print only (tests)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wikistream-risk-") as folder:
        work = Path(folder)
        model = refit(work / "fit") if args.fit else None
        testing = editquality("testing")
        (work / "eq").mkdir()
        (work / "rr").mkdir()
        eq_scores = through_pipeline(testing, work / "eq")
        rows = rrtest()
        rr_scores = through_pipeline(rows, work / "rr")
    from wikistream.layers.revert_risk import MODEL_PATH

    results: dict[str, Any] = {
        "benchmark": "risk_eval",
        "seed": SEED,
        "resamples": RESAMPLES,
        "model": json.loads(MODEL_PATH.read_text()) if model is None else model,
        "sets": {
            "editquality_testing": scored_set(testing, eq_scores, {}),
            "rrtest": scored_set(
                rows,
                rr_scores,
                {
                    "liftwing_language_agnostic": "liftwing_language_agnostic",
                    "liftwing_multilingual": "liftwing_multilingual",
                },
            ),
        },
    }
    if not args.no_write:
        results["plot"] = plot(results)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        write_doc(results)
        testing = results["sets"]["editquality_testing"]
        evaluation = testing["revert_risk"]["all"]["roc_auc"]
        baseline = testing["anonymous_alone"]["all"]["roc_auc"]
        stored = json.loads(MODEL_PATH.read_text())
        stored["evaluation"] = {
            "data": "editquality testing split (held out from fitting)",
            "roc_auc": evaluation["value"],
            "ci95": evaluation["ci95"],
            "baseline": {"name": "anonymous editor alone", "roc_auc": baseline["value"]},
            "command": ".venv/bin/python bench/risk_eval.py",
        }
        MODEL_PATH.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
