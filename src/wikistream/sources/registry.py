"""Turn a source spec (`live`, `sse:URL`, `file:PATH`, `synthetic[:RATE]`, `kafka://…`) into
a source. Kafka is imported only when a Kafka spec is used (the `kafka` extra)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from wikistream.exceptions import ConfigError
from wikistream.settings import SOURCE_KINDS, Settings
from wikistream.sources.base import Source
from wikistream.sources.file import FileSource
from wikistream.sources.sse import SseOptions, SseSource
from wikistream.sources.synthetic import SyntheticSource
from wikistream.times import iso_instant

SPEC_HELP = SOURCE_KINDS


def _sse(settings: Settings, url: str) -> Source:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"sse: needs an http(s) URL, got {url!r}")
    s = settings.source
    options = SseOptions(
        user_agent=s.user_agent,
        since=s.since,
        connect_timeout_s=s.connect_timeout_s,
        read_timeout_s=s.read_timeout_s,
        backoff_initial_s=s.backoff_initial_s,
        backoff_max_s=s.backoff_max_s,
        initial_connect_attempts=s.initial_connect_attempts,
        max_record_bytes=s.max_record_bytes,
    )
    return SseSource(url, options)


def _live(settings: Settings, argument: str) -> Source:
    if argument:
        raise ConfigError("'live' takes no argument; use sse:URL for another stream")
    return _sse(settings, settings.source.url)


def _file(settings: Settings, argument: str) -> Source:
    if not argument:
        raise ConfigError("file: needs a path, e.g. file:events.jsonl.gz")
    return FileSource(
        Path(argument),
        chunk_events=settings.source.chunk_events,
        max_record_bytes=settings.source.max_record_bytes,
    )


def _synthetic(settings: Settings, argument: str) -> Source:
    rate: float | None = None
    if argument:
        try:
            rate = float(argument)
        except ValueError:
            raise ConfigError(f"synthetic:RATE needs events per second, got {argument!r}") from None
    return SyntheticSource(
        rate=rate,
        seed=settings.synthetic.seed,
        start=settings.synthetic.start,
        chunk_events=settings.source.chunk_events,
    )


def _kafka(settings: Settings, argument: str) -> Source:
    from wikistream.kafka.spec import KafkaSpec  # the kafka extra, on demand
    from wikistream.sources.kafka import KafkaSource

    spec = KafkaSpec.parse(f"kafka:{argument}", settings.kafka)
    return KafkaSource(
        spec, settings.kafka, settings.source.chunk_events, since=_since_time(settings.source.since)
    )


def _since_time(since: str | None) -> datetime | None:
    """`source.since` (ISO-8601 or milliseconds since the epoch) as a time."""
    if since is None:
        return None
    if since.isdigit():
        return datetime.fromtimestamp(int(since) / 1000, UTC)
    moment = iso_instant(since)
    if moment is None:
        raise ConfigError(f"--since must be ISO-8601 or milliseconds since the epoch: {since!r}")
    return moment


SOURCES: dict[str, Callable[[Settings, str], Source]] = {
    "live": _live,
    "sse": _sse,
    "file": _file,
    "synthetic": _synthetic,
    "kafka": _kafka,
}


def open_source(spec: str, settings: Settings, since: str | None = None) -> Source:
    """Build the source a spec names; `since` overrides `source.since` (SSE's first start).

    Raises:
        ConfigError: the spec names no known source or its argument is invalid.
    """
    kind, _, argument = spec.partition(":")
    factory = SOURCES.get(kind)
    if factory is None:
        raise ConfigError(f"unknown source {spec!r}; expected {SPEC_HELP}")
    if since is not None:
        source_settings = settings.source.model_copy(update={"since": since})
        settings = settings.model_copy(update={"source": source_settings})
    return factory(settings, argument)
