"""silver -> gold aggregates (Daft SQL): hourly stats, 10-minute metrics, daily summary.

Each function takes the silver rows of the windows being recomputed and returns the complete
gold rows for exactly those windows, so replacing the windows makes the result idempotent.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wikistream.engine import frame, sql
from wikistream.lakehouse.tables import GOLD_DAILY, GOLD_HOURLY, GOLD_METRICS_10MIN
from wikistream.layers import enrichment

# Shared measures: per row first (`_ROW_MEASURES`), then plain sums and averages
# (`_COUNTS`). Daft runs CASE expressions inside a wide aggregation about 3x slower than
# this two-step form (1M rows: 1.7 s against 0.6 s). Every condition is wrapped in coalesce
# because SQL CASE on NULL is NULL.
_ROW_MEASURES = """
    CASE WHEN coalesce(type = 'edit', false) THEN 1 ELSE 0 END AS m_edit,
    coalesce(length_delta, 0) AS m_delta,
    CASE WHEN is_bot THEN 1.0 ELSE 0.0 END AS m_bot,
    CASE WHEN is_anonymous THEN 1.0 ELSE 0.0 END AS m_anonymous,
    CASE WHEN is_large_deletion THEN 1 ELSE 0 END AS m_large_deletion,
    CASE WHEN is_revert THEN 1 ELSE 0 END AS m_revert
"""
_COUNTS = """
    count(*) AS events,
    sum(m_edit) AS edits,
    {distinct_users} AS distinct_users,
    sum(m_delta) AS bytes_net,
    avg(m_bot) AS bot_share,
    avg(m_anonymous) AS anonymous_share,
    sum(m_large_deletion) AS large_deletions,
    sum(m_revert) AS reverts
"""
_DISTINCT_USERS = 'count(DISTINCT "user")'


# The silver columns each aggregate reads (projection keeps recomputing windows cheap).
_MEASURES = (
    "type",
    "user",
    "length_delta",
    "is_bot",
    "is_anonymous",
    "is_large_deletion",
    "is_revert",
)
HOURLY_INPUTS = ("domain", "event_hour", "is_large_addition", *_MEASURES)
METRICS_INPUTS = ("domain", "event_ts", "event_hour", *_MEASURES)


def _shape(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return table.select(schema.names).cast(schema)


def hourly_stats(silver: pa.Table) -> pa.Table:
    """gold.hourly_stats for every (domain, hour) present in `silver`."""
    if silver.num_rows == 0:
        return GOLD_HOURLY.schema.empty_table()
    measured = sql(
        f"""
        SELECT domain, event_hour, "user", {_ROW_MEASURES},
            CASE WHEN coalesce(type = 'new', false) THEN 1 ELSE 0 END AS m_new,
            CASE WHEN coalesce(type = 'log', false) THEN 1 ELSE 0 END AS m_log,
            CASE WHEN coalesce(type = 'categorize', false) THEN 1 ELSE 0 END AS m_categorize,
            CASE WHEN coalesce(type = 'external', false) THEN 1 ELSE 0 END AS m_external,
            CASE WHEN coalesce(length_delta > 0, false) THEN length_delta ELSE 0 END AS m_added,
            CASE WHEN coalesce(length_delta < 0, false) THEN -length_delta ELSE 0 END
                AS m_removed,
            CASE WHEN is_bot THEN 0.0 ELSE 1.0 END AS m_human,
            CASE WHEN is_large_addition THEN 1 ELSE 0 END AS m_large_addition
        FROM silver
        """,
        silver=frame(silver),
    )
    rows = sql(
        f"""
        SELECT domain, event_hour, CAST(event_hour AS DATE) AS event_date,
            {_COUNTS.format(distinct_users=_DISTINCT_USERS)},
            sum(m_new) AS new_pages, sum(m_log) AS log_events,
            sum(m_categorize) AS categorize_events, sum(m_external) AS external_events,
            sum(m_added) AS bytes_added, sum(m_removed) AS bytes_removed,
            avg(m_human) AS human_share, sum(m_large_addition) AS large_additions
        FROM measured GROUP BY domain, event_hour
        """,
        measured=measured,
    )
    return _shape(rows.to_arrow(), GOLD_HOURLY.schema)


def metrics_10min(silver: pa.Table) -> pa.Table:
    """gold.metrics_10min: global, per-wiki (`entity`) and per-user 10-minute windows."""
    if silver.num_rows == 0:
        return GOLD_METRICS_10MIN.schema.empty_table()
    windowed = sql(
        f"""SELECT domain, "user", date_trunc('10 minutes', event_ts) AS window_start,
                   {_ROW_MEASURES} FROM silver""",
        silver=frame(silver),
    )
    windowed = frame(windowed.to_arrow())  # computed once for the three scopes
    parts = []
    for scope, entity, where, distinct_users in (
        ("global", "'all'", "true", _DISTINCT_USERS),
        ("entity", "domain", "true", _DISTINCT_USERS),
        ("user", '"user"', '"user" IS NOT NULL', "1"),  # one user per group: no counting
    ):
        group = "window_start" if scope == "global" else f"window_start, {entity}"
        parts.append(
            sql(
                f"""
                SELECT '{scope}' AS scope, {entity} AS entity, window_start,
                    CAST(window_start AS DATE) AS event_date,
                    {_COUNTS.format(distinct_users=distinct_users)}
                FROM w WHERE {where} GROUP BY {group}
                """,
                w=windowed,
            ).to_arrow()
        )
    return _shape(
        pa.concat_tables([_shape(p, GOLD_METRICS_10MIN.schema) for p in parts]),
        GOLD_METRICS_10MIN.schema,
    )


def daily_summary(
    hourly: pa.Table,
    user_windows: pa.Table,
    risk: pa.Table,
    high_at: float,
    medium_at: float,
    regions: dict[str, str] | None = None,
) -> pa.Table:
    """gold.daily_summary for every day in `hourly`, built from the other gold tables.

    Reading gold instead of a whole day of silver keeps the cycle cheap all day long:
    `hourly` (gold.hourly_stats rows of the days), `user_windows` (gold.metrics_10min rows of
    scope `user`: who was active) and `risk` (gold.risk_scores rows of the days).

    Health score (0-100) = 100 - 35 x min(1, revert rate / 10 %)
                               - 25 x min(1, large-deletion rate / 2 %)
                               - 25 x min(1, share of users at HIGH risk / 5 %)
                               - 15 x min(1, share of users at MEDIUM risk / 20 %),
    with rates per edit and user shares among the day's scored users.
    """
    if hourly.num_rows == 0:
        return GOLD_DAILY.schema.empty_table()
    distinct = user_windows.group_by("event_date").aggregate([("entity", "count_distinct")])
    days, counts = (distinct.column(c).to_pylist() for c in ("event_date", "entity_count_distinct"))
    users = dict(zip(days, counts, strict=True))
    per_user = _user_levels(risk, high_at, medium_at)
    region_map = {**enrichment.DEFAULT_REGIONS, **(regions or {})}
    rows = []
    for day, hours in _by_day(hourly.to_pylist()).items():
        events = sum(h["events"] for h in hours)
        edits = sum(h["edits"] for h in hours)
        reverts = sum(h["reverts"] for h in hours)
        deletions = sum(h["large_deletions"] for h in hours)
        mix: dict[str, int] = {}
        for h in hours:
            region = enrichment.region_of(h["domain"], region_map)
            mix[region] = mix.get(region, 0) + h["events"]
        levels = per_user.get(day, {})
        scored = max(1, sum(levels.values()))
        health = (
            100
            - 35 * min(1.0, reverts / max(1, edits) / 0.10)
            - 25 * min(1.0, deletions / max(1, edits) / 0.02)
            - 25 * min(1.0, levels.get("HIGH", 0) / scored / 0.05)
            - 15 * min(1.0, levels.get("MEDIUM", 0) / scored / 0.20)
        )
        rows.append(
            {
                "event_date": day,
                "events": events,
                "edits": edits,
                "distinct_users": users.get(day, 0),
                "bot_share": sum(h["bot_share"] * h["events"] for h in hours) / events,
                "anonymous_share": sum(h["anonymous_share"] * h["events"] for h in hours) / events,
                "reverts": reverts,
                "large_deletions": deletions,
                "regional_mix": json.dumps(dict(sorted(mix.items()))),
                "users_low_risk": levels.get("LOW", 0),
                "users_medium_risk": levels.get("MEDIUM", 0),
                "users_high_risk": levels.get("HIGH", 0),
                "health_score": round(max(0.0, min(100.0, health)), 2),
            }
        )
    return pa.Table.from_pylist(rows, schema=GOLD_DAILY.schema)


def _by_day(rows: list[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["event_date"], []).append(row)
    return groups


def _user_levels(risk: pa.Table, high_at: float, medium_at: float) -> dict[object, dict[str, int]]:
    """Per day, how many users reached each level at their riskiest hour."""
    if risk.num_rows == 0:
        return {}
    worst = risk.group_by(["event_date", "user"]).aggregate([("risk_score", "max")])
    score = worst.column("risk_score_max")
    level = pc.if_else(
        pc.greater_equal(score, high_at),
        "HIGH",
        pc.if_else(pc.greater_equal(score, medium_at), "MEDIUM", "LOW"),
    )
    counts = pa.table({"event_date": worst.column("event_date"), "level": level})
    counts = counts.group_by(["event_date", "level"]).aggregate([("level", "count")])
    levels: dict[object, dict[str, int]] = {}
    columns = (counts.column(c).to_pylist() for c in ("event_date", "level", "level_count"))
    for day, name, n in zip(*columns, strict=True):
        levels.setdefault(day, {})[name] = n
    return levels
