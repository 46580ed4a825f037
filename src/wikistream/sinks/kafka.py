"""`produce --to kafka://HOST:PORT/TOPIC`: events to a topic, dead letters to TOPIC.dlq, and
the producer's source position to the compacted single-partition topic TOPIC.positions.

The producer is idempotent (`enable.idempotence`, `acks=all`), so librdkafka's own retries
never duplicate or reorder a partition. (Kafka transactions would make a crash resend
nothing; Tansu, the broker the tests run, accepts them but shows aborted records to
read_committed consumers, so exactly-once is kept downstream instead: bronze drops event
ids it holds, and dead letters are keyed by their identity.)

A checkpoint flushes, checks every delivery report, and only then writes the position: a
crash between checkpoints resends what came after the last one, never skips.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from wikistream.exceptions import ConfigError, SourceUnavailable
from wikistream.kafka.config import client_config, kafka_module
from wikistream.kafka.spec import KafkaSpec
from wikistream.settings import KafkaSettings

log = logging.getLogger(__name__)

_FLUSH_TIMEOUT_S = 60.0
_READ_TIMEOUT_S = 30.0


class KafkaSink:
    """An idempotent producer to a topic and its dead-letter and positions topics."""

    def __init__(self, spec: KafkaSpec, settings: KafkaSettings, partitions: int | None = None):
        self._kafka = kafka_module()
        self._spec = spec
        self._settings = settings
        self.dlq_topic = spec.topic + settings.dlq_suffix
        self.positions_topic = spec.topic + settings.positions_suffix
        self._ensure_topics(partitions)
        self._producer = self._kafka.Producer(
            client_config(
                settings,
                spec.bootstrap,
                **{
                    "enable.idempotence": True,
                    "acks": "all",
                    "compression.type": "zstd",
                    "linger.ms": 20,
                    "message.timeout.ms": 120_000,
                },
            )
        )
        self._failures: list[str] = []
        self._lock = threading.Lock()
        self.sent = 0
        self.dead_letters = 0

    @property
    def name(self) -> str:
        return f"kafka://{self._spec.bootstrap}/{self._spec.topic}"

    def send(self, value: bytes, key: bytes, timestamp_ms: int, event_id: str) -> None:
        self._produce(
            self._spec.topic, value, key, timestamp_ms, [("wikistream.event_id", event_id.encode())]
        )
        self.sent += 1

    def dead(self, value: bytes, reason: str, detail: str, position: str, identity: str) -> None:
        # Keyed by identity: a resend after a crash has the same key, and compaction of the
        # dead-letter topic keeps one copy.
        headers = [
            ("wikistream.reason", reason.encode()),
            ("wikistream.detail", detail.encode("utf-8", "replace")[:1000]),
            ("wikistream.position", position.encode()),
        ]
        self._produce(self.dlq_topic, value, identity.encode(), None, headers)
        self.dead_letters += 1

    def checkpoint(self, source: str, position: str) -> None:
        self._flush()
        self._produce(self.positions_topic, position.encode(), source.encode(), None, [])
        self._flush()

    def stored_position(self, source: str) -> str | None:
        """The last position of `source` in the positions topic, read to its end."""
        kafka = self._kafka
        consumer = kafka.Consumer(
            client_config(
                self._settings,
                self._spec.bootstrap,
                **{
                    "group.id": "wikistream-produce-positions",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                },
            )
        )
        found: str | None = None
        wanted = source.encode()
        try:
            consumer.assign([kafka.TopicPartition(self.positions_topic, 0, kafka.OFFSET_BEGINNING)])
            while True:
                message = consumer.poll(_READ_TIMEOUT_S)
                if message is None:
                    raise SourceUnavailable(
                        f"no answer reading {self.positions_topic} from {self._spec.bootstrap}"
                    )
                error = message.error()
                if error is not None:
                    if error.code() == kafka.KafkaError._PARTITION_EOF:
                        return found
                    raise SourceUnavailable(f"reading {self.positions_topic}: {error.str()}")
                if message.key() == wanted and message.value() is not None:
                    found = message.value().decode()
        finally:
            consumer.close()

    def close(self) -> None:
        self._flush()

    def _produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        timestamp_ms: int | None,
        headers: list[tuple[str, bytes]],
    ) -> None:
        extra: dict[str, Any] = {} if timestamp_ms is None else {"timestamp": timestamp_ms}
        while True:
            try:
                self._producer.produce(
                    topic, value, key, headers=headers, on_delivery=self._delivered, **extra
                )
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.1)

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None:
            with self._lock:
                self._failures.append(f"{message.topic()}: {error.str()}")

    def _flush(self) -> None:
        left = self._producer.flush(_FLUSH_TIMEOUT_S)
        with self._lock:
            failures, self._failures = self._failures, []
        if left or failures:
            detail = failures[0] if failures else f"{left} messages still queued"
            raise SourceUnavailable(
                f"Kafka at {self._spec.bootstrap} did not take every message "
                f"({len(failures)} failed, {left} queued; first: {detail}); the position "
                "was not stored, so a restart sends them again"
            )

    def _ensure_topics(self, partitions: int | None) -> None:
        """The dead-letter and positions topics are ours: created when missing. The event
        topic is created only when `partitions` is given."""
        kafka = self._kafka
        # NewTopic is public in confluent_kafka.admin, re-exported from its C module.
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient(client_config(self._settings, self._spec.bootstrap))
        try:
            existing = set(admin.list_topics(timeout=10).topics)
        except kafka.KafkaException as exc:
            raise SourceUnavailable(f"cannot reach Kafka at {self._spec.bootstrap}: {exc}") from exc
        wanted = []
        if self._spec.topic not in existing:
            if partitions is None:
                raise ConfigError(
                    f"topic {self._spec.topic!r} does not exist on {self._spec.bootstrap}; "
                    "create it, or pass --partitions N to have produce create it"
                )
            wanted.append(NewTopic(self._spec.topic, num_partitions=partitions))
        if self.dlq_topic not in existing:
            wanted.append(
                NewTopic(
                    self.dlq_topic, num_partitions=1, config={"cleanup.policy": "compact,delete"}
                )
            )
        if self.positions_topic not in existing:
            wanted.append(
                NewTopic(
                    self.positions_topic, num_partitions=1, config={"cleanup.policy": "compact"}
                )
            )
        for topic, future in admin.create_topics(wanted).items() if wanted else []:
            try:
                future.result(timeout=30)
            except kafka.KafkaException as exc:
                if exc.args[0].code() != kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                    raise SourceUnavailable(f"cannot create topic {topic}: {exc}") from exc
            log.info("created topic", extra={"topic": topic})
