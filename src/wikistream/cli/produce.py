"""`wikistream produce`: a source, validated, into a Kafka topic (the ingest edge alone)."""

from __future__ import annotations

from typing import Any

import click

from wikistream.cli.app import Context, cli
from wikistream.cli.output import OUTPUT_OPTION, emit_json
from wikistream.pipeline.produce import ProduceSummary, supervise_produce
from wikistream.pipeline.reading import StopToken, graceful_signals
from wikistream.sinks.base import Sink
from wikistream.sources.base import Source
from wikistream.sources.registry import SPEC_HELP, open_source


@cli.command()
@click.option("--source", "spec", metavar="SPEC", help=f"{SPEC_HELP} [default: live]")
@click.option(
    "--to",
    "target",
    metavar="kafka://HOST:PORT[,HOST:PORT…]/TOPIC",
    required=True,
    help="The topic to produce to; dead letters go to TOPIC.dlq, the source "
    "position to TOPIC.positions.",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    metavar="N",
    help="Create the topic with N partitions if it does not exist.",
)
@click.option("--max-events", type=click.IntRange(min=1), help="Stop after reading N records.")
@click.option(
    "--max-seconds", type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds."
)
@click.option("--since", help="First start only: ISO-8601 time or ms epoch to start from.")
@OUTPUT_OPTION
@click.pass_obj
def produce(
    obj: Context,
    spec: str | None,
    target: str,
    partitions: int | None,
    max_events: int | None,
    max_seconds: float | None,
    since: str | None,
    output: str,
) -> None:
    """Validate a source's events and produce them to a Kafka topic.

    Each valid event is sent with its original JSON as the value, the key DOMAIN|TITLE (one
    page's events stay in order, pages spread over partitions) and its event time as the
    message time; invalid records go to TOPIC.dlq with the reason in headers; canaries and
    filtered wikis are dropped. A restart resumes from the position stored in
    TOPIC.positions; events sent twice after a crash are dropped by bronze. SIGINT/SIGTERM
    deliver what was read and exit 0. Bronze workers read the topic with
    `wikistream run --source kafka://HOST:PORT/TOPIC?group=NAME`.
    """
    from wikistream.kafka.spec import KafkaSpec  # the kafka extra, on demand
    from wikistream.sinks.kafka import KafkaSink

    overrides: dict[str, Any] = {}
    if spec or since:
        overrides["source"] = {k: v for k, v in {"spec": spec, "since": since}.items() if v}
    settings = obj.settings(**overrides)
    if settings.source.spec.startswith("kafka:"):
        raise click.UsageError("--source must be a stream or a file, not a Kafka topic")
    open_source(settings.source.spec, settings).close()  # a bad spec fails here, at once
    topic = KafkaSpec.parse(target, settings.kafka)

    def source() -> Source:
        return open_source(settings.source.spec, settings)

    def sink() -> Sink:
        return KafkaSink(topic, settings.kafka, partitions)

    stop = StopToken()
    with graceful_signals(stop):
        summary = supervise_produce(
            settings, source, sink, stop, max_events=max_events, max_seconds=max_seconds
        )
    _report(summary, output)


def _report(summary: ProduceSummary, output: str) -> None:
    data = summary.as_dict()
    if output == "json":
        emit_json(data)
        return
    filtered = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.dropped.items())) or "0"
    rows = [
        ("records read", f"{summary.read:,}"),
        ("produced", f"{summary.produced:,}  ({summary.sink})"),
        ("dead letters", f"{summary.dead_letters:,}"),
        ("filtered", filtered),
        ("checkpoints", f"{summary.checkpoints:,}"),
        ("throughput", f"{data['events_per_s']:,.0f} records/s over {summary.seconds:.1f} s"),
        ("position", f"{summary.start_position or 'start'} -> {summary.end_position or '-'}"),
        ("stopped by", summary.stopped_by),
    ]
    click.echo(f"WikiStream produce from {summary.source or '-'}")
    for label, value in rows:
        click.echo(f"  {label:<15} {value}")
