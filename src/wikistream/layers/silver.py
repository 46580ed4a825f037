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
from wikistream.layers.revert_risk import revert_risk
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
    (both repeat a lot) and only on comments that can be reverts; rows get their values by
    Arrow lookups, not Python loops."""
    # An all-null column arrives with Arrow's null type: give every column its real one.
    user, domain, comment = (a.cast(pa.large_string()) for a in (user, domain, comment))
    bot = bot.cast(pa.bool_())
    users = pc.unique(user)
    names, kinds = _user_rules(users)
    at_user = pc.index_in(user, value_set=users)
    name = names.take(at_user)
    is_bot = pc.fill_null(bot, False)
    kind = pc.if_else(
        pc.and_(is_bot, pc.is_valid(name)), pa.scalar(enrichment.BOT), kinds.take(at_user)
    )
    domains = pc.unique(domain)
    at_domain = pc.index_in(domain, value_set=domains)
    known = domains.to_pylist()
    language = pa.array([enrichment.language_of(d) for d in known], pa.string()).take(at_domain)
    region = pa.array([enrichment.region_of(d, regions) for d in known], pa.string())
    region = region.take(at_domain)
    method, reverted = _reverts(comment)
    fields = list(_ENRICHED.to_arrow_dtype())
    columns = [name, kind, language, region, pc.is_valid(method), method, reverted]
    typed = [column.cast(f.type) for column, f in zip(columns, fields, strict=True)]
    return pa.StructArray.from_arrays(typed, fields=fields)


# Names the rules leave as they are: printable ASCII without surrounding spaces (a Python
# call per name costs more than the rest of the batch when most names are new).
_PLAIN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
# IPv4 as `ipaddress` accepts it (0-255, no leading zeros); other names that may be IPv6
# addresses are parsed by `ipaddress`.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}(\.{_OCTET}){{3}}$"
_MAYBE_IPV6 = r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%.*)?$"


def _user_rules(users: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Normalized name and kind (bots aside) of each distinct user name."""
    plain = pc.fill_null(pc.match_substring_regex(users, _PLAIN), False)
    names = users
    odd = pc.indices_nonzero(pc.invert(plain))
    if len(odd):
        fixed = [enrichment.normalize_user(u) for u in users.take(odd).to_pylist()]
        names = pc.replace_with_mask(users, pc.invert(plain), pa.array(fixed, users.type))
    kinds = pc.if_else(
        pc.is_valid(names), pa.scalar(enrichment.REGISTERED), pa.scalar(None, pa.string())
    )
    kinds = kinds.cast(pa.large_string())
    ipv4 = pc.fill_null(pc.match_substring_regex(names, _IPV4), False)
    kinds = pc.if_else(ipv4, pa.scalar(enrichment.IP, kinds.type), kinds)
    maybe = pc.fill_null(pc.match_substring_regex(names, _MAYBE_IPV6), False)
    candidates = pc.indices_nonzero(maybe)
    if len(candidates):
        found = [enrichment.user_kind(n, False) for n in names.take(candidates).to_pylist()]
        kinds = pc.replace_with_mask(kinds, maybe, pa.array(found, kinds.type))
    temporary = pc.fill_null(pc.match_substring_regex(names, enrichment.TEMPORARY_PATTERN), False)
    kinds = pc.if_else(temporary, pa.scalar(enrichment.TEMPORARY, kinds.type), kinds)
    return names, kinds


def _reverts(comment: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Revert method and reverted user per row (null when not a revert)."""
    n = len(comment)
    methods: list[str | None] = [None] * n
    reverted: list[str | None] = [None] * n
    can_be = pc.fill_null(pc.match_substring_regex(comment, _REVERT_PREFIX), False)
    candidates = pc.indices_nonzero(can_be)
    for index, text in zip(
        candidates.to_pylist(), comment.take(candidates).to_pylist(), strict=True
    ):
        revert = enrichment.detect_revert(text)
        if revert is not None:
            methods[index], reverted[index] = revert.method, revert.reverted_user
    return pa.array(methods, pa.string()), pa.array(reverted, pa.string())


def _first_of_each(rows: pa.Table, key: str) -> pa.Table:
    """The first row of each `key`, in input order: deterministic, and with Arrow's hash
    kernels about 10x faster than Daft's distinct over every column."""
    if pc.count_distinct(rows.column(key), mode="all").as_py() == rows.num_rows:
        return rows  # bronze holds each event once: the usual case
    numbered = rows.append_column("_row", pa.array(range(rows.num_rows), pa.int64()))
    first = numbered.group_by(key, use_threads=False).aggregate([("_row", "min")])
    kept = first.column("_row_min")
    return rows.take(kept.take(pc.sort_indices(kept)))


def to_silver(bronze: pa.Table, settings: SilverSettings, processed_at: datetime) -> pa.Table:
    """Transform bronze rows (any batch) into silver rows with the `silver.events` schema."""
    if bronze.num_rows == 0:
        return SILVER_EVENTS.schema.empty_table()
    enrich = _enricher(settings.regions)
    base = frame(_first_of_each(bronze.select(BRONZE_COLUMNS), "event_id"))
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
    risk, reasons = revert_risk(table)
    table = table.append_column("revert_risk", risk).append_column("revert_risk_reasons", reasons)
    return table.select(SILVER_EVENTS.schema.names).cast(SILVER_EVENTS.schema)
