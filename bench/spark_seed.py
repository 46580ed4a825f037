"""The seed's design as a user would run it: one local PySpark job (`local[2]`), raw JSON
lines -> silver Parquet -> gold Parquet, no Iceberg, no quality gates. bench/e2e.py times it
as a whole process (JVM start-up included) against WikiStream on the same file.

The rules mirror WikiStream's (docs/layers.md): required fields, canaries dropped, one row
per event id, region and language from the domain, user kinds (bot, temporary, IP,
registered), length delta, large deletions/additions, revert summaries; gold: per wiki and
hour, per 10 minutes (global, wiki, user), risk per user and hour, a daily summary.

    python bench/spark_seed.py EVENTS.ndjson OUT_DIR      # prints a JSON summary
"""

from __future__ import annotations

import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F  # Spark's own idiom
from pyspark.sql import types as T

from wikistream.layers.enrichment import DEFAULT_REGIONS, GLOBAL_PROJECTS

LARGE_DELETION, LARGE_ADDITION = -5000, 50_000
PROJECTS = "wikipedia|wiktionary|wikibooks|wikinews|wikiquote|wikisource|wikiversity|wikivoyage"
IPV4 = r"^(\d{1,3}\.){3}\d{1,3}$"
IPV6 = r"^[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*$"
REVERTS = [
    ("cluebot", r"^Reverting possible vandalism by ([^\s\[\]()]+) to version by"),
    ("twinkle", r"^Reverted \d+ edits? by ([^\s\[\]()]+)"),
    ("huggle", r"^Reverted edits by ([^\[\]()]+?) \(.*\(HG\)"),
    ("rollback", r"^Reverted edits by ([^\[\]()]+?) \((?:\[\[[^\]]*\]\]|talk)\) to last"),
    ("undo", r"^Undid revision (?:\[\[Special:Diff/\d+\|)?\d+(?:\]\])? by ([^\[\]()]+?) \("),
    ("rollback", r"^Änderungen von ([^\[\]()]+?) \(.*?\) rückgängig gemacht und letzte"),
]

SCHEMA = T.StructType([
    T.StructField("meta", T.StructType([
        T.StructField("id", T.StringType()), T.StructField("dt", T.StringType()),
        T.StructField("domain", T.StringType())])),
    T.StructField("type", T.StringType()), T.StructField("namespace", T.LongType()),
    T.StructField("title", T.StringType()), T.StructField("comment", T.StringType()),
    T.StructField("user", T.StringType()), T.StructField("bot", T.BooleanType()),
    T.StructField("wiki", T.StringType()),
    T.StructField("length", T.StructType([T.StructField("old", T.LongType()),
                                          T.StructField("new", T.LongType())])),
    T.StructField("revision", T.StructType([T.StructField("old", T.LongType()),
                                            T.StructField("new", T.LongType())])),
    T.StructField("log_type", T.StringType()), T.StructField("log_action", T.StringType()),
])  # fmt: skip


def silver(spark: SparkSession, path: str):  # a Spark DataFrame
    raw = spark.read.text(path)
    parsed = raw.select(F.from_json("value", SCHEMA).alias("e")).select("e.*")
    parsed = parsed.withColumn("ts", F.try_to_timestamp(F.col("meta.dt")))
    valid = parsed.where(
        F.col("meta.id").isNotNull() & F.col("ts").isNotNull() & F.col("meta.domain").isNotNull()
    )
    events = (
        valid.where(F.col("meta.domain") != "canary")
        .withColumn("event_id", F.col("meta.id"))
        .dropDuplicates(["event_id"])
    )
    regions = F.create_map(*[F.lit(x) for kv in DEFAULT_REGIONS.items() for x in kv])
    domain = F.lower(F.col("meta.domain"))
    language = F.regexp_extract(domain, rf"^([a-z-]+)\.({PROJECTS})\.org$", 1)
    user = F.trim(F.regexp_replace("user", r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e]", ""))
    kind = (
        F.when(F.col("user").isNull(), None)
        .when(F.col("bot"), "bot")
        .when(user.rlike(r"^~\d{4}-\d+(-\d+)*$"), "temporary")
        .when(user.rlike(IPV4) | user.rlike(IPV6), "ip")
        .otherwise("registered")
    )
    method = F.lit(None).cast("string")
    reverted = F.lit(None).cast("string")
    for name, pattern in reversed(REVERTS):  # the first rule that matches wins
        method = F.when(F.col("comment").rlike(pattern), F.lit(name)).otherwise(method)
        reverted = F.when(
            F.col("comment").rlike(pattern), F.regexp_extract("comment", pattern, 1)
        ).otherwise(reverted)
    delta = (
        F.when(F.col("length.new").isNull(), None)
        .when(F.col("length.old").isNull() & (F.col("type") == "new"), F.col("length.new"))
        .otherwise(F.col("length.new") - F.col("length.old"))
    )
    ts = F.col("ts")
    out = events.select(
        "event_id",
        ts.alias("event_ts"),
        F.to_date(ts).alias("event_date"),
        F.date_trunc("hour", ts).alias("event_hour"),
        domain.alias("domain"),
        "wiki",
        F.when(language != "", language).alias("language"),
        F.when(domain.isin(*GLOBAL_PROJECTS), "global")
        .otherwise(F.coalesce(regions[language], F.lit("other")))
        .alias("region"),
        "type",
        "namespace",
        "title",
        user.alias("user"),
        kind.alias("user_kind"),
        F.coalesce(kind.isin("ip", "temporary"), F.lit(False)).alias("is_anonymous"),
        (F.coalesce(F.col("bot"), F.lit(False)) | (kind == "bot")).alias("is_bot"),
        "comment",
        F.col("length.old").alias("length_old"),
        F.col("length.new").alias("length_new"),
        delta.alias("length_delta"),
        method.isNotNull().alias("is_revert"),
        method.alias("revert_method"),
        reverted.alias("reverted_user"),
        F.col("revision.old").alias("revision_old"),
        F.col("revision.new").alias("revision_new"),
        "log_type",
        "log_action",
    )
    return out.withColumn(
        "is_large_deletion", F.coalesce(F.col("length_delta") < LARGE_DELETION, F.lit(False))
    ).withColumn(
        "is_large_addition", F.coalesce(F.col("length_delta") > LARGE_ADDITION, F.lit(False))
    )


def counts():  # Spark columns (built once a session is active)
    return [
        F.count("*").alias("events"),
        F.sum(F.when(F.col("type") == "edit", 1).otherwise(0)).alias("edits"),
        F.countDistinct("user").alias("distinct_users"),
        F.sum(F.coalesce("length_delta", F.lit(0))).alias("bytes_net"),
        F.avg(F.col("is_bot").cast("double")).alias("bot_share"),
        F.avg(F.col("is_anonymous").cast("double")).alias("anonymous_share"),
        F.sum(F.col("is_large_deletion").cast("int")).alias("large_deletions"),
        F.sum(F.col("is_revert").cast("int")).alias("reverts"),
    ]


def gold(rows, out: str) -> dict[str, int]:
    written = {}
    hourly = rows.groupBy("domain", "event_hour", "event_date").agg(
        *counts(),
        F.sum(F.when(F.col("type") == "new", 1).otherwise(0)).alias("new_pages"),
        F.sum(F.greatest(F.coalesce("length_delta", F.lit(0)), F.lit(0))).alias("bytes_added"),
        F.sum(F.col("is_large_addition").cast("int")).alias("large_additions"),
    )
    window = F.window("event_ts", "10 minutes").start.alias("window_start")
    scopes = [
        rows.groupBy(window)
        .agg(*counts())
        .withColumn("scope", F.lit("global"))
        .withColumn("entity", F.lit("all")),
        rows.groupBy(window, F.col("domain").alias("entity"))
        .agg(*counts())
        .withColumn("scope", F.lit("entity")),
        rows.where(F.col("user").isNotNull())
        .groupBy(window, F.col("user").alias("entity"))
        .agg(*counts())
        .withColumn("scope", F.lit("user")),
    ]
    metrics = scopes[0].unionByName(scopes[1]).unionByName(scopes[2])
    reverted = (
        rows.where(F.col("reverted_user").isNotNull())
        .groupBy(F.col("reverted_user").alias("user"), "event_hour")
        .agg(F.count("*").alias("reverted"))
    )
    per_user = (
        rows.where(F.col("user").isNotNull())
        .groupBy("user", "event_hour")
        .agg(
            F.first("user_kind").alias("user_kind"),
            F.count("*").alias("events"),
            F.sum(F.when(F.col("type") == "edit", 1).otherwise(0)).alias("edits"),
            F.sum(F.col("is_large_deletion").cast("int")).alias("large_deletions"),
            F.avg(F.col("is_anonymous").cast("double")).alias("anonymous_share"),
            F.countDistinct("domain").alias("domains"),
        )
    )
    risk = per_user.join(reverted, ["user", "event_hour"], "left").fillna(0, ["reverted"])
    risk = risk.select(
        "*",
        (F.least(F.col("edits") / 30.0, F.lit(1.0)) * 25).alias("velocity_score"),
        (F.least(F.col("large_deletions") / 3.0, F.lit(1.0)) * 30).alias("deletion_score"),
        (F.col("anonymous_share") * 15).alias("anonymity_score"),
        (F.least((F.col("domains") - 1) / 4.0, F.lit(1.0)) * 10).alias("cross_domain_score"),
        (F.least(F.col("reverted") / 3.0, F.lit(1.0)) * 20).alias("reverted_score"),
    )
    risk = risk.withColumn(
        "risk_score",
        F.col("velocity_score")
        + F.col("deletion_score")
        + F.col("anonymity_score")
        + F.col("cross_domain_score")
        + F.col("reverted_score"),
    )
    risk = risk.withColumn(
        "risk_level",
        F.when(F.col("risk_score") >= 70, "HIGH")
        .when(F.col("risk_score") >= 40, "MEDIUM")
        .otherwise("LOW"),
    )
    daily = rows.groupBy("event_date").agg(*counts())
    for name, frame, partition in (
        ("hourly_stats", hourly, "event_date"),
        ("metrics_10min", metrics, None),
        ("risk_scores", risk, None),
        ("daily_summary", daily, None),
    ):
        writer = frame.write.mode("overwrite")
        if partition:
            writer = writer.partitionBy(partition)
        writer.parquet(f"{out}/gold/{name}")
        written[name] = frame.sparkSession.read.parquet(f"{out}/gold/{name}").count()
    return written


def main() -> None:
    started = time.perf_counter()
    path, out = sys.argv[1], sys.argv[2]
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("seed-design")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    ready = time.perf_counter()
    rows = silver(spark, path)
    rows.write.mode("overwrite").partitionBy("event_date", "region").parquet(f"{out}/silver")
    silver_rows = spark.read.parquet(f"{out}/silver")
    counts = {"silver": silver_rows.count()}
    silver_done = time.perf_counter()
    counts |= gold(silver_rows, out)
    spark.stop()
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "rows": counts,
                "jvm_and_session_s": round(ready - started, 2),
                "silver_s": round(silver_done - ready, 2),
                "gold_s": round(done - silver_done, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
