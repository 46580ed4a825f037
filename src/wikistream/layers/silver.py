"""bronze -> silver: cleaned, deduplicated, enriched events (a Daft transform).

One input batch is the bronze rows appended since the bronze snapshot silver last processed.
The output is a pure function of that batch (plus `processed_at`), so redoing a batch after
a crash produces the same rows.
"""

from __future__ import annotations

from datetime import datetime

import daft
import pyarrow as pa
import pyarrow.compute as pc
from daft import DataType, Series

from wikistream.lakehouse.tables import SILVER_EVENTS, TIMESTAMP
from wikistream.layers import enrichment
from wikistream.pipeline.engine import frame, sql
from wikistream.settings import SilverSettings

_ENRICHED = DataType.struct(
    {
        "user": DataType.string(),
        "user_kind": DataType.string(),
        "language": DataType.string(),
        "region": DataType.string(),
        "is_revert": DataType.bool(),
        "revert_method": DataType.string(),
        "reverted_user": DataType.string(),
    }
)

BRONZE_COLUMNS = [
    "event_id", "event_ts", "event_date", "domain", "wiki", "type", "namespace", "title",
    "comment", "user", "bot", "length_old", "length_new", "revision_old", "revision_new",
    "log_type", "log_action", "ingested_at",
]  # fmt: skip


def _enricher(regions: dict[str, str]) -> daft.udf.Func:  # type: ignore[name-defined]
    region_map = {**enrichment.DEFAULT_REGIONS, **regions}

    @daft.func.batch(return_dtype=_ENRICHED, unnest=True)
    def enrich(user: Series, bot: Series, domain: Series, comment: Series) -> pa.Array:
        rows = []
        for raw_user, is_bot, dom, text in zip(
            user.to_pylist(), bot.to_pylist(), domain.to_pylist(), comment.to_pylist(),
            strict=True,
        ):  # fmt: skip
            name = enrichment.normalize_user(raw_user)
            revert = enrichment.detect_revert(text)
            rows.append(
                {
                    "user": name,
                    "user_kind": enrichment.user_kind(name, is_bot),
                    "language": enrichment.language_of(dom),
                    "region": enrichment.region_of(dom, region_map),
                    "is_revert": revert is not None,
                    "revert_method": revert.method if revert else None,
                    "reverted_user": revert.reverted_user if revert else None,
                }
            )
        return pa.array(rows, type=_ENRICHED.to_arrow_dtype())

    return enrich


def to_silver(bronze: pa.Table, settings: SilverSettings, processed_at: datetime) -> pa.Table:
    """Transform bronze rows (any batch) into silver rows with the `silver.events` schema."""
    if bronze.num_rows == 0:
        return SILVER_EVENTS.schema.empty_table()
    enrich = _enricher(settings.regions)
    base = frame(bronze.select(BRONZE_COLUMNS)).distinct("event_id")
    base = base.with_column_renamed("user", "raw_user")
    enriched = base.select(
        *base.column_names, enrich(base["raw_user"], base["bot"], base["domain"], base["comment"])
    )
    query = """
    SELECT
        event_id, event_ts, event_date, date_trunc('hour', event_ts) AS event_hour,
        domain, wiki, language, region, type, namespace, title,
        "user", user_kind,
        coalesce(user_kind IN ('ip', 'temporary'), false) AS is_anonymous,
        coalesce(bot, false) OR coalesce(user_kind = 'bot', false) AS is_bot,
        comment, length_old, length_new,
        CASE WHEN length_new IS NULL THEN NULL
             WHEN length_old IS NULL AND coalesce(type = 'new', false) THEN length_new
             ELSE length_new - length_old END AS length_delta,
        is_revert, revert_method, reverted_user,
        revision_old, revision_new, log_type, log_action, ingested_at
    FROM enriched
    """
    rows = sql(query, enriched=enriched)
    rows = sql(
        f"""
        SELECT *,
            coalesce(length_delta < {settings.large_deletion_bytes}, false) AS is_large_deletion,
            coalesce(length_delta > {settings.large_addition_bytes}, false) AS is_large_addition
        FROM rows
        """,
        rows=rows,
    )
    table = rows.to_arrow()
    processed = pa.repeat(pa.scalar(processed_at, TIMESTAMP), table.num_rows)
    lag_us = pc.subtract(processed, table.column("event_ts")).cast(pa.int64())
    table = table.append_column("processed_at", processed)
    table = table.append_column("processing_lag_s", pc.divide(lag_us.cast(pa.float64()), 1e6))
    return table.select(SILVER_EVENTS.schema.names).cast(SILVER_EVENTS.schema)
