"""Table definitions: one Arrow schema per table, the single source of truth for its columns.

Iceberg schemas are derived from these when a table is created; writers build Arrow tables
with exactly these schemas. Partitions are identity partitions on date columns because Daft
prunes those, not `day(...)` transforms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class TableDef:
    """What a table is: its identifier, columns, partition columns and table properties."""

    identifier: str
    schema: pa.Schema
    partition_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    doc: str = ""

    @property
    def namespace(self) -> str:
        return self.identifier.split(".", 1)[0]


def _f(name: str, type_: pa.DataType, required: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=not required)


_COMMON_PROPERTIES = {
    "write.parquet.compression-codec": "zstd",
    "write.parquet.compression-level": "1",
    # Merge manifests so thousands of small commits do not make every scan plan slower.
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "50",
    # PyIceberg would otherwise rebase and retry a lost commit by itself, skipping our check
    # that no other writer advanced the source position (`lakehouse.commits` retries).
    "commit.retry.num-retries": "0",
}

BRONZE_EVENTS = TableDef(
    identifier="bronze.events",
    doc="One row per accepted recentchange event, exactly once.",
    schema=pa.schema(
        [
            _f("event_id", pa.string(), required=True),
            _f("event_ts", TIMESTAMP, required=True),
            _f("event_date", pa.date32(), required=True),
            _f("ingested_at", TIMESTAMP, required=True),
            _f("source", pa.string(), required=True),
            _f("meta_id", pa.string()),
            _f("request_id", pa.string()),
            _f("schema_uri", pa.string()),
            _f("stream", pa.string()),
            _f("topic", pa.string()),
            _f("partition", pa.int32()),
            _f("offset", pa.int64()),
            _f("domain", pa.string()),
            _f("wiki", pa.string()),
            _f("rc_id", pa.int64()),
            _f("type", pa.string()),
            _f("namespace", pa.int32()),
            _f("title", pa.string()),
            _f("comment", pa.string()),
            _f("user", pa.string()),
            _f("bot", pa.bool_()),
            _f("minor", pa.bool_()),
            _f("patrolled", pa.bool_()),
            _f("rc_timestamp", TIMESTAMP),
            _f("server_url", pa.string()),
            _f("length_old", pa.int64()),
            _f("length_new", pa.int64()),
            _f("revision_old", pa.int64()),
            _f("revision_new", pa.int64()),
            _f("log_id", pa.int64()),
            _f("log_type", pa.string()),
            _f("log_action", pa.string()),
            _f("log_params", pa.string()),
            _f("raw", pa.string(), required=True),
        ]
    ),
    partition_by=("event_date",),
    properties=_COMMON_PROPERTIES,
)

BRONZE_QUARANTINE = TableDef(
    identifier="bronze.quarantine",
    doc="Dead letters: input that could not be decoded or failed validation, with the reason.",
    schema=pa.schema(
        [
            _f("quarantine_id", pa.string(), required=True),
            _f("reason", pa.string(), required=True),
            _f("detail", pa.string()),
            _f("source", pa.string(), required=True),
            _f("source_position", pa.string()),
            _f("raw", pa.binary(), required=True),
            _f("raw_size", pa.int64(), required=True),
            _f("ingested_at", TIMESTAMP, required=True),
            # Dead letters may have no usable event time, so they are dated by arrival.
            _f("event_date", pa.date32(), required=True),
        ]
    ),
    partition_by=("event_date",),
    properties=_COMMON_PROPERTIES,
)

SILVER_EVENTS = TableDef(
    identifier="silver.events",
    doc="Cleaned, deduplicated, enriched events: region, user kind, lengths, flags, reverts.",
    schema=pa.schema(
        [
            _f("event_id", pa.string(), required=True),
            _f("event_ts", TIMESTAMP, required=True),
            _f("event_date", pa.date32(), required=True),
            _f("event_hour", TIMESTAMP, required=True),
            _f("domain", pa.string(), required=True),
            _f("wiki", pa.string()),
            _f("language", pa.string()),
            _f("region", pa.string(), required=True),
            _f("type", pa.string()),
            _f("namespace", pa.int32()),
            _f("title", pa.string()),
            _f("user", pa.string()),
            _f("user_kind", pa.string()),
            _f("is_anonymous", pa.bool_(), required=True),
            _f("is_bot", pa.bool_(), required=True),
            _f("comment", pa.string()),
            _f("length_old", pa.int64()),
            _f("length_new", pa.int64()),
            _f("length_delta", pa.int64()),
            _f("is_large_deletion", pa.bool_(), required=True),
            _f("is_large_addition", pa.bool_(), required=True),
            _f("is_revert", pa.bool_(), required=True),
            _f("revert_method", pa.string()),
            _f("reverted_user", pa.string()),
            _f("revision_old", pa.int64()),
            _f("revision_new", pa.int64()),
            _f("log_type", pa.string()),
            _f("log_action", pa.string()),
            _f("ingested_at", TIMESTAMP, required=True),
            _f("processed_at", TIMESTAMP, required=True),
            _f("processing_lag_s", pa.float64(), required=True),
            _f("source", pa.string()),  # the bronze source; decides whether it was live
            _f("revert_risk", pa.float64()),  # layers/revert_risk.py; null: not a revision
            _f("revert_risk_reasons", pa.string()),
        ]
    ),
    partition_by=("event_date", "region"),
    properties=_COMMON_PROPERTIES,
)

SILVER_QUARANTINE = TableDef(
    identifier="silver.quarantine",
    doc="Silver rows that failed a row-level quality check, with the checks they failed.",
    schema=pa.schema(
        [
            *SILVER_EVENTS.schema,
            _f("quarantine_reason", pa.string(), required=True),
            _f("failed_checks", pa.list_(pa.string()), required=True),
            _f("run_id", pa.string(), required=True),
            _f("quarantined_at", TIMESTAMP, required=True),
        ]
    ),
    partition_by=("event_date",),
    properties=_COMMON_PROPERTIES,
)

_SHARES = [_f("bot_share", pa.float64()), _f("anonymous_share", pa.float64())]

GOLD_HOURLY = TableDef(
    identifier="gold.hourly_stats",
    doc="Per wiki (domain) and hour: activity, bytes, editor mix, flags, reverts.",
    schema=pa.schema(
        [
            _f("domain", pa.string(), required=True),
            _f("event_hour", TIMESTAMP, required=True),
            _f("event_date", pa.date32(), required=True),
            _f("events", pa.int64(), required=True),
            _f("edits", pa.int64(), required=True),
            _f("new_pages", pa.int64(), required=True),
            _f("log_events", pa.int64(), required=True),
            _f("categorize_events", pa.int64(), required=True),
            _f("external_events", pa.int64(), required=True),
            _f("distinct_users", pa.int64(), required=True),
            _f("bytes_added", pa.int64(), required=True),
            _f("bytes_removed", pa.int64(), required=True),
            _f("bytes_net", pa.int64(), required=True),
            *_SHARES,
            _f("human_share", pa.float64()),
            _f("large_deletions", pa.int64(), required=True),
            _f("large_additions", pa.int64(), required=True),
            _f("reverts", pa.int64(), required=True),
        ]
    ),
    partition_by=("event_date",),
    properties=_COMMON_PROPERTIES,
)

GOLD_METRICS_10MIN = TableDef(
    identifier="gold.metrics_10min",
    doc="Per 10-minute window, for scope global (entity 'all'), entity (a wiki) and user.",
    schema=pa.schema(
        [
            _f("scope", pa.string(), required=True),
            _f("entity", pa.string(), required=True),
            _f("window_start", TIMESTAMP, required=True),
            _f("event_date", pa.date32(), required=True),
            _f("events", pa.int64(), required=True),
            _f("edits", pa.int64(), required=True),
            _f("distinct_users", pa.int64(), required=True),
            _f("bytes_net", pa.int64(), required=True),
            *_SHARES,
            _f("large_deletions", pa.int64(), required=True),
            _f("reverts", pa.int64(), required=True),
        ]
    ),
    partition_by=("event_date",),
    properties=_COMMON_PROPERTIES,
)

GOLD_RISK = TableDef(
    identifier="gold.risk_scores",
    doc="Per user and hour: the chance one of the edits is reverted (0-100), level, "
    "components and reasons.",
    schema=pa.schema(
        [
            _f("user", pa.string(), required=True),
            _f("window_start", TIMESTAMP, required=True),
            _f("event_date", pa.date32(), required=True),
            _f("user_kind", pa.string()),
            _f("events", pa.int64(), required=True),
            _f("edits", pa.int64(), required=True),
            _f("large_deletions", pa.int64(), required=True),
            _f("anonymous_share", pa.float64(), required=True),
            _f("domains", pa.int64(), required=True),
            _f("reverted_by_others", pa.int64(), required=True),
            _f("velocity_score", pa.float64(), required=True),
            _f("deletion_score", pa.float64(), required=True),
            _f("anonymity_score", pa.float64(), required=True),
            _f("cross_domain_score", pa.float64(), required=True),
            _f("reverted_score", pa.float64(), required=True),
            _f("risk_score", pa.float64(), required=True),
            _f("risk_level", pa.string(), required=True),
            _f("reasons", pa.string(), required=True),
        ]
    ),
    partition_by=("event_date",),
    properties=_COMMON_PROPERTIES,
)

GOLD_DAILY = TableDef(
    identifier="gold.daily_summary",
    doc="Per day: KPIs, regional mix, risk mix and a platform health score 0-100.",
    schema=pa.schema(
        [
            _f("event_date", pa.date32(), required=True),
            _f("events", pa.int64(), required=True),
            _f("edits", pa.int64(), required=True),
            _f("distinct_users", pa.int64(), required=True),
            *_SHARES,
            _f("reverts", pa.int64(), required=True),
            _f("large_deletions", pa.int64(), required=True),
            _f("regional_mix", pa.string(), required=True),
            _f("users_low_risk", pa.int64(), required=True),
            _f("users_medium_risk", pa.int64(), required=True),
            _f("users_high_risk", pa.int64(), required=True),
            _f("health_score", pa.float64(), required=True),
        ]
    ),
    partition_by=("event_date",),
    properties=_COMMON_PROPERTIES,
)

GOLD_TABLES = (GOLD_HOURLY, GOLD_METRICS_10MIN, GOLD_RISK, GOLD_DAILY)

DQ_RESULTS = TableDef(
    identifier="dq.results",
    doc="One row per quality check per gate run: metric, threshold, rows, verdict.",
    schema=pa.schema(
        [
            _f("run_id", pa.string(), required=True),
            _f("run_at", TIMESTAMP, required=True),
            _f("run_date", pa.date32(), required=True),
            _f("layer", pa.string(), required=True),
            _f("table_name", pa.string(), required=True),
            _f("check_name", pa.string(), required=True),
            _f("check_type", pa.string(), required=True),
            _f("level", pa.string(), required=True),
            _f("metric_value", pa.float64()),
            _f("threshold", pa.string()),
            _f("rows_checked", pa.int64(), required=True),
            _f("rows_failed", pa.int64(), required=True),
            _f("snapshot_id", pa.int64()),  # the input snapshot the batch was read up to
            _f("input_from", pa.string()),  # (input_from, input_to]: the batch, for release
            _f("input_to", pa.string()),
            _f("verdict", pa.string(), required=True),  # pass | fail | skipped
            _f("gate", pa.string(), required=True),  # promoted | held | released
            _f("alerted", pa.bool_(), required=True),
            _f("detail", pa.string()),
            _f("duration_ms", pa.float64(), required=True),
        ]
    ),
    partition_by=("run_date",),
    properties=_COMMON_PROPERTIES,
)

DQ_RELEASES = TableDef(
    identifier="dq.releases",
    doc="Held batches an operator let through anyway (`wikistream dq release`).",
    schema=pa.schema(
        [
            _f("run_id", pa.string(), required=True),
            _f("layer", pa.string(), required=True),
            _f("table_name", pa.string(), required=True),
            _f("input_from", pa.string()),
            _f("input_to", pa.string(), required=True),
            _f("released_at", TIMESTAMP, required=True),
            _f("reason", pa.string()),
        ]
    ),
    properties=_COMMON_PROPERTIES,
)

OPS_RUNS = TableDef(
    identifier="ops.runs",
    doc="One row per backfill run: what it loads, its state and counts (manifest: runs/<id>/).",
    schema=pa.schema(
        [
            _f("run_id", pa.string(), required=True),
            _f("kind", pa.string(), required=True),
            _f("state", pa.string(), required=True),  # running | completed | partial | interrupted
            _f("sources", pa.list_(pa.string()), required=True),
            _f("since", TIMESTAMP),
            _f("until", TIMESTAMP),
            _f("items_planned", pa.int64(), required=True),
            _f("items_done", pa.int64(), required=True),
            _f("items_failed", pa.int64(), required=True),
            _f("rows_written", pa.int64(), required=True),
            _f("started_at", TIMESTAMP, required=True),
            _f("updated_at", TIMESTAMP, required=True),
            _f("finished_at", TIMESTAMP),
            _f("manifest", pa.string(), required=True),
        ]
    ),
    properties=_COMMON_PROPERTIES,
)

OPS_LEASES = TableDef(
    identifier="ops.leases",
    doc="Leases (e.g. the one processing loop of a warehouse): no rows; each renewal is a "
    "snapshot whose summary names the holder and the expiry, won by compare-and-swap.",
    schema=pa.schema([_f("lease", pa.string())]),
    properties={
        **_COMMON_PROPERTIES,
        # A renewal every few seconds: old metadata files go as new ones are written.
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": "20",
    },
)

SILVER_LIFTWING = TableDef(
    identifier="silver.liftwing_scores",
    doc="Wikimedia's LiftWing revert-risk probability of silver's edits, when enabled.",
    schema=pa.schema(
        [
            _f("event_id", pa.string(), required=True),
            _f("event_date", pa.date32(), required=True),
            _f("wiki", pa.string(), required=True),
            _f("revision_id", pa.int64(), required=True),
            _f("model", pa.string(), required=True),
            _f("probability", pa.float64(), required=True),
            _f("scored_at", TIMESTAMP, required=True),
        ]
    ),
    partition_by=("event_date",),
    properties=_COMMON_PROPERTIES,
)

TABLES: dict[str, TableDef] = {
    t.identifier: t
    for t in (
        BRONZE_EVENTS, BRONZE_QUARANTINE, SILVER_EVENTS, SILVER_QUARANTINE, SILVER_LIFTWING,
        *GOLD_TABLES, DQ_RESULTS, DQ_RELEASES, OPS_RUNS, OPS_LEASES,
    )
}  # fmt: skip
