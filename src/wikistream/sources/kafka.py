"""`kafka://HOST:PORT/TOPIC?group=NAME`: a bronze worker's share of a topic's partitions.

Exactly-once rests on the table, never on the broker: when the group assigns partitions,
their positions (next offsets) are read from bronze's snapshot summaries and the consumer
seeks there; offsets committed to the group are only for monitoring tools. A consume call
during which the assignment changed may hold records of both assignments, so its records
are dropped and the partitions are positioned again from what the writer knows.

Without a writer bound (a replay), the source reads every partition from a start
(`earliest`, `P:OFFSET,…`, or the time `since`) to the end it finds, then ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from wikistream.exceptions import ConfigError, SourceUnavailable
from wikistream.kafka.config import client_config, kafka_module
from wikistream.kafka.offsets import end_offsets
from wikistream.kafka.spec import KafkaSpec
from wikistream.settings import KafkaSettings
from wikistream.sources.base import PartitionOwner, SourceBatch

log = logging.getLogger(__name__)

_POLL_S = 0.25
_GROUP_COMMIT_EVERY_S = 5.0  # offsets for monitoring (lag in kafka-consumer-groups)


def parse_offsets(text: str) -> dict[int, int]:
    """`0:100,1:250` -> {0: 100, 1: 250}: where each listed partition starts.

    Raises:
        ConfigError: not in that form.
    """
    offsets: dict[int, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        partition, _, offset = item.partition(":")
        if not (partition.isdigit() and offset.isdigit()):
            raise ConfigError(
                f"Kafka offsets look like 0:100,1:250 (partition:offset), got {text!r}"
            )
        offsets[int(partition)] = int(offset)
    return offsets


class KafkaSource:
    """Reads a topic as a member of a consumer group (bound to a writer) or whole (a replay)."""

    def __init__(
        self,
        spec: KafkaSpec,
        settings: KafkaSettings,
        chunk_events: int = 4096,
        since: datetime | None = None,
    ) -> None:
        self._kafka = kafka_module()
        self._spec = spec
        self._settings = settings
        self._chunk = chunk_events
        self._since = since
        self._owner: PartitionOwner | None = None
        self._closed = threading.Event()
        self._next: dict[int, int] = {}  # assigned partition -> next offset (or a logical one)
        self.epoch = 0

    @property
    def name(self) -> str:
        return self._spec.source_name

    def bind(self, owner: PartitionOwner) -> None:
        self._owner = owner

    @property
    def assigned(self) -> bool:
        return bool(self._next)

    def close(self) -> None:
        self._closed.set()

    def batches(self, start: str | None) -> Iterator[SourceBatch]:
        if self._owner is None:
            yield from self._whole(start)
        else:
            yield from self._member(self._owner)

    # -- a member of the group -------------------------------------------------------------

    def _member(self, owner: PartitionOwner) -> Iterator[SourceBatch]:
        consumer = self._consumer({"group.id": self._spec.group})

        def assigned(client: Any, partitions: list[Any]) -> None:
            labels = [str(p.partition) for p in partitions]
            stored = owner.stored(labels)
            self.epoch += 1
            starts = self._starts(
                client,
                [p.partition for p in partitions],
                {int(k): int(v) for k, v in stored.items()},
            )
            self._next = dict(starts)
            for p in partitions:
                p.offset = starts[p.partition]
            client.assign(partitions)
            log.info(
                "partitions assigned",
                extra={
                    "topic": self._spec.topic,
                    "partitions": ",".join(labels),
                    "positions": ",".join(f"{k}:{v}" for k, v in sorted(stored.items())) or "-",
                },
            )

        def revoked(client: Any, partitions: list[Any], lost: bool = False) -> None:
            self.epoch += 1
            owner.revoke(self.epoch, commit=not lost)
            self._commit_group(client, owner)
            for p in partitions:
                self._next.pop(p.partition, None)
            log.info(
                "partitions lost" if lost else "partitions revoked",
                extra={
                    "topic": self._spec.topic,
                    "partitions": ",".join(str(p.partition) for p in partitions),
                },
            )
            client.unassign()

        consumer.subscribe(
            [self._spec.topic],
            on_assign=assigned,
            on_revoke=revoked,
            on_lost=lambda c, p: revoked(c, p, lost=True),
        )
        committed_at = time.monotonic()
        try:
            while not self._closed.is_set():
                epoch = self.epoch
                messages = self._consume(consumer)
                if self.epoch != epoch:  # the assignment changed during the call
                    self._rewind(consumer)
                    yield SourceBatch([], [], [], self.epoch)  # restarts the idle clock
                    continue
                batch = self._batch(messages, epoch)
                if batch.records:
                    yield batch
                if time.monotonic() - committed_at >= _GROUP_COMMIT_EVERY_S:
                    self._commit_group(consumer, owner)
                    committed_at = time.monotonic()
        finally:
            consumer.close()  # leaves the group: `revoked` commits what was read

    def _rewind(self, consumer: Any) -> None:
        kafka = self._kafka
        for partition, offset in self._next.items():
            try:
                consumer.seek(kafka.TopicPartition(self._spec.topic, partition, offset))
            except kafka.KafkaException:  # not fetching yet: it starts at `offset` anyway
                continue

    def _commit_group(self, consumer: Any, owner: PartitionOwner) -> None:
        """Tell the group how far bronze got, for lag monitors; never read back by us."""
        kafka = self._kafka
        offsets = [
            kafka.TopicPartition(self._spec.topic, int(label), int(position))
            for label, position in dict(owner.positions).items()
            if label.isdigit() and int(label) in self._next
        ]
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=True)
        except kafka.KafkaException as exc:
            log.debug("group offsets not committed", extra={"error": str(exc)})

    # -- the whole topic (replays) ---------------------------------------------------------

    def _whole(self, start: str | None) -> Iterator[SourceBatch]:
        kafka = self._kafka
        # assign(), not subscribe(): the group only names the client; offsets are never
        # committed, so replays beside each other do not meet.
        consumer = self._consumer({"group.id": "wikistream-replay", "enable.partition.eof": True})
        try:
            partitions = self._partitions(consumer)
            given = parse_offsets(start or "")
            self._past_the_end(given)
            starts = self._starts(consumer, partitions, given)
            self._next = dict(starts)
            consumer.assign(
                [kafka.TopicPartition(self._spec.topic, p, starts[p]) for p in partitions]
            )
            ended: set[int] = set()
            while not self._closed.is_set() and len(ended) < len(partitions):
                messages = self._consume(consumer, ended)
                batch = self._batch(messages, self.epoch)
                if batch.records:
                    yield batch
        finally:
            consumer.close()

    def _past_the_end(self, given: dict[int, int]) -> None:
        """An offset past a partition's end would never be reached: say so instead of
        waiting forever (or, worse, the broker resetting it to the start)."""
        if not given:
            return
        ends = end_offsets(self._settings, self._spec.bootstrap, self._spec.topic)
        past = {p: o for p, o in given.items() if p in ends and o > ends[p]}
        unknown = sorted(p for p in given if ends and p not in ends)
        if unknown:
            raise ConfigError(
                f"topic {self._spec.topic!r} has no partition {', '.join(map(str, unknown))}"
            )
        if past:
            where = ", ".join(
                f"partition {p} ends at {ends[p]}, --from says {o}" for p, o in sorted(past.items())
            )
            raise ConfigError(f"offsets past the end of {self._spec.topic!r}: {where}")

    # -- shared ----------------------------------------------------------------------------

    def _consumer(self, overrides: dict[str, Any]) -> Any:
        config = client_config(
            self._settings,
            self._spec.bootstrap,
            **{
                "enable.auto.commit": False,
                "auto.offset.reset": self._settings.start,
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
                "partition.assignment.strategy": "range",
                **overrides,
            },
        )
        return self._kafka.Consumer(config)

    def _partitions(self, consumer: Any) -> list[int]:
        try:
            metadata = consumer.list_topics(self._spec.topic, timeout=10)
        except self._kafka.KafkaException as exc:
            raise SourceUnavailable(f"cannot reach Kafka at {self._spec.bootstrap}: {exc}") from exc
        topic = metadata.topics.get(self._spec.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise ConfigError(
                f"topic {self._spec.topic!r} does not exist on {self._spec.bootstrap}"
            )
        return sorted(topic.partitions)

    def _starts(
        self, consumer: Any, partitions: Sequence[int], stored: dict[int, int]
    ) -> dict[int, int]:
        """Each partition's first offset: the stored one, else the time `since`, else the
        configured start (earliest or latest)."""
        kafka = self._kafka
        fallback = (
            kafka.OFFSET_BEGINNING if self._settings.start == "earliest" else kafka.OFFSET_END
        )
        starts = {p: stored.get(p, fallback) for p in partitions}
        by_time = [p for p in partitions if p not in stored]
        if self._since is not None and by_time:
            millis = int(self._since.timestamp() * 1000)
            wanted = [kafka.TopicPartition(self._spec.topic, p, millis) for p in by_time]
            try:
                found = consumer.offsets_for_times(wanted, timeout=10)
            except kafka.KafkaException as exc:
                raise SourceUnavailable(f"offsets for {self._since} not found: {exc}") from exc
            for tp in found:  # -1: no message that late; read from the end
                starts[tp.partition] = tp.offset if tp.offset >= 0 else kafka.OFFSET_END
        return starts

    def _consume(self, consumer: Any, ended: set[int] | None = None) -> list[Any]:
        try:
            messages: list[Any] = consumer.consume(self._chunk, timeout=_POLL_S)
        except self._kafka.KafkaException as exc:
            raise SourceUnavailable(f"Kafka consume failed: {exc}") from exc
        kept = []
        for message in messages:
            error = message.error()
            if error is None:
                kept.append(message)
            elif error.code() == self._kafka.KafkaError._PARTITION_EOF:
                if ended is not None:
                    ended.add(message.partition())
            elif error.fatal():
                raise SourceUnavailable(f"Kafka consumer failed: {error.str()}")
            else:
                log.warning("kafka consume error", extra={"error": error.str()})
        return kept

    def _batch(self, messages: list[Any], epoch: int) -> SourceBatch:
        records: list[bytes] = []
        positions: list[str | None] = []
        partitions: list[str] = []
        expected = self._next
        for message in messages:
            partition, offset = message.partition(), message.offset()
            start = expected.get(partition)
            if start is None or (start >= 0 and offset < start):
                continue  # not ours (any more), or already read: a re-delivery after a seek
            expected[partition] = offset + 1
            records.append(message.value() or b"")
            positions.append(str(offset + 1))
            partitions.append(str(partition))
        return SourceBatch(records, positions, partitions, epoch)
