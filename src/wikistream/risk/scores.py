"""gold.risk_scores: per user and hour, five components and a total clamped to 0-100.

    velocity            0-40   40 x min(1, edits / velocity_edits_per_hour)          (50)
    large deletions     0-30   30 x min(1, large deletions / large_deletions)        (3)
    anonymity           0-20   20 x min(1, anonymous share / anonymous_share)        (0.5)
    cross-domain        0-10   10 x min(1, (wikis - 1) / (domains - 1))              (3)
    reverted by others  0-20   20 x min(1, reverts of this user's edits by someone
                                        else / reverted_by_others)                   (2)
    total = min(100, sum); level HIGH >= high_at (60), MEDIUM >= medium_at (30), else LOW.

A revert counts in the hour of the reverting edit, against the user its summary names.
Flagged bots are not scored: their volume is approved, not a signal.
"""

from __future__ import annotations

import pyarrow as pa

from wikistream.lakehouse.tables import GOLD_RISK
from wikistream.pipeline.engine import frame, sql
from wikistream.settings import RiskSettings

RISK_INPUTS = ("user", "event_hour", "user_kind", "type", "domain", "is_bot", "is_anonymous",
               "is_large_deletion", "is_revert", "reverted_user")  # fmt: skip


def risk_scores(silver: pa.Table, risk: RiskSettings) -> pa.Table:
    """Risk rows for every (user, hour) present in `silver`."""
    if silver.num_rows == 0:
        return GOLD_RISK.schema.empty_table()
    rows = sql(
        """
        WITH activity AS (
            SELECT "user", event_hour AS window_start, min(user_kind) AS user_kind,
                count(*) AS events,
                sum(CASE WHEN coalesce(type = 'edit', false) THEN 1 ELSE 0 END) AS edits,
                sum(CASE WHEN is_large_deletion THEN 1 ELSE 0 END) AS large_deletions,
                avg(CASE WHEN is_anonymous THEN 1.0 ELSE 0.0 END) AS anonymous_share,
                count(DISTINCT domain) AS domains
            FROM silver WHERE "user" IS NOT NULL AND NOT is_bot GROUP BY "user", event_hour
        ),
        reverted AS (
            SELECT reverted_user AS "user", event_hour AS window_start, count(*) AS reverted
            FROM silver
            WHERE is_revert AND reverted_user IS NOT NULL
              AND coalesce(reverted_user <> "user", true)
            GROUP BY reverted_user, event_hour
        )
        SELECT a.*, coalesce(r.reverted, 0) AS reverted_by_others
        FROM activity a LEFT JOIN reverted r
          ON a."user" = r."user" AND a.window_start = r.window_start
        """,
        silver=frame(silver),
    ).to_arrow()
    return _score(rows, risk)


def _score(rows: pa.Table, risk: RiskSettings) -> pa.Table:
    out = []
    for row in rows.to_pylist():
        velocity = 40 * min(1.0, row["edits"] / risk.velocity_edits_per_hour)
        deletion = 30 * min(1.0, row["large_deletions"] / risk.large_deletions)
        anonymity = 20 * min(1.0, row["anonymous_share"] / risk.anonymous_share)
        cross = 10 * min(1.0, (row["domains"] - 1) / (risk.domains - 1))
        reverted = 20 * min(1.0, row["reverted_by_others"] / risk.reverted_by_others)
        total = min(100.0, velocity + deletion + anonymity + cross + reverted)
        level = "HIGH" if total >= risk.high_at else "MEDIUM" if total >= risk.medium_at else "LOW"
        reasons = [
            text
            for score, text in (
                (velocity, f"{row['edits']} edits in the hour"),
                (deletion, f"{row['large_deletions']} large deletions"),
                (anonymity, "anonymous editor"),
                (cross, f"active on {row['domains']} wikis"),
                (reverted, f"reverted {row['reverted_by_others']} times by others"),
            )
            if score > 0
        ]
        out.append(
            {
                **row,
                "event_date": row["window_start"].date(),
                "velocity_score": round(velocity, 2),
                "deletion_score": round(deletion, 2),
                "anonymity_score": round(anonymity, 2),
                "cross_domain_score": round(cross, 2),
                "reverted_score": round(reverted, 2),
                "risk_score": round(total, 2),
                "risk_level": level,
                "reasons": "; ".join(reasons) or "no risk signals",
            }
        )
    return pa.Table.from_pylist(out, schema=GOLD_RISK.schema)
