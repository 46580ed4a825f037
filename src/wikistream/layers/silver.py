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

from wikistream.engine import frame, sql
from wikistream.lakehouse.tables import SILVER_EVENTS, TIMESTAMP
from wikistream.layers import enrichment
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
    "log_type", "log_action", "ingested_at", "source",
]  # fmt: skip


def _enricher(regions: dict[str, str]) -> daft.udf.Func:  # type: ignore[name-defined]
    region_map = {**enrichment.DEFAULT_REGIONS, **regions}

    @daft.func.batch(return_dtype=_ENRICHED, unnest=True)
    def enrich(user: Series, bot: Series, domain: Series, comment: Series) -> pa.Array:
        return enrich_arrays(
            user.to_arrow(), bot.to_arrow(), domain.to_arrow(), comment.to_arrow(), region_map
        )

    return enrich


# Every revert summary the rules know starts with one of these: only those rows are parsed.
_REVERT_PREFIX = r"^(Undid |Reverted |Reverting |Änderungen von )"


def enrich_arrays(
    user: pa.Array, bot: pa.Array, domain: pa.Array, comment: pa.Array, regions: dict[str, str]
) -> pa.Array:
    """The enrichment struct for a batch. The rules run once per distinct user and domain
    (both repeat a lot) and only on comments that can be reverts."""
    users = pc.unique(user).to_pylist()
    normalized = {u: enrichment.normalize_user(u) for u in users}
    user_list, bot_list = user.to_pylist(), bot.to_pylist()
    names = [normalized[u] for u in user_list]
    kinds = [enrichment.user_kind(n, b) for n, b in zip(names, bot_list, strict=True)]
    domains = {d: (enrichment.language_of(d), enrichment.region_of(d, regions))
               for d in pc.unique(domain).to_pylist()}  # fmt: skip
    places = [domains[d] for d in domain.to_pylist()]
    n = len(user_list)
    methods: list[str | None] = [None] * n
    reverted: list[str | None] = [None] * n
    candidates = pc.fill_null(pc.match_substring_regex(comment, _REVERT_PREFIX), False)
    texts = comment.to_pylist()
    for index in pc.indices_nonzero(candidates).to_pylist():
        revert = enrichment.detect_revert(texts[index])
        if revert is not None:
            methods[index], reverted[index] = revert.method, revert.reverted_user
    columns = [
        names, kinds, [p[0] for p in places], [p[1] for p in places],
        [m is not None for m in methods], methods, reverted,
    ]  # fmt: skip
    fields = list(_ENRICHED.to_arrow_dtype())
    return pa.StructArray.from_arrays(
        [pa.array(values, f.type) for values, f in zip(columns, fields, strict=True)],
        fields=fields,
    )


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
             WHEN length_old IS NULL THEN NULL
             -- beyond 2^62 the difference could wrap around 64 bits: unknown, not wrong
             WHEN length_new > 4611686018427387904 OR length_new < -4611686018427387904
                  OR length_old > 4611686018427387904 OR length_old < -4611686018427387904 THEN NULL
             ELSE length_new - length_old END AS length_delta,
        is_revert, revert_method, reverted_user,
        revision_old, revision_new, log_type, log_action, ingested_at, source
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
    # A lag of centuries (a backfilled 1374 event) exceeds float64 integers: not an error.
    seconds = pc.divide(lag_us.cast(pa.float64(), safe=False), 1e6)
    table = table.append_column("processing_lag_s", seconds)
    return table.select(SILVER_EVENTS.schema.names).cast(SILVER_EVENTS.schema)
