"""The JSON documents of `/api/…`: what the page draws, typed (FastAPI documents them).

Times are ISO-8601 UTC strings in lists and epoch seconds in chart series; the page shows
both in the viewer's time zone.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Activity(BaseModel):
    """Edits per minute per 10-minute window, overall and for the busiest wikis."""

    unit: str = "edits/min"
    window_s: int = 600
    times: list[int] = Field(description="Window starts, epoch seconds.")
    total: list[float]
    wikis: dict[str, list[float]] = Field(description="Per busiest wiki, aligned with times.")


class WikiNow(BaseModel):
    domain: str
    events: int
    edits: int
    edits_per_min: float
    bot_share: float
    anonymous_share: float


class EditorMix(BaseModel):
    """Shares of events in the last hour of data: bots, registered humans, anonymous (IP
    addresses and temporary accounts)."""

    since: str | None
    until: str | None
    events: int
    bot: float
    human: float
    anonymous: float


class RiskEntry(BaseModel):
    user: str
    user_kind: str | None
    risk_score: float
    risk_level: str
    reasons: list[str]
    edits: int
    large_deletions: int
    domains: int
    window_start: str


class UserEdit(BaseModel):
    event_ts: str
    domain: str
    title: str | None
    type: str | None
    length_delta: int | None
    comment: str | None
    is_revert: bool
    revert_method: str | None
    reverted_user: str | None


class Deletion(BaseModel):
    event_ts: str
    domain: str
    title: str | None
    user: str | None
    length_delta: int | None
    comment: str | None


class Gates(BaseModel):
    latest: list[dict[str, Any]] = Field(description="The latest gate run per table.")
    held: list[dict[str, Any]] = Field(description="Batches held now, waiting for a release.")
    failures_per_hour: dict[str, list[int]] = Field(
        description="Failed checks per hour over the last day: times (epoch s) and counts."
    )


class LayerFreshness(BaseModel):
    layer: str
    table: str
    newest_event_ts: str | None
    lag_s: float | None


class TableHealth(BaseModel):
    table: str
    exists: bool
    rows: int
    data_files: int
    small_files: int
    snapshots: int | None
    seconds_since_commit: float | None


class AlertSent(BaseModel):
    at: str
    severity: str
    title: str
    key: str
    delivered_to: list[str]
    failed_on: list[str]


class RiskModel(BaseModel):
    """How good the per-edit revert risk is, measured on held-out labelled edits."""

    roc_auc: float
    ci95: list[float]
    data: str
    baseline: str
    baseline_roc_auc: float


class Overview(BaseModel):
    """Everything the page shows, in one answer (one request per refresh)."""

    generated_at: str
    data_until: str | None = Field(description="The newest event silver holds: 'now' here.")
    refresh_s: float
    healthy: bool
    problems: list[str]
    activity: Activity
    top_wikis: list[WikiNow]
    mix: EditorMix
    risk: list[RiskEntry]
    risk_model: RiskModel | None
    deletions: list[Deletion]
    gates: Gates
    freshness: list[LayerFreshness]
    tables: list[TableHealth]
    alerts: list[AlertSent]
