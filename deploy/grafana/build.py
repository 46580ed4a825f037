"""Build deploy/grafana/wikistream.json with Grafana's own SDK (grafana-foundation-sdk).

    .venv/bin/python deploy/grafana/build.py          # rewrite the JSON
    .venv/bin/python deploy/grafana/build.py --check  # exit 1 if it is not what this builds

Every panel queries metrics that `wikistream serve` / `run --serve` expose at /metrics
(tests/web/test_prometheus.py runs each query against a real Prometheus scraping them).
"""

from __future__ import annotations

import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import DataSourceRef

OUTPUT = Path(__file__).with_name("wikistream.json")
SOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    built = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(SOURCE)
    return built.legend_format(legend) if legend else built


def RATE(metric: str) -> str:  # reads like PromQL
    return f"rate({metric}[$__rate_interval])"


def quantile(q: float, histogram: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) ({RATE(histogram + '_bucket')}))"


def series(
    title: str, unit: str, *targets: prometheus.Dataquery, text: str = "", width: int = 12
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).span(width).height(8).datasource(SOURCE)
    panel = panel.description(text) if text else panel
    for target in targets:
        panel = panel.with_target(target)
    return panel.min(0)


def single(title: str, unit: str, expr: str, text: str) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .unit(unit)
        .span(6)
        .height(4)
        .datasource(SOURCE)
        .description(text)
        .with_target(query(expr))
    )


def build() -> dashboard.Dashboard:
    return (
        dashboard.Dashboard("WikiStream")
        .uid("wikistream")
        .description("Ingest, layers, quality gates and alerts of a WikiStream deployment.")
        .tags(["wikistream", "iceberg", "generated"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .readonly()
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .with_row(dashboard.Row("Now"))
        .with_panel(
            single(
                "Healthy",
                "bool",
                "min(wikistream_healthy)",
                "1 when `wikistream status` would exit 0.",
            )
        )
        .with_panel(
            single(
                "bronze freshness",
                "s",
                'max(wikistream_freshness_lag_seconds{layer="bronze"})',
                "How far bronze's newest event is behind now.",
            )
        )
        .with_panel(
            single(
                "gold freshness",
                "s",
                'max(wikistream_freshness_lag_seconds{layer="gold"})',
                "How far gold's newest event is behind now.",
            )
        )
        .with_panel(
            single(
                "Held batches",
                "short",
                "sum(wikistream_gate_held_batches)",
                "Batches a quality gate holds: `wikistream dq report`.",
            )
        )
        .with_row(dashboard.Row("Ingest"))
        .with_panel(
            series(
                "Events per second",
                "ops",
                query("sum(rate(wikistream_events_read_total[$__rate_interval]))", "read"),
                query(
                    "sum(rate(wikistream_events_accepted_total[$__rate_interval]))", "accepted", "B"
                ),
                query(
                    "sum(rate(wikistream_events_quarantined_total[$__rate_interval]))",
                    "quarantined",
                    "C",
                ),
                text="What bronze read, committed, and sent to bronze.quarantine.",
            )
        )
        .with_panel(
            series(
                "Dropped on purpose, by reason",
                "ops",
                query(
                    "sum by (reason) (rate(wikistream_events_dropped_total[$__rate_interval]))",
                    "{{reason}}",
                ),
                text="Canaries, filtered domains and types, duplicates, replay windows.",
            )
        )
        .with_panel(
            series(
                "Bronze commit latency",
                "s",
                query(quantile(0.5, "wikistream_commit_seconds"), "p50"),
                query(quantile(0.95, "wikistream_commit_seconds"), "p95", "B"),
            )
        )
        .with_panel(
            series(
                "Records per commit",
                "short",
                query(
                    f"sum({RATE('wikistream_batch_events_sum')}) / "
                    f"sum({RATE('wikistream_batch_events_count')})",
                    "mean",
                ),
            )
        )
        .with_panel(
            series(
                "Kafka lag",
                "short",
                query(
                    "sum by (topic, partition) (wikistream_kafka_lag_messages)",
                    "{{topic}}[{{partition}}]",
                ),
                text="Messages in each partition not yet in bronze.",
            )
        )
        .with_panel(
            series(
                "SSE reconnects and restarts",
                "short",
                query(
                    "sum(increase(wikistream_sse_reconnects_total[$__rate_interval]))",
                    "SSE reconnects",
                ),
                query(
                    "sum by (component) (increase(wikistream_restarts_total[$__rate_interval]))",
                    "restarts {{component}}",
                    "B",
                ),
            )
        )
        .with_row(dashboard.Row("Layers and quality"))
        .with_panel(
            series(
                "Freshness lag per layer",
                "s",
                query("max by (layer) (wikistream_freshness_lag_seconds)", "{{layer}}"),
            )
        )
        .with_panel(
            series(
                "Silver and gold cycle duration (p95)",
                "s",
                query(quantile(0.95, "wikistream_cycle_seconds", "layer"), "{{layer}}"),
            )
        )
        .with_panel(
            series(
                "Failed quality checks",
                "short",
                query(
                    'sum by (table, check) (increase(wikistream_gate_checks_total{verdict="fail"}'
                    "[$__rate_interval]))",
                    "{{table}} {{check}}",
                ),
                query(
                    'sum by (table) (increase(wikistream_gate_runs_total{gate="held"}'
                    "[$__rate_interval]))",
                    "held {{table}}",
                    "B",
                ),
            )
        )
        .with_panel(
            series(
                "Alerts delivered and failed",
                "short",
                query(
                    "sum by (channel, outcome) (increase(wikistream_alerts_total"
                    "[$__rate_interval]))",
                    "{{channel}} {{outcome}}",
                ),
            )
        )
        .with_row(dashboard.Row("Tables"))
        .with_panel(
            series(
                "Rows per table",
                "short",
                query("max by (table) (wikistream_table_rows)", "{{table}}"),
            )
        )
        .with_panel(
            series(
                "Data files and small files",
                "short",
                query("max by (table) (wikistream_table_data_files)", "{{table}} files"),
                query("max by (table) (wikistream_table_small_files)", "{{table}} small", "B"),
                text="Many small files: `wikistream maintain` compacts them.",
            )
        )
    )


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv[1:]:
        if OUTPUT.read_text(encoding="utf-8") != text:
            sys.exit(f"{OUTPUT} is stale: run python deploy/grafana/build.py")
        sys.exit(0)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
