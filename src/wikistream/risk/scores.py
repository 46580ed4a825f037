"""gold.risk_scores: per user and hour, the chance that at least one of the hour's edits is
reverted, from silver's per-edit `revert_risk` (layers/revert_risk.py, evaluated in
docs/risk.md):

    risk_score = 100 x (1 - product over the hour's edits and new pages of (1 - revert_risk))

Level HIGH >= high_at (60), MEDIUM >= medium_at (30), else LOW. Five components explain it
and name its reasons (they do not add up to it):

    velocity            0-40   40 x min(1, edits / velocity_edits_per_hour)          (50)
    large deletions     0-30   30 x min(1, large deletions / large_deletions)        (3)
    anonymity           0-20   20 x min(1, anonymous share / anonymous_share)        (0.5)
    cross-domain        0-10   10 x min(1, (wikis - 1) / (domains - 1))              (3)
    reverted by others  0-20   20 x min(1, reverts of this user's edits by someone
                                        else / reverted_by_others)                   (2)

A revert counts in the hour of the reverting edit, against the user its summary names.
Flagged bots are not scored: their volume is approved, not a signal. Every window is one
hour of one day: nothing reaches back, so a rebuild of some days rebuilds only those.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from wikistream.engine import frame, sql
from wikistream.lakehouse.tables import GOLD_RISK
from wikistream.settings import RiskSettings

RISK_INPUTS = (
    "user",
    "event_hour",
    "user_kind",
    "type",
    "domain",
    "is_bot",
    "is_anonymous",
    "is_large_deletion",
    "is_revert",
    "reverted_user",
    "revert_risk",
)


def risk_scores(silver: pa.Table, risk: RiskSettings) -> pa.Table:
    """Risk rows for every (user, hour) present in `silver`."""
    if silver.num_rows == 0:
        return GOLD_RISK.schema.empty_table()
    # log(1 - p) summed is the log of the chance that none of the edits is reverted.
    edit_risk = pc.fill_null(silver.column("revert_risk"), 0.0)
    silver = silver.append_column("log_kept", pc.log1p(pc.negate(edit_risk)))
    rows = sql(
        """
        WITH measured AS (  -- per row first: Daft aggregates plain columns much faster
            SELECT "user", event_hour, user_kind, domain, log_kept,
                CASE WHEN coalesce(type = 'edit', false) THEN 1 ELSE 0 END AS m_edit,
                CASE WHEN is_large_deletion THEN 1 ELSE 0 END AS m_large_deletion,
                CASE WHEN is_anonymous THEN 1.0 ELSE 0.0 END AS m_anonymous
            FROM silver WHERE "user" IS NOT NULL AND NOT is_bot
        ),
        per_wiki AS (  -- wikis counted by grouping: count(DISTINCT) per user is slow
            SELECT "user", event_hour, domain, min(user_kind) AS user_kind,
                count(*) AS events, sum(m_edit) AS edits,
                sum(m_large_deletion) AS large_deletions, sum(m_anonymous) AS anonymous,
                sum(log_kept) AS log_kept
            FROM measured GROUP BY "user", event_hour, domain
        ),
        activity AS (
            SELECT "user", event_hour AS window_start, min(user_kind) AS user_kind,
                sum(events) AS events, sum(edits) AS edits,
                sum(large_deletions) AS large_deletions,
                sum(anonymous) / sum(events) AS anonymous_share,
                count(*) AS domains, sum(log_kept) AS log_kept
            FROM per_wiki GROUP BY "user", event_hour
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
    def capped(column: str, full_at: float, points: float, offset: float = 0) -> pa.Array:
        share = pc.divide(pc.subtract(pc.cast(rows.column(column), pa.float64()), offset), full_at)
        return pc.round(pc.multiply(pc.min_element_wise(share, 1.0), points), 2)

    velocity = capped("edits", risk.velocity_edits_per_hour, 40)
    deletion = capped("large_deletions", risk.large_deletions, 30)
    anonymity = capped("anonymous_share", risk.anonymous_share, 20)
    cross = capped("domains", risk.domains - 1, 10, offset=1)
    reverted = capped("reverted_by_others", risk.reverted_by_others, 20)
    kept = pc.exp(pc.cast(rows.column("log_kept"), pa.float64()))
    total = pc.round(pc.multiply(pc.subtract(1.0, kept), 100.0), 2)
    level = pc.if_else(
        pc.greater_equal(total, risk.high_at),
        "HIGH",
        pc.if_else(pc.greater_equal(total, risk.medium_at), "MEDIUM", "LOW"),
    )
    columns = {
        "velocity_score": velocity,
        "deletion_score": deletion,
        "anonymity_score": anonymity,
        "cross_domain_score": cross,
        "reverted_score": reverted,
        "risk_score": total,
        "risk_level": level,
        "event_date": pc.cast(rows.column("window_start"), pa.date32()),
        "reasons": pa.array(_reasons(rows, velocity, deletion, anonymity, cross, reverted)),
    }
    for name, values in columns.items():
        rows = rows.append_column(name, values)
    return rows.select(GOLD_RISK.schema.names).cast(GOLD_RISK.schema)


def _reasons(rows: pa.Table, *scores: pa.Array) -> list[str]:
    edits, deletions, domains, reverted = (
        rows.column(c).to_pylist()
        for c in ("edits", "large_deletions", "domains", "reverted_by_others")
    )
    texts = []
    for i, points in enumerate(zip(*(s.to_pylist() for s in scores), strict=True)):
        parts = (
            f"{_counted(edits[i], 'edit')} in the hour",
            _counted(deletions[i], "large deletion"),
            "anonymous editor",
            f"active on {_counted(domains[i], 'wiki')}",
            f"reverted {_counted(int(reverted[i]), 'time', 'once')} by others",
        )
        found = [text for score, text in zip(points, parts, strict=True) if score > 0]
        texts.append("; ".join(found) or "no risk signals")
    return texts


def _counted(n: int, noun: str, one: str | None = None) -> str:
    """`1 edit`, `3 edits` (or `once` for one time)."""
    if n == 1:
        return one or f"1 {noun}"
    return f"{n} {noun}s"
