"""What the dashboard shows, read from the gold tables (silver for drill-downs).

Every read is bounded: a few `event_date` partitions around the newest data, the columns a
view needs, and filters bound as Iceberg literals (a user name from a request is a value,
never text spliced into a query). "Now" is the newest event silver holds, so a warehouse
filled yesterday still shows its last hours.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wikistream.alerts.router import recent_alerts
from wikistream.lakehouse.documents import RUN_STATE
from wikistream.lakehouse.positions import newest_event_ts
from wikistream.lakehouse.reads import rows_of
from wikistream.lakehouse.store import Lakehouse
from wikistream.lakehouse.tables import (
    DQ_RESULTS,
    GOLD_METRICS_10MIN,
    GOLD_RISK,
    SILVER_EVENTS,
)
from wikistream.layers.revert_risk import MODEL_PATH
from wikistream.ops.health import health
from wikistream.quality.audit import latest_gates, summarize
from wikistream.web.models import (
    Activity,
    AlertSent,
    Deletion,
    EditorMix,
    Gates,
    LayerFreshness,
    RiskEntry,
    RiskModel,
    TableHealth,
    UserEdit,
    WikiNow,
)

WINDOW = timedelta(minutes=10)
_LAYER_TABLES = {
    "bronze": ("bronze.events",),
    "silver": ("silver.events",),
    "gold": ("gold.hourly_stats", "gold.metrics_10min", "gold.risk_scores", "gold.daily_summary"),
}


def data_until(lakehouse: Lakehouse) -> datetime | None:
    """The newest event silver holds (from its snapshot summaries: no data is read)."""
    silver = lakehouse.find(SILVER_EVENTS.identifier)
    stamp = newest_event_ts(silver) if silver is not None else None
    return datetime.fromisoformat(stamp) if stamp else None


def recent_windows(lakehouse: Lakehouse, until: datetime, hours: float) -> pa.Table:
    """gold.metrics_10min rows (global and per wiki) of the `hours` up to `until`."""
    first = _window_of(until) - timedelta(hours=hours) + WINDOW
    columns = ("scope", "entity", "window_start", "events", "edits", "bot_share", "anonymous_share")
    rows = rows_of(
        lakehouse,
        GOLD_METRICS_10MIN,
        "event_date",
        _days(first, until),
        columns,
        where={"scope": ["global", "entity"]},
    )
    starts = rows.column("window_start")
    return rows.filter(pc.greater_equal(starts, pa.scalar(first, starts.type)))


def activity(windows: pa.Table, until: datetime, hours: float, wikis: int = 5) -> Activity:
    """Edits per minute per window over `hours`, overall and for the `wikis` busiest wikis
    (windows without events count 0; none before the warehouse's first window)."""
    last = _window_of(until)
    count = max(1, round(hours * 3600 / WINDOW.total_seconds()))
    starts = [last - WINDOW * (count - 1 - i) for i in range(count)]
    per: dict[tuple[str, datetime], int] = {}
    busiest: dict[str, int] = defaultdict(int)
    for row in windows.to_pylist():
        key = "" if row["scope"] == "global" else row["entity"]
        per[(key, _utc(row["window_start"]))] = row["edits"]
        if key:
            busiest[key] += row["edits"]
    top = sorted(busiest, key=lambda d: (-busiest[d], d))[:wikis]
    minutes = WINDOW.total_seconds() / 60

    def series(key: str) -> list[float]:
        return [round(per.get((key, start), 0) / minutes, 2) for start in starts]

    # A warehouse younger than `hours` starts at its first window (an hour at least).
    seen = [i for i, start in enumerate(starts) if ("", start) in per]
    skip = min(seen[0] if seen else 0, max(0, count - 6))
    starts = starts[skip:]
    return Activity(
        times=[int(s.timestamp()) for s in starts],
        total=series(""),
        wikis={domain: series(domain) for domain in top},
    )


def top_wikis(windows: pa.Table, until: datetime, limit: int) -> list[WikiNow]:
    """The busiest wikis of the last hour of data, by events."""
    rows = _last_hour(windows, until, "entity")
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        total = totals[row["entity"]]
        total["events"] += row["events"]
        total["edits"] += row["edits"]
        total["bots"] += (row["bot_share"] or 0.0) * row["events"]
        total["anonymous"] += (row["anonymous_share"] or 0.0) * row["events"]
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1]["events"], kv[0]))[:limit]
    return [
        WikiNow(
            domain=domain,
            events=int(t["events"]),
            edits=int(t["edits"]),
            edits_per_min=round(t["edits"] / 60, 2),
            bot_share=round(t["bots"] / t["events"], 4) if t["events"] else 0.0,
            anonymous_share=round(t["anonymous"] / t["events"], 4) if t["events"] else 0.0,
        )
        for domain, t in ranked
    ]


def editor_mix(windows: pa.Table, until: datetime) -> EditorMix:
    """Bots, registered humans and anonymous editors among the last hour's events."""
    rows = _last_hour(windows, until, "global")
    events = sum(r["events"] for r in rows)
    bots = sum((r["bot_share"] or 0.0) * r["events"] for r in rows)
    anonymous = sum((r["anonymous_share"] or 0.0) * r["events"] for r in rows)
    bot, anon = (bots / events, anonymous / events) if events else (0.0, 0.0)
    starts = [_utc(r["window_start"]) for r in rows]
    return EditorMix(
        since=min(starts).isoformat() if starts else None,
        until=(max(starts) + WINDOW).isoformat() if starts else None,
        events=events,
        bot=round(bot, 4),
        anonymous=round(anon, 4),
        human=round(max(0.0, 1.0 - bot - anon), 4),
    )


def risk_model() -> RiskModel | None:
    """The revert risk's evaluated ROC-AUC, from the model file `make eval` writes."""
    evaluation = json.loads(MODEL_PATH.read_text()).get("evaluation")
    if not evaluation:
        return None
    baseline = evaluation.get("baseline", {})
    return RiskModel(
        roc_auc=evaluation["roc_auc"],
        ci95=evaluation["ci95"],
        data=evaluation["data"],
        baseline=baseline.get("name", ""),
        baseline_roc_auc=baseline.get("roc_auc", 0.0),
    )


def risk_leaders(lakehouse: Lakehouse, until: datetime, limit: int) -> list[RiskEntry]:
    """Users by their highest risk score in the last two hours of data (gold.risk_scores)."""
    first = until.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    columns = (
        "user",
        "user_kind",
        "window_start",
        "risk_score",
        "risk_level",
        "reasons",
        "edits",
        "large_deletions",
        "domains",
    )
    rows = rows_of(lakehouse, GOLD_RISK, "event_date", _days(first, until), columns)
    starts = rows.column("window_start")
    rows = rows.filter(pc.greater_equal(starts, pa.scalar(first, starts.type)))
    # Best first; then each user's first row is their highest score. Only the top is
    # turned into Python objects (a busy day has hundreds of thousands of rows).
    rows = rows.sort_by(
        [("risk_score", "descending"), ("user", "ascending"), ("window_start", "descending")]
    )
    ranked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for offset in range(0, rows.num_rows, 512):
        for row in rows.slice(offset, 512).to_pylist():
            if row["user"] not in seen and len(ranked) < limit:
                seen.add(row["user"])
                ranked.append(row)
        if len(ranked) >= limit:
            break
    return [
        RiskEntry(
            **{
                **r,
                "window_start": _utc(r["window_start"]).isoformat(),
                "reasons": [p for p in r["reasons"].split("; ") if p],
            }
        )
        for r in ranked
    ]


def user_edits(lakehouse: Lakehouse, until: datetime, user: str, limit: int) -> list[UserEdit]:
    """One user's latest events in silver, newest first (the last 7 days of data)."""
    columns = (
        "event_ts",
        "domain",
        "title",
        "type",
        "length_delta",
        "comment",
        "is_revert",
        "revert_method",
        "reverted_user",
    )
    days = _days(until - timedelta(days=7), until)
    rows = rows_of(lakehouse, SILVER_EVENTS, "event_date", days, columns, where={"user": [user]})
    rows = rows.sort_by([("event_ts", "descending")]).slice(0, limit)
    return [
        UserEdit(**{**r, "event_ts": _utc(r["event_ts"]).isoformat()}) for r in rows.to_pylist()
    ]


def large_deletions(lakehouse: Lakehouse, until: datetime, limit: int) -> list[Deletion]:
    """The latest large deletions in silver (today and yesterday of the data), newest first."""
    columns = ("event_ts", "domain", "title", "user", "length_delta", "comment")
    rows = rows_of(
        lakehouse,
        SILVER_EVENTS,
        "event_date",
        _days(until - timedelta(days=1), until),
        columns,
        where={"is_large_deletion": [True]},
    )
    rows = rows.sort_by([("event_ts", "descending")]).slice(0, limit)
    return [
        Deletion(**{**r, "event_ts": _utc(r["event_ts"]).isoformat()}) for r in rows.to_pylist()
    ]


def gates(lakehouse: Lakehouse) -> Gates:
    """Latest verdict per table, held batches, and failed checks per hour (wall-clock day)."""
    now = datetime.now(UTC)
    since = now - timedelta(days=1)
    failed = rows_of(
        lakehouse,
        DQ_RESULTS,
        "run_date",
        _days(since, now),
        ("run_at",),
        where={"verdict": ["fail"]},
    )
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = [first + timedelta(hours=i) for i in range(24)]
    counts = dict.fromkeys(hours, 0)
    for at in failed.column("run_at").to_pylist():
        hour = _utc(at).replace(minute=0, second=0, microsecond=0)
        if hour in counts:
            counts[hour] += 1
    return Gates(
        latest=latest_gates(lakehouse, since),
        held=summarize(lakehouse, None, since)["held"],
        failures_per_hour={
            "times": [int(h.timestamp()) for h in hours],
            "failures": [counts[h] for h in hours],
        },
    )


def table_health(status: list[dict[str, Any]]) -> list[TableHealth]:
    return [TableHealth(**{k: t.get(k) for k in TableHealth.model_fields}) for t in status]


def freshness(status: list[dict[str, Any]]) -> list[LayerFreshness]:
    """Per layer, its stalest data table: how far its newest event is behind now."""
    by_name = {t["table"]: t for t in status}
    layers = []
    for layer, names in _LAYER_TABLES.items():
        present = [by_name[n] for n in names if by_name.get(n, {}).get("exists")]
        if not present:
            layers.append(
                LayerFreshness(layer=layer, table=names[0], newest_event_ts=None, lag_s=None)
            )
            continue
        worst = max(present, key=lambda t: t.get("freshness_lag_s") or float("-inf"))
        layers.append(
            LayerFreshness(
                layer=layer,
                table=worst["table"],
                newest_event_ts=worst.get("newest_event_ts"),
                lag_s=worst.get("freshness_lag_s"),
            )
        )
    return layers


def problems(lakehouse: Lakehouse, status: list[dict[str, Any]]) -> list[str]:
    """What makes `wikistream status` exit 4 (no broker is asked: the page stays fast)."""
    found: list[str] = health(lakehouse, status, None)["problems"]
    return found


def alerts_sent(lakehouse: Lakehouse, limit: int) -> list[AlertSent]:
    """Alerts recently delivered (or attempted): this process's and the running `run`'s."""
    state = lakehouse.documents.read(RUN_STATE) or {}
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for alert in [*recent_alerts(), *state.get("alerts", [])]:
        seen.setdefault((alert["at"], alert["key"]), alert)
    newest = sorted(seen.values(), key=lambda a: a["at"], reverse=True)[:limit]
    return [AlertSent(**alert) for alert in newest]


def _last_hour(windows: pa.Table, until: datetime, scope: str) -> list[dict[str, Any]]:
    first = _window_of(until) - timedelta(minutes=50)
    return [
        row
        for row in windows.to_pylist()
        if row["scope"] == scope and _utc(row["window_start"]) >= first
    ]


def _window_of(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 10, second=0, microsecond=0)


def _days(first: datetime, last: datetime) -> list[object]:
    start: date = first.astimezone(UTC).date()
    count = (last.astimezone(UTC).date() - start).days + 1
    return [start + timedelta(days=d) for d in range(count)]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
