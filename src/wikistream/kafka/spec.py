"""`kafka://HOST:PORT[,HOST:PORT…]/TOPIC[?group=NAME]`: where a topic lives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from wikistream.exceptions import ConfigError
from wikistream.settings import KafkaSettings

SPEC_HELP = "kafka://HOST:PORT[,HOST:PORT…]/TOPIC[?group=NAME]"
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}")


@dataclass(frozen=True)
class KafkaSpec:
    """A topic on a cluster, and the consumer group bronze workers share."""

    bootstrap: str
    topic: str
    group: str

    @classmethod
    def parse(cls, spec: str, settings: KafkaSettings) -> KafkaSpec:
        """Parse a spec; hosts default to `kafka.bootstrap_servers`, the group to `kafka.group`.

        Raises:
            ConfigError: the spec is malformed or names no host anywhere.
        """
        if not spec.startswith("kafka://"):
            raise ConfigError(f"a Kafka spec looks like {SPEC_HELP}, got {spec!r}")
        parts = urlsplit(spec)
        hosts = parts.netloc or (settings.bootstrap_servers or "")
        if not hosts:
            raise ConfigError(
                f"{spec!r} names no broker; use {SPEC_HELP} or set kafka.bootstrap_servers"
            )
        bad = [h for h in hosts.split(",") if not _HOST_PORT.fullmatch(h.strip())]
        if bad:
            raise ConfigError(f"broker addresses are HOST:PORT, got {', '.join(bad)!r}")
        topic = parts.path.strip("/")
        if not _TOPIC.fullmatch(topic) or topic in (".", ".."):
            raise ConfigError(
                f"{spec!r} needs a topic name of letters, digits, '.', '_', "
                f"'-' after the hosts: {SPEC_HELP}"
            )
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"group"})
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r} in {spec!r}; only group=NAME")
        group = query.get("group", [settings.group])[-1]
        if not group:
            raise ConfigError(f"group= needs a name in {spec!r}")
        return cls(bootstrap=hosts, topic=topic, group=group)

    @property
    def source_name(self) -> str:
        """Positions in bronze are keyed by topic: any group, any broker address reaches them."""
        return f"kafka:{self.topic}"
